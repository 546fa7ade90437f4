"""Adapters load on a vLLM server whatever the order of first calls; servers start once a run.

inspect's `vllm/` provider runs a stand-in `vllm` command (`tests/stand_in_vllm.py`) that,
like vLLM, has no `/v1/load_lora_adapter` unless `VLLM_ALLOW_RUNTIME_LORA_UPDATING` is in its
environment, refuses adapters without `--enable-lora` or above `--max-lora-rank`, and exits
at start for a rank vLLM does not accept. The profiles are a user's own: no `enable_lora`,
no `max_lora_rank`, and a trained rank (24) that is not one of vLLM's (served as 32).
Adapters are placeholders with a rank (no training); every call goes over loopback HTTP.
"""

import io
import json
import os
from pathlib import Path

import pytest
from rich.console import Console

import prefbench.harness.pipeline as pipeline
from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.pipeline import build_systems, generate, prepare_records, run_datasets
from prefbench.harness.profile import parse_profile
from prefbench.harness.serving.lora_slots import (
    RUNTIME_LORA_VARIABLE,
    lora_width,
    plan_lora_slots,
    vllm_lora_rank,
)
from prefbench.harness.serving.models import ModelPool, lora_plan_lines
from prefbench.solvers.training.lora import TrainingResult
from tests.helpers import scripted_profile, scripted_run
from tests.openai_test_server import read_recorded
from tests.stand_in_vllm import LOG_VARIABLE, REQUESTS_VARIABLE, install_stand_in

RANK = 24
SERVED_RANK = 32
LLAMA_3_8B = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "num_hidden_layers": 32,
    "torch_dtype": "bfloat16",
}
TINY = {**LLAMA_3_8B, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}


