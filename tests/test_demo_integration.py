"""The whole demo pipeline for real, at reduced size, on SmolLM2-135M and MiniLM (offline).

Every stage runs on the real models: intents (three sampled variants), zero-shot drafts,
R3 and no-baseline rule distillation, LoRA training of three adapter kinds, generation by
all six systems, similarity metrics, the cross-user (K×K) generation of the preference
agent, BERTScore judging in both orders and as a multi-candidate judge, the report with its
figures, a human-evaluation round (export, import, agreement); then an unchanged re-run that
must recompute nothing.
"""

import json
import shutil

import pytest
import yaml
from inspect_ai.log import read_eval_log

from prefbench.core.run_folder import RunFolder
from prefbench.harness.pipeline import generate, judge, prepare_records, report, run_benchmark
from prefbench.harness.report.file import read_report
from tests.conftest import DEMO_SYSTEMS as SYSTEMS
from tests.conftest import tiny_demo_profile
from tests.helpers import run_cli, scripted_run

pytestmark = pytest.mark.integration


def test_every_stage_left_its_output(finished_run):
    run_dir, report = finished_run
    records = [
        json.loads(line) for line in (run_dir / "data" / "records.jsonl").read_text().splitlines()
    ]
    assert len(records) == 8 and all(r["intent"] for r in records)
    for system in ("naive_finetune", "preference_agent", "no_baseline_agent"):
        for user in ("ava", "bo"):
            manifest = json.loads(
                (run_dir / "artifacts" / system / user / "manifest.json").read_text()
            )
            assert manifest["steps"] == 1 and len(manifest["losses"]) == 1
            assert (
                run_dir / "artifacts" / system / user / "adapter" / "adapter_model.safetensors"
            ).exists()
    assert len(list((run_dir / "logs" / "gen").glob("*.eval"))) == 6
    assert len(list((run_dir / "logs" / "judge").glob("*.eval"))) == 5
    assert len(list((run_dir / "logs" / "build").glob("*.eval"))) == 3  # drafts, r3, no_baseline


def test_logs_are_finished_inspect_logs_with_real_outputs(finished_run):
    run_dir, _ = finished_run
    for path in (run_dir / "logs" / "gen").glob("*.eval"):
        log = read_eval_log(str(path))
        assert log.status == "success" and len(log.samples) == 2
        assert all(sample.output.completion.strip() for sample in log.samples)
        assert log.stats.model_usage  # real token counts from the hf provider
    for path in (run_dir / "logs" / "judge").glob("*.eval"):
        log = read_eval_log(str(path))
        for sample in log.samples:
            score = next(iter(sample.scores.values()))
            assert 0 < score.metadata["f1_a"] <= 1 and 0 < score.metadata["f1_b"] <= 1


def test_agent_rules_are_in_the_generation_log(finished_run):
    run_dir, _ = finished_run
    for path in (run_dir / "logs" / "gen").glob("*.eval"):
        log = read_eval_log(str(path))
        if log.eval.metadata["system"] == "preference_agent":
            assert all(sample.store["rules"] for sample in log.samples)
            return
    pytest.fail("no preference_agent generation log")


def test_report_has_every_comparison(finished_run):
    run_dir, report = finished_run
    saved = read_report(RunFolder(run_dir))
    assert saved.comparisons == report.comparisons
    assert report.judges == ["similarity"]
    rows = report.rows()
    assert [row.system_b for row in rows if row.system_a == "preference_agent"] == SYSTEMS[:4] + [
        "no_baseline_agent"
    ]
    for row in rows:
        assert row.n + row.parse_failures == 2
        assert row.n == row.wins + row.losses + row.ties
        assert row.judge == "similarity"
    assert saved.cost is not None and saved.cost.tokens_by_stage["gen"].output_tokens > 0


