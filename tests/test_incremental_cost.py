"""Incremental cost: the dry run and the ceiling count only what a run folder has not finished.

Issue 21's case: a finished run with one new system planned 138 calls and 9 adapters for a real
increment of 6 calls, and `--max-cost 0.01` refused a run whose every stage was finished. Here a
scripted run (offline mock models) is finished, a system is added, and the plan is compared with
the calls the run then really makes. The ceiling across datasets is the pipeline's
(`run_datasets(max_cost=...)`), so a notebook gets it too.
"""

import io
from pathlib import Path

import pytest
from rich.console import Console

from prefbench.core.run_folder import RunFolder
from prefbench.harness.cost.dry_run import plan_run
from prefbench.harness.cost.guard import ForecastAboveCeiling
from prefbench.harness.cost.spend import usd_by_kind
from prefbench.harness.pipeline import run_benchmark, run_datasets
from prefbench.harness.profile import parse_profile
from tests.conftest import DEMO_SYSTEMS
from tests.helpers import run_cli, scripted_profile, scripted_run
from tests.planning_oracle import TrainingRecorder

EXPENSIVE = {"input_per_million": 100.0, "output_per_million": 100.0}
BASE_SYSTEMS = [name for name in DEMO_SYSTEMS if name != "few_shot"]


def parsed(profile: dict):
    return parse_profile(profile, Path("<test profile>"))


def finished_run(run_dir: Path, profile: dict) -> None:
    context = scripted_run(run_dir, profile)
    context.adapter_trainer = TrainingRecorder()
    run_benchmark(context)
    assert context.lock is not None
    context.lock.release()


def test_a_new_system_in_a_finished_run_plans_only_its_own_work(
    tmp_path: Path, answers_of_their_own: None
) -> None:
    call_log = tmp_path / "calls.log"
    base = scripted_profile(
        call_log=call_log, systems=BASE_SYSTEMS, reference_system="preference_agent"
    )
    run_dir = tmp_path / "run"
    finished_run(run_dir, base)
    before = len(call_log.read_text().splitlines())

    more = {**base, "systems": [*BASE_SYSTEMS, "few_shot"]}
    plan = plan_run(parsed(more), run_dir=run_dir)
    called = {(row.stage, row.job) for row in plan.rows if row.calls}
    assert called == {("gen", "gen-few_shot"), ("judge", "judge-preference_agent-vs-few_shot")}
    assert plan.total("training_jobs") == 0
    assert plan.calls_of("gen") == plan.test_records
    assert plan.calls_of("judge") == 2 * plan.test_records  # both orders
    local = {row.job for row in plan.rows if not row.calls}
    assert "metrics-few_shot" in local and "report" in local

    finished_run(run_dir, more)  # the run itself: exactly the planned calls (no retries here)
    made = len(call_log.read_text().splitlines()) - before
    assert made == plan.total("calls")


def test_a_ceiling_does_not_refuse_a_run_with_nothing_left_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, write_profile
) -> None:
    profile = scripted_profile(prices={"prefbench-mock/judge": EXPENSIVE})
    path = write_profile(profile)
    out = tmp_path / "run"
    code, output = run_cli(monkeypatch, capsys, "run", "--profile", str(path), "--out", str(out))
    assert code == 0, output
    code, output = run_cli(
        monkeypatch, capsys, "run", "--profile", str(path), "--out", str(out), "--dry-run"
    )
    assert code == 0 and "total: 0 model calls, 0 adapters" in output, output
    args = ["run", "--profile", str(path), "--out", str(out), "--max-cost", "0.01"]
    code, output = run_cli(monkeypatch, capsys, *args)
    assert code == 0, output
    assert "Nothing changed since the last run" in output


def test_the_ceiling_across_datasets_is_the_pipeline_s(tmp_path: Path) -> None:
    judge_priced = {"prefbench-mock/judge": EXPENSIVE}
    small = {"kind": "demo", "personas": 2, "records_per_persona": 5}
    large = {"kind": "demo", "personas": 4, "records_per_persona": 10}
    both = scripted_profile(datasets={"small": small, "large": large}, prices=judge_priced)
    del both["dataset"]
    profile = parsed(both)
    run = tmp_path / "run"
    finished_run(run / "small", scripted_profile(dataset=small, prices=judge_priced))
    spent = sum(v or 0.0 for v in usd_by_kind(RunFolder(run / "small"), profile).values())
    second = plan_run(parsed(scripted_profile(dataset=large, prices=judge_priced)))
    assert spent > 0 and second.usd and second.retry_usd is not None
    console = Console(file=io.StringIO(), width=200)

    # what the first dataset spent counts: the second alone would fit, both do not
    ceiling = spent + second.usd - 1e-6
    assert second.usd < ceiling
    with pytest.raises(ForecastAboveCeiling, match="spent and"):
        run_datasets(run, profile, console, display="none", max_cost=ceiling)
    assert not (run / "large" / "logs").exists()  # refused before anything ran

    small_logs = sorted((run / "small" / "logs").rglob("*.eval"))
    ceiling = spent + second.usd + second.retry_usd + 1e-6
    outcome = run_datasets(run, profile, console, display="none", max_cost=ceiling)
    assert outcome.report and (run / "large" / "report.json").exists()
    assert sorted((run / "small" / "logs").rglob("*.eval")) == small_logs  # reused, not redone
