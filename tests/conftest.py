"""Shared fixtures: offline environment, test doubles, profile files, shared data, the demo run."""

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import yaml

import tests.mock_model  # noqa: F401  (registers the `prefbench-mock` provider in this process)
from tests.plugins import install_distribution

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def test_doubles_in_child_processes(tmp_path_factory: pytest.TempPathFactory):
    """Child processes (`prefbench` run as a command) find the `prefbench-mock` provider too.

    The scripted model is a test double, not part of the wheel: a throwaway distribution on
    the children's `PYTHONPATH` names `tests.mock_model` under inspect's entry points, which
    inspect imports before it makes a model. The folder holds a link to `tests/` only (not
    the checkout, whose `prefbench/` would shadow the installed package).
    """
    site = tmp_path_factory.mktemp("test-doubles")
    install_distribution(site, "prefbench-test-doubles", {"inspect_ai": "tests.mock_model"})
    (site / "tests").symlink_to(REPO / "tests", target_is_directory=True)
    path = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(path))
        yield


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data` of the developers' checkout; skipped on a user's machine."""
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} is absent (it exists only beside the developers' checkout)")
    return SHARED_DATA


@pytest.fixture
def write_profile(tmp_path: Path):
    """Write a profile dict as YAML and return its path."""

    def write(profile: dict, name: str = "profile.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(profile), encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True)
def isolated_inspect_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own inspect model-call cache (its key leaves out model args)."""
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "inspect-cache"))


DEMO_SYSTEMS = [
    "small_zero_shot",
    "large_zero_shot",
    "few_shot",
    "naive_finetune",
    "preference_agent",
    "no_baseline_agent",
]
"""prefbench's six systems, in the order of the demo profile."""


def tiny_demo_profile() -> dict:
    """The demo profile at reduced size: 2 personas × 4 emails, one LoRA step, short texts."""
    return {
        "name": "tiny-demo",
        "dataset": {"kind": "demo", "personas": 2, "records_per_persona": 4, "test_fraction": 0.25},
        "roles": {"small": {"model": "offline/smollm2"}, "large": {"model": "offline/smollm2"}},
        "systems": list(DEMO_SYSTEMS),
        "reference_system": "preference_agent",
        "judge": {"kind": "similarity", "multi_candidate": True},
        "metrics": {"personalization_system": "preference_agent"},
        "generation": {
            "max_tokens": 24,
            "rules_max_tokens": 16,
            "intent_max_tokens": 16,
            "few_shot_k": 1,
        },
        "training": {"rank": 4, "alpha": 8, "max_steps": 1, "batch_size": 2, "max_seq_len": 256},
    }


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The tiny demo run on the real offline models, every stage finished, and its report.

    Run once per test session (several minutes on two cores). Tests may add to it (the
    demo integration tests do, in order); `pristine_demo_run` is a copy taken before any.
    """
    from prefbench.harness.pipeline import run_benchmark
    from tests.helpers import scripted_run

    root = tmp_path_factory.mktemp("demo")
    run_dir = root / "run"
    report = run_benchmark(scripted_run(run_dir, tiny_demo_profile()))
    shutil.copytree(run_dir, root / "pristine", symlinks=True)  # adapters are links
    return run_dir, report


@pytest.fixture(scope="session")
def pristine_demo_run(finished_run: tuple[Path, dict]) -> Path:
    """The finished tiny demo run as it was before any test changed it: copy it, never change it."""
    return finished_run[0].parent / "pristine"


@pytest.fixture
def answers_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scripted small and large models answer each prompt with text of their own.

    As a real model's, an answer depends on the model (adapters included) and the prompt, so
    the real run's cache hits only where a plan's do; the judge keeps its scripted reply.
    """
    from inspect_ai.model import get_model

    api_class = type(get_model("prefbench-mock/probe", memoize=False).api)
    scripted = api_class.generate

    async def generate(self, input, tools, tool_choice, config):
        output = await scripted(self, input, tools, tool_choice, config)
        if self.model_name != "judge":
            prompt = "\n".join(message.text for message in input) + str(config.temperature)
            digest = hashlib.sha256(f"{self.model_name}\0{prompt}".encode()).hexdigest()
            output.completion = f"{output.completion} {digest[:16]}"
            output.choices[0].message.content = output.completion
        return output

    monkeypatch.setattr(api_class, "generate", generate)