def test_similarity_metrics_and_personalization_matrix(finished_run):
    run_dir, report = finished_run
    assert report.similarity is not None and report.personalization is not None
    rows = report.similarity.rows
    assert sorted(row.system for row in rows) == sorted(SYSTEMS)
    for row in rows:
        assert row.n == 2 and 0 < row.bertscore_f1 <= 1
        assert 0 <= row.rouge_l <= 1 and 0 <= row.tfidf_cosine <= 1 and row.bleu >= 0
    matrix = report.personalization
    assert matrix.users == ["ava", "bo"] and matrix.k == 2
    assert all(0 < value <= 1 for row in matrix.matrix for value in row)
    (cross_log,) = (run_dir / "logs" / "cross").glob("*.eval")
    assert len(read_eval_log(str(cross_log)).samples) == 4  # 2 agents × 2 test emails


def test_multi_candidate_judge_and_figures(finished_run):
    run_dir, report = finished_run
    section = report.multi_candidate["similarity"]
    assert section.n == 2 and section.rotations == 6
    assert sorted(row.system for row in section.first_choice) == sorted(SYSTEMS)
    assert sum(row.votes for row in section.first_choice) == pytest.approx(12)
    markdown = (run_dir / "report.md").read_text()
    for figure in ("win_rates", "ratings", "personalization"):
        assert (run_dir / "figures" / f"{figure}.png").stat().st_size > 0
        assert f"figures/{figure}.png" in markdown
    assert "<html" in (run_dir / "report.html").read_text().lower()


def test_human_round_on_the_real_outputs(finished_run, tmp_path):
    """Export the real judged pairs, import two annotators' answers, report agreement."""
    from typer.testing import CliRunner

    from prefbench.harness.cli.app import app

    run_dir, _ = finished_run
    runner = CliRunner()
    exported = runner.invoke(
        app,
        ["human", "export", "--run", str(run_dir), "--annotator", "ann", "--annotator", "ben"],
    )
    assert exported.exit_code == 0, exported.output
    items = [
        json.loads(line)["item_id"]
        for line in (run_dir / "human" / "items.jsonl").read_text().splitlines()
    ]
    assert len(items) == 10  # 5 comparisons × 2 test emails
    answers = tmp_path / "answers.csv"
    rows = [
        f"{who},{item},{1 if who == 'ann' or n % 2 else 2}"
        for who in ("ann", "ben")
        for n, item in enumerate(items)
    ]
    answers.write_text("annotator,item_id,choice\n" + "\n".join(rows) + "\n")
    imported = runner.invoke(app, ["human", "import", "--run", str(run_dir), str(answers)])
    assert imported.exit_code == 0, imported.output
    agreement = runner.invoke(app, ["human", "agreement", "--run", str(run_dir)])
    assert agreement.exit_code == 0, agreement.output
    section = json.loads((run_dir / "report.json").read_text())["agreement"]
    (pair,) = section["human_human"]["pairs"]
    assert pair["n"] == 10 and pair["raw_agreement"] == pytest.approx(0.5)
    assert "agreement" in (run_dir / "report.md").read_text().lower()


def test_unchanged_rerun_recomputes_nothing(finished_run):
    run_dir, report = finished_run
    manifests = {p: p.stat().st_mtime_ns for p in run_dir.glob("artifacts/*/*/manifest.json")}
    context = scripted_run(run_dir, tiny_demo_profile())
    again = run_benchmark(context)
    assert context.recomputed_nothing
    assert again.comparisons == report.comparisons
    assert {p: p.stat().st_mtime_ns for p in manifests} == manifests


