"""report.json's cost counts the judge logs the report uses, not one a changed judge superseded."""

from pathlib import Path

from prefbench.harness.pipeline import generate, judge, prepare_records, report
from prefbench.harness.report.schema import CostSection, StageModelCost
from tests.helpers import scripted_profile, scripted_run


def judge_rows(cost: CostSection | None) -> list[StageModelCost]:
    assert cost is not None
    return [row for row in cost.by_stage_model if row.stage == "judge"]


def test_a_superseded_judge_log_is_not_counted(tmp_path: Path):
    raw = scripted_profile()
    raw["prices"] = {"prefbench-mock/judge": {"input_per_million": 3.0, "output_per_million": 4.0}}
    first = scripted_run(tmp_path / "run", raw)
    generate(first, prepare_records(first))
    judge(first)
    before = report(first).cost
    first.runner.close()

    raw["judge"] = {**raw["judge"], "max_tokens": 300}  # a new judge key: judged again
    second = scripted_run(tmp_path / "run", raw)
    generate(second, prepare_records(second))
    judged = judge(second)
    after = report(second).cost
    second.runner.close()

    judge_folder = tmp_path / "run" / "logs" / "judge"
    in_use = {result.log_path.name for result in judged.values()}
    assert len(list(judge_folder.glob("*.eval"))) == 2 * len(in_use)  # the old ones stay
    assert judge_rows(after) == judge_rows(before)  # same calls, counted once
    assert after is not None and before is not None
    assert after.usd_by_stage["judge"] == before.usd_by_stage["judge"] > 0
