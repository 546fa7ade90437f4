"""GPU-hours: the dry run's forecast per stage and the measured GPU-hours count a server for
the whole time it is held (from the stage that starts it to the end of the run)."""

from pathlib import Path

import pytest

from prefbench.harness.cost.forecast import device_hours
from prefbench.harness.cost.gpu_forecast import (
    HOSTED_OUTPUT_TOKENS_PER_SECOND,
    gpu_forecast,
    model_billions,
)
from prefbench.harness.cost.plan import PlanRow
from prefbench.harness.profile import ModelSpec, parse_profile
from prefbench.harness.progress import StageProgress
from prefbench.harness.serving.models import ModelPool
from tests.helpers import scripted_profile

STAGES = ["records", "build", "generation", "similarity", "pairwise_judge", "report"]


def paper_like(**throughput) -> object:
    """Small 8B on GPU 1, large 70B on GPUs 4-7 (vLLM), a hosted judge; adapters trained."""
    profile = scripted_profile(systems=["small_zero_shot", "naive_finetune"])
    profile["reference_system"] = "naive_finetune"
    profile["roles"] = {
        "small": {"model": "vllm/meta-llama/Meta-Llama-3-8B-Instruct", "devices": [1]},
        "large": {"model": "vllm/meta-llama/Meta-Llama-3-70B-Instruct", "devices": [4, 5, 6, 7]},
        "judge": {"model": "openai/gpt-4o"},
    }
    if throughput:
        profile["throughput"] = throughput
    return parse_profile(profile, Path("<test profile>"))


def row(stage: str, role: str | None, output: int = 0, inputs: int = 0, **extra) -> PlanRow:
    return PlanRow(
        stage=stage,
        job=stage,
        role=role,
        calls=1 if role else 0,
        input_tokens=inputs,
        output_tokens=output,
        pipeline_stage=stage,
        **extra,
    )


def test_servers_count_from_their_first_stage_to_the_end() -> None:
    profile = paper_like()
    rows = [
        row("records", "large", output=122_000, inputs=1_220_000),
        row("build", "large", output=12_200),
        PlanRow(
            "build",
            "a: adapters",
            role="small",
            training_jobs=2,
            training_steps=100,
            pipeline_stage="build",
        ),
        row("generation", "small", output=1_220_000),
        row("generation", "large", output=122_000),
        row("pairwise_judge", "judge", output=2_000_000, retry_output_tokens=2_000_000),
    ]
    by_stage = {forecast.stage: forecast for forecast in gpu_forecast(rows, profile, STAGES)}
    large_rate = 1220 * 8 / 70 * 4  # output tokens/s of the 70B over its 4 GPUs
    records = by_stage["records"]
    assert records.gpus == 4 and records.held == ("large",)  # only the large server is up yet
    assert records.seconds == pytest.approx(122_000 / large_rate + 1_220_000 / (10 * large_rate))
    build = by_stage["build"]
    assert build.gpus == 5 and set(build.held) == {"large", "training"}  # + training's GPU 0
    assert build.seconds == pytest.approx(12_200 / large_rate + 100 * 1.17)
    generation = by_stage["generation"]
    assert generation.gpus == 5  # the small server starts; training's GPU is free again
    assert generation.seconds == pytest.approx(1_220_000 / 1220 + 122_000 / large_rate)
    assert by_stage["similarity"].gpus == 5 and by_stage["similarity"].gpu_hours == 0
    judge = by_stage["pairwise_judge"]
    assert judge.gpus == 5  # both servers are held while the hosted judge works
    assert judge.seconds == pytest.approx(4_000_000 / HOSTED_OUTPUT_TOKENS_PER_SECOND)
    assert judge.gpu_hours == pytest.approx(judge.seconds * 5 / 3600)


def test_the_throughput_assumption_is_a_profile_setting() -> None:
    rows = [row("generation", "small", output=1_000_000)]
    default = gpu_forecast(rows, paper_like(), ["generation"])[0]
    faster = gpu_forecast(rows, paper_like(output_tokens_per_second=2440), ["generation"])[0]
    assert faster.seconds == pytest.approx(default.seconds / 2)
    stated = paper_like(model_billions={"small": 16})
    assert model_billions(stated, "small") == 16
    assert gpu_forecast(rows, stated, ["generation"])[0].seconds == pytest.approx(
        2 * default.seconds
    )


def test_model_sizes_are_read_from_names() -> None:
    profile = paper_like()
    assert model_billions(profile, "small") == 8 and model_billions(profile, "large") == 70
    assert model_billions(profile, "judge") is None
    cpu_only = parse_profile(scripted_profile(), Path("<test profile>"))  # no role owns a GPU
    assert gpu_forecast([row("generation", "small", output=10)], cpu_only, ["generation"]) == []


def test_measured_gpu_hours_count_every_server_held(tmp_path: Path) -> None:
    profile = paper_like()
    pool = ModelPool(profile)
    served = ModelSpec(model="vllm/big", model_args={"devices": "4,5,6,7"})
    pool._by_spec[served.model_dump_json()] = object()  # type: ignore[assignment]  # a server up
    assert pool.held_devices() == {4, 5, 6, 7}
    local = {"kinds": [], "roles": [], "input_tokens": 0, "output_tokens": 0}
    forecast = {"by_stage": {"similarity": local}}
    progress = StageProgress(tmp_path, profile, ["similarity"], forecast, lambda line: None)
    progress.stage_started(0)
    progress.stage_ended(0, pool.held_devices())
    rows = {entry["stage"]: entry for entry in device_hours(tmp_path, profile)}
    assert rows["similarity"]["gpus"] == 4  # no role of its own, yet the server holds 4 GPUs
    again = StageProgress(tmp_path, profile, ["similarity"], forecast, lambda line: None)
    again.stage_started(0)
    again.stage_ended(0, set())
    assert device_hours(tmp_path, profile)[0]["gpus"] == 0  # nothing held, nothing counted
