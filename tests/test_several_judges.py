"""Several judges per run: `judges:` in a profile, `prefbench judge --judge X` adds X, one
leaderboard per judge, the primary judge's stages keyed as a single-judge run's were, and
report.csv with one row per judge and comparison.

The LLM judge is the scripted model (its calls are counted in the call log); the similarity
judge is the real BERTScore on the packaged MiniLM (no model call).
"""

import csv
import json
from pathlib import Path

import pytest
import yaml
from inspect_ai.log import read_eval_log

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.harness.judging import resolve_judges
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.profile import dump_profile, parse_profile
from prefbench.harness.report.csv_file import CSV_COLUMNS
from prefbench.harness.report.file import read_report
from prefbench.harness.report.schema import report_json_schema
from prefbench.harness.stage_runner import KEY_FIELD, STAGE_FIELD, stage_fingerprint
from prefbench.scorers.registry import judge_key_inputs
from tests.helpers import run_cli, run_cli_split, scripted_profile, scripted_run

REPO = Path(__file__).resolve().parents[1]
PAIRS = [("few_shot", "small_zero_shot"), ("few_shot", "large_zero_shot")]


def judge_calls(call_log: Path) -> int:
    """How many calls the scripted judge model answered (its lines in the call log)."""
    lines = call_log.read_text(encoding="utf-8").splitlines() if call_log.exists() else []
    return sum(line.startswith("judge\t") for line in lines)


def eval_logs(run_dir: Path) -> set[str]:
    return {path.name for path in (run_dir / "logs").rglob("*.eval")}


def judge_stages(run_dir: Path) -> dict[str, str]:
    """Stage name → key of every judge log of the run."""
    stages = {}
    for path in (run_dir / "logs" / "judge").glob("*.eval"):
        metadata = read_eval_log(str(path), header_only=True).eval.metadata or {}
        stages[metadata[STAGE_FIELD]] = metadata[KEY_FIELD]
    return stages


@pytest.fixture
def judged_twice(tmp_path: Path, monkeypatch, capsys) -> tuple[Path, Path, int]:
    """A run judged by the LLM judge, then `prefbench judge --judge similarity` on it."""
    call_log = tmp_path / "calls.log"
    run_dir = tmp_path / "run"
    run_benchmark(scripted_run(run_dir, scripted_profile(call_log=call_log)))
    calls = judge_calls(call_log)
    assert calls > 0
    code, output = run_cli(
        monkeypatch, capsys, "judge", "--run", str(run_dir), "--judge", "similarity",
        "--display", "none",
    )  # fmt: skip
    assert code == 0, output
    return run_dir, call_log, calls


def test_another_judge_adds_its_own_leaderboard_and_never_replaces(judged_twice):
    run_dir, call_log, calls = judged_twice
    assert judge_calls(call_log) == calls  # the LLM judge's pairs were reused, not re-judged
    saved = yaml.safe_load((run_dir / "profile.yaml").read_text())
    assert "judge" not in saved
    assert [judge["kind"] for judge in saved["judges"]] == ["llm", "similarity"]

    report = read_report(RunFolder(run_dir))
    assert report.judges == ["llm", "similarity"]
    for judge in report.judges:  # every judge its own rows, ratings and audit, never mixed
        rows = report.comparisons[judge]
        assert [(row.system_a, row.system_b) for row in rows] == PAIRS
        assert {row.judge for row in rows} == {judge}
        assert {rating.system for rating in report.ratings[judge]} == {
            "few_shot",
            "small_zero_shot",
            "large_zero_shot",
        }
        assert report.judge_audit[judge].judge == judge
    assert report.judge_audit["similarity"].order_blind
    # the scripted LLM judge always answers 1 (a tie in both orders); BERTScore decides
    assert {row.ties for row in report.comparisons["llm"]} == {2}
    assert report.provenance is not None
    assert list(report.provenance.judges) == ["llm", "similarity"]
    assert report.provenance.judge == report.provenance.judges["llm"]
    hashes = {spec.spec_hash for spec in report.provenance.judges.values()}
    assert len(hashes) == 2

    markdown = (run_dir / "report.md").read_text()
    for judge in ("llm", "similarity"):
        assert f"## Leaderboard (judge: {judge})" in markdown
        assert f"few_shot vs each system (judge: {judge}, dataset: demo)" in markdown
        assert f"## Bradley–Terry ratings (judge: {judge}; all its pairings)" in markdown

    # the primary judge's stages keep their names; the added judge's carry its name
    stages = judge_stages(run_dir)
    assert sorted(stages) == sorted(
        [f"judge-{a}-vs-{b}" for a, b in PAIRS] + [f"judge-{a}-vs-{b}@similarity" for a, b in PAIRS]
    )


