"""The paper profile loads, validates and dry-runs on a machine with no GPU.

The dry run checks every input the run needs first: without the API key and the 8B weights it
lists both (exit 2) and plans nothing; with them (the weights in the Hugging Face cache) it
prints the plan, the GPU-hours forecast and the GPU plan.
"""

from pathlib import Path

import pytest

from prefbench.harness.profile import load_profile, parse_profile
from prefbench.harness.stages.records import profile_records
from prefbench.tasks.records import write_records
from tests.helpers import run_cli, scripted_profile

PAPER_RECORDS = (Path("data/enron/records.jsonl"), Path("data/new_yorker/records.jsonl"))
"""Where the paper profile reads its two datasets' records (relative to the working folder)."""


@pytest.fixture
def paper_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder holding demo records where the paper profile expects its datasets'."""
    demo = parse_profile(
        scripted_profile(dataset={"kind": "demo", "personas": 2, "records_per_persona": 4}),
        Path("<demo>"),
    )
    for records_file in PAPER_RECORDS:
        (tmp_path / records_file).parent.mkdir(parents=True)
        write_records(tmp_path / records_file, profile_records(demo))
    monkeypatch.chdir(tmp_path)
    for variable in ("OPENAI_API_KEY", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def test_paper_profile_places_every_role_on_one_8_gpu_node():
    profile, _ = load_profile("paper")
    owned = [device for spec in profile.roles.values() for device in spec.devices or []]
    assert len(owned) == len(set(owned)) and set(owned) <= set(range(1, 8))
    assert profile.roles["judge"].api_key_env == "OPENAI_API_KEY"
    assert profile.roles["small"].model_args["enable_lora"] is True


SMALL = "meta-llama/Meta-Llama-3-8B-Instruct"


def test_paper_profile_dry_run_names_the_missing_key_and_weights(monkeypatch, capsys, paper_folder):
    code, output = run_cli(monkeypatch, capsys, "run", "--profile", "paper", "--dry-run")
    flat = " ".join(output.split())
    assert code == 2, output
    assert "2 problem(s)" in flat
    assert "$OPENAI_API_KEY (api_key_env), which is not set" in flat
    assert f"huggingface-cli download {SMALL}" in flat
    assert "total: " not in flat  # nothing was planned


@pytest.fixture
def weights_in_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The 8B model's snapshot in a Hugging Face cache (its config only: nothing loads it)."""
    import huggingface_hub.constants

    cache = tmp_path / "hf-cache"
    repo = cache / f"models--{SMALL.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))


def test_paper_profile_dry_runs_with_no_gpu(monkeypatch, capsys, paper_folder, weights_in_cache):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-printed")
    code, output = run_cli(monkeypatch, capsys, "run", "--profile", "paper", "--dry-run")
    assert code == 0, output
    flat = " ".join(output.split())
    assert "sk-test-not-printed" not in flat
    assert "this machine shows no GPU" in flat  # a note: GPUs are checked where they are
    assert "GPU plan" in flat
    assert "GPU 0: adapter training" in flat
    assert f"GPU 1: role small: vllm/{SMALL}" in flat
    for device in (4, 5, 6, 7):
        assert f"GPU {device}: role large: vllm/meta-llama/Meta-Llama-3-70B-Instruct" in flat
    assert "dataset enron" in flat and "dataset new_yorker" in flat
    assert "total: " in flat and "adapters to train" in flat and "$" in flat
    assert "GPU-hours forecast" in flat
    assert sorted(item.name for item in paper_folder.iterdir()) == ["data", "hf-cache"], (
        "it wrote files"
    )
