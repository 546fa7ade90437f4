"""The cost ceiling (`prefbench run --max-cost`), the forecast kept in the run folder, and
the progress, stage timings and GPU-hours of a run.

Against the local OpenAI-compatible test server: the ceiling stops the run before its judge
stage (exit 3, what was spent and what is left in `ceiling_stop.json`), and a run with a
higher ceiling finishes it without asking the server anything it had answered.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.harness.cost.dry_run import plan_run
from prefbench.harness.cost.forecast import (
    add_device_seconds,
    device_hours,
    forecast_comparison,
    record_stage_seconds,
)
from prefbench.harness.cost.guard import CEILING_EXIT_CODE
from prefbench.harness.profile import PROFILES_DIR, parse_profile
from prefbench.harness.progress import StageProgress, clock
from prefbench.harness.report.file import read_report
from prefbench.harness.stages.records import profile_records
from tests.helpers import run_cli, scripted_profile
from tests.openai_test_server import OpenAITestServer, RecordedRequest, read_recorded
from tests.test_endpoints import KEY_VARIABLE, PREFBENCH, endpoint_profile

TEST_PRICES = {"input_per_million": 1.0, "output_per_million": 2.0}
"""A made-up price for models that cost nothing, to exercise the ceiling."""
ENDPOINT_PRICES = {
    "openai-api/testserver/large-model": {"input_per_million": 0.01, "output_per_million": 0.01},
    "openai/gpt-4o": {"input_per_million": 50.0, "output_per_million": 100.0},
}


@pytest.fixture(autouse=True)
def server_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "test-key")


def write_profile(tmp_path: Path, profile: dict) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    return path


def prefbench_run(profile: Path, out: Path, max_cost: float) -> tuple[int, str]:
    """`prefbench run` in a subprocess; its exit code and output (words on one line)."""
    args = ["run", "--profile", str(profile), "--out", str(out), "--display", "none"]
    done = subprocess.run(
        [*PREFBENCH, *args, "--max-cost", f"{max_cost:.6f}"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "250"},
    )
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def test_forecast_above_the_ceiling_refuses_to_start_the_demo(tmp_path: Path) -> None:
    demo = yaml.safe_load((PROFILES_DIR / "demo.yaml").read_text(encoding="utf-8"))
    demo["prices"] = {"offline/smollm2": TEST_PRICES}
    path = write_profile(tmp_path, demo)
    out = tmp_path / "run"
    code, output = prefbench_run(path, out, 0.001)
    assert code == 2, output
    assert "above the cost ceiling of $0.0010" in output, output
    forecast = json.loads((out / "forecast.json").read_text())
    assert forecast["usd"] > 0.001
    assert f"${forecast['usd']:,.2f}" in output or f"${forecast['usd']:,.4f}" in output
    assert not (out / "logs").exists(), "a stage ran although the forecast is above the ceiling"


def identity(request: RecordedRequest) -> str:
    return json.dumps([request.model, request.temperature, request.seed, request.messages])


def is_judge(request: RecordedRequest) -> bool:
    return "impartial evaluator" in request.system.lower()


def test_ceiling_stops_before_the_judge_and_a_higher_one_resumes_without_repeats(
    tmp_path: Path,
) -> None:
    record = tmp_path / "requests.jsonl"
    with OpenAITestServer(record_file=record) as server:
        profile = endpoint_profile(server.base_url, prices=ENDPOINT_PRICES)
        parsed = parse_profile(profile, Path("<test profile>"))
        plan = plan_run(parsed, profile_records(parsed))
        assert plan.usd is not None and plan.retry_usd
        judge_bound = sum(
            (row.usd or 0) + (row.retry_usd or 0)
            for row in plan.rows
            if row.pipeline_stage == "pairwise_judge"
        )
        assert judge_bound > plan.usd, "the judge's retry bound puts it above the expected total"
        path = write_profile(tmp_path, profile)
        out = tmp_path / "run"

        # the expected total fits, the judge stage's worst case does not: stopped before it
        code, output = prefbench_run(path, out, plan.usd + 1e-6)
        assert code == CEILING_EXIT_CODE, output
        assert "stage pairwise_judge could spend up to" in output, output
        stop = json.loads((out / "ceiling_stop.json").read_text())
        assert stop["stopped_before"] == "pairwise_judge"
        assert stop["spent_usd"] <= stop["ceiling_usd"]
        assert stop["left_usd_by_stage"]["pairwise_judge"] == pytest.approx(judge_bound)
        first = read_recorded(record)
        assert first and not any(is_judge(request) for request in first)
        assert not (out / "report.json").exists()

        # a higher ceiling: the judge runs, nothing answered before is asked again
        ceiling = plan.usd + plan.retry_usd + 1.0
        code, output = prefbench_run(path, out, ceiling)
        assert code == 0, output
        second = read_recorded(record)[len(first) :]
        assert second and all(is_judge(request) for request in second)
        assert not {identity(r) for r in first} & {identity(r) for r in second}
        assert not (out / "ceiling_stop.json").exists()
        assert "stage 6/8 pairwise_judge" in output and "ETA" in output

    cost = read_report(RunFolder(out)).cost
    assert cost is not None and cost.forecast_vs_spend is not None
    judge_row = next(row for row in cost.forecast_vs_spend.rows if row.stage == "judge")
    assert judge_row.forecast_usd > 0 and judge_row.spent_usd > 0
    assert judge_row.ratio == pytest.approx(judge_row.spent_usd / judge_row.forecast_usd)
    assert cost.forecast_vs_spend.spent_usd == pytest.approx(cost.usd_total)
    assert cost.usd_total is not None and cost.usd_total <= ceiling
    stages = {row.stage: row for row in cost.device_hours}
    assert stages["pairwise_judge"].wall_seconds > 0
    assert all(row.gpus == 0 and row.gpu_hours == 0 for row in stages.values())


def test_forecast_comparison_rows_and_ratio() -> None:
    forecast = {
        "usd": 1.0,
        "by_kind": {
            "gen": {"usd": 0.4, "retry_usd": 0.0},
            "judge": {"usd": 0.6, "retry_usd": 0.3},
            "build": {"usd": 0.0, "retry_usd": 0.0},
        },
    }
    comparison = forecast_comparison(forecast, {"gen": 0.44, "judge": 0.3, "build": 0.0})
    rows = {row["stage"]: row for row in comparison["rows"]}
    assert set(rows) == {"gen", "judge"}  # a stage that neither cost nor was forecast to
    assert rows["gen"]["ratio"] == pytest.approx(1.1) and rows["gen"]["within_tolerance"]
    assert rows["judge"]["ratio"] == pytest.approx(0.5) and not rows["judge"]["within_tolerance"]
    assert rows["judge"]["forecast_usd_max"] == pytest.approx(0.9)
    assert comparison["ratio"] == pytest.approx(0.74)
    unpriced = forecast_comparison(forecast, {"gen": None, "judge": 0.3})
    assert unpriced["spent_usd"] is None and unpriced["ratio"] is None


def test_device_hours_from_wall_seconds_gpus_and_measured_seconds(tmp_path: Path) -> None:
    roles = scripted_profile()["roles"]
    roles["large"] = {"model": "vllm/large", "devices": [1, 2]}
    profile = parse_profile(scripted_profile(roles=roles), Path("<test profile>"))
    record_stage_seconds(tmp_path, "generation", 1800.0, 10.0, gpus=2)
    record_stage_seconds(tmp_path, "generation", 1800.0, 5.0, gpus=2)  # a resumed run adds
    record_stage_seconds(tmp_path, "similarity", 60.0, 55.0, gpus=0)
    record_stage_seconds(tmp_path, "build", 100.0, 90.0, gpus=1)
    add_device_seconds(tmp_path, "build", 7200.0)  # training tasks on two GPUs, measured
    rows = {row["stage"]: row for row in device_hours(tmp_path, profile)}
    assert rows["generation"]["gpu_hours"] == pytest.approx(2.0)
    assert rows["generation"]["cpu_seconds"] == pytest.approx(15.0)
    assert rows["similarity"]["gpu_hours"] == 0 and rows["similarity"]["cpu_seconds"] == 55
    assert rows["build"]["gpu_hours"] == pytest.approx(2.0)
    assert rows["build"]["gpu_seconds_measured"]


def test_progress_eta_from_forecast_tokens_and_from_stages_done(tmp_path: Path) -> None:
    profile = parse_profile(scripted_profile(), Path("<test profile>"))
    stages = ["records", "generation", "judge"]
    tokens = {"records": 100, "generation": 300, "judge": 600}
    forecast = {
        "by_stage": {
            name: {"kinds": [], "roles": [], "input_tokens": count, "output_tokens": 0}
            for name, count in tokens.items()
        }
    }
    lines: list[str] = []
    progress = StageProgress(tmp_path, profile, stages, forecast, lines.append)
    assert progress.eta_seconds(0) is None
    progress.done_seconds.append(10.0)  # records took 10 s for 100 tokens
    assert progress.eta_seconds(1) == pytest.approx(90.0)
    assert "stage 2/3 generation" in progress.line(1) and "ETA 1:30" in progress.line(1)
    by_stages = StageProgress(tmp_path, profile, stages, None, lines.append)
    by_stages.done_seconds.append(10.0)
    assert by_stages.eta_seconds(1) == pytest.approx(20.0)
    assert clock(3725) == "1:02:05" and clock(65) == "1:05"


def test_profile_max_cost_is_the_ceiling_and_the_option_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    roles = {**scripted_profile()["roles"], "judge": {"model": "openai/gpt-4o"}}
    path = write_profile(tmp_path, scripted_profile(roles=roles, max_cost=0.000001))
    code, output = run_cli(monkeypatch, capsys, "run", "--profile", str(path), "--dry-run")
    assert code == 0, output
    assert "does not fit under (the run would not start) the ceiling of $0.00" in output
    code, output = run_cli(
        monkeypatch, capsys, "run", "--profile", str(path), "--dry-run", "--max-cost", "1000"
    )
    assert "fits under the ceiling of $1,000.00" in output
    with pytest.raises(PrefbenchInputError, match="max_cost"):
        parse_profile(scripted_profile(max_cost=0), Path("<test profile>"))