class PlaceholderTrainer:
    """Writes an adapter folder whose config states the settings' rank (no training)."""

    def __call__(self, base_model_dir, examples, settings, adapter_dir, on_step=None, **_):
        Path(adapter_dir).mkdir(parents=True, exist_ok=True)
        config = {"r": settings.rank, "lora_alpha": settings.alpha, "peft_type": "LORA"}
        (Path(adapter_dir) / "adapter_config.json").write_text(json.dumps(config))
        return TrainingResult(losses=[1.0], steps=1, seconds=0.0, trainable_parameters=0)


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in `vllm` on PATH and importable; the folder of its logs."""
    folder = tmp_path / "stand-in"
    install_stand_in(folder)
    monkeypatch.setenv("PATH", f"{folder / 'bin'}:{os.environ['PATH']}")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv(LOG_VARIABLE, str(folder / "starts.jsonl"))
    monkeypatch.setenv(REQUESTS_VARIABLE, str(folder / "requests.jsonl"))
    monkeypatch.delenv(RUNTIME_LORA_VARIABLE, raising=False)
    monkeypatch.delenv("VLLM_BASE_URL", raising=False)
    return folder


def weights(tmp_path: Path, name: str) -> Path:
    """A model folder with a config (all a `vllm/` role's weights need here)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY))
    return folder


def served_role(folder: Path) -> dict:
    """A `vllm/` role started by inspect, as a user writes it: no LoRA settings."""
    return {
        "model": f"vllm/{folder}",
        "weights": str(folder),
        "startup_timeout": 60,
        "model_args": {"host": "127.0.0.1"},
    }


def lora_profile(tmp_path: Path, both_roles: bool = False) -> dict:
    small = weights(tmp_path, "small-weights")
    profile = scripted_profile()
    profile["roles"]["small"] = served_role(small)
    if both_roles:  # one model as small and large (its server starts in the intents stage)
        profile["roles"]["large"] = served_role(small)
    profile["systems"] = ["small_zero_shot", "naive_finetune"]
    profile["reference_system"] = "naive_finetune"
    profile["training"] = {"rank": RANK, "alpha": RANK}
    return profile


def starts(folder: Path) -> list[dict]:
    log = folder / "starts.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def check_adapter_server(stand_in: Path, run_dir: Path, users: int) -> None:
    """One start of the small server with LoRA on; every adapter answered by its absolute path."""
    [start] = [s for s in starts(stand_in) if "small-weights" in s["argv"][1]]
    argv = start["argv"]
    assert start["runtime_lora_updating"] == "True"
    assert "--enable-lora" in argv
    assert flag(argv, "--max-lora-rank") == str(SERVED_RANK)
    assert flag(argv, "--max-loras") == flag(argv, "--max-cpu-loras") == str(users)
    adapters = {str(path.resolve()) for path in run_dir.glob("artifacts/*/*/adapter")}
    assert len(adapters) == users
    asked = {request.model for request in read_recorded(stand_in / "requests.jsonl")}
    assert adapters <= asked
    assert all(Path(name).is_absolute() for name in asked if name.endswith("adapter"))


def test_base_model_first_then_adapters(tmp_path, stand_in):
    context = scripted_run(tmp_path / "run", lora_profile(tmp_path))
    context.adapter_trainer = PlaceholderTrainer()
    records = prepare_records(context)
    try:
        generate(context, records, only="small_zero_shot")  # starts the server, no adapter yet
        build_systems(context, records)
        logs = generate(context, records, only="naive_finetune")
    finally:
        context.runner.close()
    assert logs["naive_finetune"].read().status == "success"
    check_adapter_server(stand_in, tmp_path / "run", users=2)


def test_adapters_first_then_base_model(tmp_path, stand_in):
    context = scripted_run(tmp_path / "run", lora_profile(tmp_path))
    context.adapter_trainer = PlaceholderTrainer()
    records = prepare_records(context)
    try:
        build_systems(context, records)
        generate(context, records, only="naive_finetune")  # an adapter's call starts it
        logs = generate(context, records, only="small_zero_shot")
    finally:
        context.runner.close()
    assert logs["small_zero_shot"].read().status == "success"
    check_adapter_server(stand_in, tmp_path / "run", users=2)


def test_one_model_as_small_and_large_starts_in_the_intents_stage(tmp_path, stand_in):
    context = scripted_run(tmp_path / "run", lora_profile(tmp_path, both_roles=True))
    context.adapter_trainer = PlaceholderTrainer()
    try:
        records = prepare_records(context)  # the intents stage starts the shared server
        assert len(starts(stand_in)) == 1
        build_systems(context, records)
        logs = generate(context, records)
    finally:
        context.runner.close()
    assert {log.read().status for log in logs.values()} == {"success"}
    check_adapter_server(stand_in, tmp_path / "run", users=2)
    assert RUNTIME_LORA_VARIABLE not in os.environ  # the pool unset it again


def test_servers_start_once_for_all_datasets(tmp_path, stand_in, monkeypatch):
    profile = lora_profile(tmp_path)
    profile["roles"]["large"] = served_role(weights(tmp_path, "large-weights"))
    profile.pop("dataset")
    profile["datasets"] = {
        "first": {"kind": "demo", "personas": 2, "records_per_persona": 5},
        "second": {"kind": "demo", "personas": 3, "records_per_persona": 5},
    }
    profile["metrics"] = {"text_metrics": False}
    parsed = parse_profile(profile, Path("<test profile>"))
    real_open_run = pipeline.open_run

    def open_with_placeholder_adapters(*args, **kwargs):
        context = real_open_run(*args, **kwargs)
        context.adapter_trainer = PlaceholderTrainer()
        return context

    monkeypatch.setattr(pipeline, "open_run", open_with_placeholder_adapters)
    outcome = run_datasets(tmp_path / "run", parsed, Console(file=io.StringIO()), display="none")
    assert len(outcome.report.datasets or []) == 2
    bases = sorted(start["argv"][1] for start in starts(stand_in))
    assert bases == sorted([str(tmp_path / "small-weights"), str(tmp_path / "large-weights")])
    [small] = [s for s in starts(stand_in) if "small-weights" in s["argv"][1]]
    # slots for the larger dataset's users (3), one adapter system
    assert flag(small["argv"], "--max-loras") == "3"


def test_lora_ranks_round_up_to_what_vllm_serves():
    assert [vllm_lora_rank(r) for r in (1, 2, 8, 9, 24, 256, 300, 512)] == [
        1,
        8,
        8,
        16,
        32,
        256,
        320,
        512,
    ]
    with pytest.raises(PrefbenchInputError, match="512"):
        vllm_lora_rank(513)


def test_slots_hold_one_evals_adapters_within_the_gpu_budget():
    # Llama-3-8B: 671 M LoRA parameters at r = 256 (1.25 GiB in bf16 per slot)
    assert lora_width(LLAMA_3_8B) * 256 == 671_088_640
    paper = plan_lora_slots(rank=256, adapters=15 * 5, model_config=LLAMA_3_8B)
    assert paper.max_cpu_loras == 75  # every adapter of the eval stays in CPU memory
    assert paper.max_loras == 12  # 12 × 1.25 GiB within the 16 GiB budget, not 75 × 1.25
    assert paper.gpu_bytes == 12 * 671_088_640 * 2
    assert "75 adapters" in paper.describe() and "15.0 GiB of GPU memory" in paper.describe()
    small = plan_lora_slots(rank=8, adapters=30, model_config=LLAMA_3_8B)
    assert (small.max_loras, small.max_cpu_loras) == (30, 30)
    unknown = plan_lora_slots(rank=16, adapters=100, model_config=None)
    assert (unknown.max_loras, unknown.max_cpu_loras) == (8, 100)
    assert "unknown" in unknown.describe()
    given = plan_lora_slots(rank=256, adapters=75, model_config=None, given={"max_loras": 4})
    assert (given.max_loras, given.max_cpu_loras) == (4, 75)
    low = plan_lora_slots(rank=256, adapters=2, model_config=None, given={"max_lora_rank": 16})
    assert low.max_lora_rank == 256  # raised to hold the trained adapters


def test_every_role_on_the_adapter_server_gets_the_same_lora_settings(tmp_path):
    profile = parse_profile(lora_profile(tmp_path, both_roles=True), Path("<test>"))
    pool = ModelPool(profile, adapter_users=lambda: 15)
    try:
        models = pool.role_models(("small", "large"))  # nothing starts before a call
        assert models["small"] is models["large"]
        args = models["small"].model_args
    finally:
        pool.close()
    assert args["enable_lora"] is True
    assert args["max_lora_rank"] == SERVED_RANK
    assert args["max_loras"] == args["max_cpu_loras"] == 15  # 15 users × 1 adapter system


def test_the_dry_run_states_the_adapter_servers_slots_and_memory(tmp_path):
    raw = lora_profile(tmp_path)
    raw["systems"] = ["small_zero_shot", "naive_finetune", "preference_agent"]
    (tmp_path / "small-weights" / "config.json").write_text(json.dumps(LLAMA_3_8B))
    raw["training"] = {"rank": 256, "alpha": 256}
    [line] = lora_plan_lines(parse_profile(raw, Path("<test>")), users=15)
    assert "30 adapters in one eval (r = 256)" in line
    assert "--max-lora-rank 256 --max-loras 12 --max-cpu-loras 30" in line
    assert "15.0 GiB of GPU memory, 37.5 GiB of CPU memory" in line
    raw["roles"]["small"] = {"model": "prefbench-mock/small"}
    assert lora_plan_lines(parse_profile(raw, Path("<test>")), users=15) == []