def test_judging_again_with_a_judge_the_run_has_makes_no_call(judged_twice, monkeypatch, capsys):
    run_dir, call_log, calls = judged_twice
    logs = eval_logs(run_dir)
    for judge in ("llm", "similarity"):
        code, output = run_cli(
            monkeypatch, capsys, "judge", "--run", str(run_dir), "--judge", judge,
            "--display", "none",
        )  # fmt: skip
        assert code == 0, output
        assert "reused" in output
    assert judge_calls(call_log) == calls
    assert eval_logs(run_dir) == logs  # no eval ran: every judge log is the one before
    saved = yaml.safe_load((run_dir / "profile.yaml").read_text())
    assert [judge["kind"] for judge in saved["judges"]] == ["llm", "similarity"]  # no duplicate


def test_the_primary_judges_stage_keys_are_a_single_judge_runs(tmp_path: Path):
    """The judge stages are keyed as before several judges existed: same names, same inputs."""
    raw = scripted_profile()
    run_dir = tmp_path / "run"
    context = scripted_run(run_dir, raw)
    run_benchmark(context)
    profile = parse_profile(raw, Path("<test profile>"))
    settings = profile.judge.typed_settings(profile.metrics)
    stages = judge_stages(run_dir)
    assert sorted(stages) == sorted(f"judge-{a}-vs-{b}" for a, b in PAIRS)
    for system_a, system_b in PAIRS:
        key = {
            "a": context.generation_logs[system_a].stage_key(),
            "b": context.generation_logs[system_b].stage_key(),
            **judge_key_inputs("llm", settings, "pairwise"),
        }
        stage = f"judge-{system_a}-vs-{system_b}"
        assert stages[stage] == stage_fingerprint(profile, stage, ("judge",), key)


def test_one_judge_is_written_back_as_judge_and_a_list_is_kept():
    single = parse_profile(scripted_profile(), Path("<test profile>"))
    written = yaml.safe_load(dump_profile(single))
    assert written["judge"] == {
        "kind": "llm",
        "tie_policy": "inconsistent_is_tie",
        "multi_candidate": False,
    }
    assert "judges" not in written
    raw = scripted_profile(judges=[{"kind": "llm"}, {"kind": "similarity"}])
    del raw["judge"]
    several = parse_profile(raw, Path("<test profile>"))
    assert [judge.name for judge in resolve_judges(several)] == ["llm", "similarity"]
    assert several.judge.kind == "llm"  # the first is the primary
    assert [judge["kind"] for judge in yaml.safe_load(dump_profile(several))["judges"]] == [
        "llm",
        "similarity",
    ]


@pytest.mark.parametrize(
    ("judges", "message"),
    [
        ({"judge": {"kind": "llm"}, "judges": [{"kind": "llm"}]}, "not both"),
        ({"judges": [{"kind": "llm"}, {"kind": "llm"}]}, "listed twice"),
        ({"judges": []}, "judges"),
    ],
)
def test_a_bad_judge_list_is_refused_naming_the_fix(judges, message):
    raw = scripted_profile()
    del raw["judge"]
    with pytest.raises(PrefbenchInputError, match=message):
        parse_profile({**raw, **judges}, Path("<test profile>"))


def test_report_csv_has_a_row_per_judge_and_comparison(judged_twice, monkeypatch, capsys):
    run_dir, _, _ = judged_twice
    code, output = run_cli(monkeypatch, capsys, "report", "--run", str(run_dir), "--format", "csv")
    assert code == 0, output
    with open(run_dir / "report.csv", newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert tuple(table[0]) == CSV_COLUMNS
    rows = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in table[1:]]
    report = read_report(RunFolder(run_dir))
    assert [(row["judge"], row["system_b"]) for row in rows] == [
        (judge, system_b) for judge in ("llm", "similarity") for _, system_b in PAIRS
    ]
    assert report.provenance is not None and report.provenance.split is not None
    for row, expected in zip(rows, report.rows(), strict=True):
        assert row["n"] == str(expected.n) and row["users"] == str(expected.users)
        assert float(row["win_rate"]) == expected.win_rate
        assert row["ci_method"] == expected.ci_method and row["ci_low"] == str(expected.ci_low)
        assert row["prefbench_version"] == report.provenance.prefbench
        assert row["split_fingerprint"] == report.provenance.split.fingerprint
        assert row["judge_spec_hash"] == report.provenance.judges[row["judge"]].spec_hash
    assert rows[0]["judge_flags"]  # the always-1 LLM judge fails the quality gate
    assert not rows[-1]["judge_flags"]


def test_the_json_schema_in_docs_is_the_models(monkeypatch, capsys):
    checked_in = json.loads((REPO / "docs" / "report.schema.json").read_text(encoding="utf-8"))
    assert checked_in == report_json_schema(), (
        "docs/report.schema.json is stale: regenerate it with "
        "`prefbench report --schema > docs/report.schema.json`"
    )
    code, out, _ = run_cli_split(monkeypatch, capsys, "report", "--schema")
    assert code == 0 and json.loads(out) == checked_in