def test_llm_judge_runs_on_smollm2(finished_run):
    """SmolLM2 as the LLM judge (role judge) over the same generations: real calls, both
    orders, every pair counted as an outcome or a parse failure."""
    run_dir, _ = finished_run
    profile = tiny_demo_profile()
    profile["roles"]["judge"] = {"model": "offline/smollm2"}
    profile["judge"] = {"kind": "llm", "max_tokens": 24}
    profile["systems"] = ["small_zero_shot", "preference_agent"]
    context = scripted_run(run_dir, profile)
    records = prepare_records(context)
    generate(context, records)  # reused: no generation runs again
    assert context.runner.evals_run == 0
    judge(context)
    result = report(context)
    (row,) = result.rows()
    assert row.judge == "llm" and row.n + row.parse_failures == 2
    log = read_eval_log(str(context.judge_logs["small_zero_shot"].log_path))
    for sample in log.samples:
        metadata = next(iter(sample.scores.values())).metadata
        assert 1 <= len(metadata["answers_ab"]) <= 2 and 1 <= len(metadata["answers_ba"]) <= 2


def test_llm_judge_logprob_verdicts_on_smollm2_are_honest(finished_run):
    """SmolLM2 with `verdict: logprobs` (real hf log-probabilities): an order is a verdict only
    where the candidate numbers hold at least half the probability, else a parse failure
    with its mass kept."""
    run_dir, _ = finished_run
    profile = tiny_demo_profile()
    profile["roles"]["judge"] = {"model": "offline/smollm2"}
    profile["judge"] = {"kind": "llm", "llm": {"verdict": "logprobs", "max_tokens": 24}}
    profile["systems"] = ["small_zero_shot", "preference_agent"]
    context = scripted_run(run_dir, profile)
    generate(context, prepare_records(context))
    judge(context)
    log = read_eval_log(str(context.judge_logs["small_zero_shot"].log_path))
    orders = 0
    for sample in log.samples:
        metadata = next(iter(sample.scores.values())).metadata
        for order in ("ab", "ba"):
            orders += 1
            probabilities, mass = (
                metadata[f"probabilities_{order}"],
                metadata[f"candidate_mass_{order}"],
            )
            if probabilities is None:
                assert metadata[f"winner_{order}"] is None
                assert mass is None or mass < 0.5
            else:
                assert mass >= 0.5 and sum(probabilities) == pytest.approx(1.0)
    assert orders == 4


def test_the_llm_judge_beside_the_similarity_judge_in_one_report(
    pristine_demo_run, tmp_path, monkeypatch, capsys
):
    """`prefbench judge --judge llm` on the finished demo: SmolLM2 judges beside BERTScore.

    The similarity judge's stages are reused (no eval); the report holds one leaderboard per
    judge, every row of each judge's own; report.csv has a row per judge and comparison.
    """
    run_dir = tmp_path / "run"
    shutil.copytree(pristine_demo_run, run_dir, symlinks=True)
    profile = yaml.safe_load((run_dir / "profile.yaml").read_text())
    profile["roles"]["judge"] = {"model": "offline/smollm2"}
    profile["judge"]["llm"] = {"max_tokens": 24}
    (run_dir / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    similarity_logs = sorted((run_dir / "logs" / "judge").glob("*.eval"))
    code, output = run_cli(
        monkeypatch, capsys, "judge", "--run", str(run_dir), "--judge", "llm", "--display", "none"
    )
    assert code == 0, output
    assert all(path.exists() for path in similarity_logs)  # reused, none judged again
    result = read_report(RunFolder(run_dir))
    assert result.judges == ["similarity", "llm"]
    for judge_name in result.judges:
        rows = result.comparisons[judge_name]
        assert [row.system_b for row in rows] == SYSTEMS[:4] + ["no_baseline_agent"]
        assert {row.judge for row in rows} == {judge_name}
        assert all(row.n + row.parse_failures == 2 for row in rows)
    markdown = (run_dir / "report.md").read_text()
    assert "## Leaderboard (judge: similarity)" in markdown
    assert "## Leaderboard (judge: llm)" in markdown
    code, output = run_cli(monkeypatch, capsys, "report", "--run", str(run_dir), "--format", "csv")
    assert code == 0, output
    lines = (run_dir / "report.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 5
