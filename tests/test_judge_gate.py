"""The judge quality gate: thresholds, order-blind judges, and the flag on every row it made."""

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import get_model

import tests.logprob_model  # noqa: F401  (registers prefbench-logprob)
from prefbench.harness.judging import ResolvedJudge
from prefbench.harness.profile import JudgeSettings, load_profile
from prefbench.harness.report.build import judge_results
from prefbench.harness.report.judged import read_comparison
from prefbench.harness.report.markdown import report_markdown
from prefbench.scorers.llm_judge import llm_judge
from prefbench.scorers.registry import lookup_judge
from prefbench.scorers.stats import audit_judge, quality_gate
from prefbench.scorers.stats.judge_audit import AuditedPair
from prefbench.scorers.stats.judge_gate import (
    FIRST_SLOT_BAND,
    MAX_FALLBACK_SHARE,
    MIN_POSITION_CONSISTENCY,
)
from prefbench.tasks.pairwise import candidates_in_place
from tests.report_models import report as make_report

FOLLOW_UP_REQUEST = "Reply with only the number"


def audit(first=(0.5, 0.4, 0.6), consistency=0.9, fallback_rate=0.0):
    rate, low, high = first
    return {
        "first_slot_win_rate": {"rate": rate, "ci_low": low, "ci_high": high, "n": 96},
        "position_consistency": {"rate": consistency, "n": 48},
        "verdict_sources": {
            "counts": {"text": 96},
            "n": 96,
            "fallback": round(96 * fallback_rate),
            "fallback_rate": fallback_rate,
        },
    }


def test_the_thresholds_are_the_documented_ones():
    assert FIRST_SLOT_BAND == (0.35, 0.65)
    assert MIN_POSITION_CONSISTENCY == 0.6
    assert MAX_FALLBACK_SHARE == 0.5


@pytest.mark.parametrize(
    ("first", "consistency", "fallback", "failed"),
    [
        ((0.5, 0.4, 0.6), 0.9, 0.0, []),
        ((0.66, 0.55, 0.76), 0.9, 0.0, ["position bias"]),
        ((0.30, 0.20, 0.42), 0.9, 0.0, ["position bias"]),
        ((0.66, 0.45, 0.80), 0.9, 0.0, []),  # outside the band, but 50 % is still plausible
        ((0.64, 0.55, 0.72), 0.9, 0.0, []),  # inside the band
        ((0.5, 0.4, 0.6), 0.59, 0.0, ["position consistency"]),
        ((0.5, 0.4, 0.6), 0.6, 0.0, []),
        ((0.5, 0.4, 0.6), 0.9, 0.51, ["fallback verdicts"]),
        ((0.5, 0.4, 0.6), 0.9, 0.5, []),
        ((0.99, 0.95, 1.0), 0.02, 0.98, ["position bias", "position consistency", "fallback"]),
    ],
)
def test_gate_thresholds(first, consistency, fallback, failed):
    gate = quality_gate(audit(first, consistency, fallback))
    assert gate["flagged"] is bool(failed)
    assert len(gate["reasons"]) == len(failed)
    assert all(
        reason.startswith(name) for reason, name in zip(gate["reasons"], failed, strict=True)
    )


def test_an_order_blind_judge_is_not_gated_on_order_but_still_on_fallbacks():
    biased = audit((0.99, 0.95, 1.0), 0.02, 0.0)
    assert quality_gate(biased, order_blind=True) == {"flagged": False, "reasons": []}
    assert quality_gate({**biased, **audit(fallback_rate=0.9)}, order_blind=True)["flagged"]


def test_the_reason_names_value_n_and_threshold():
    [reason] = quality_gate(audit((0.99, 0.95, 1.0)))["reasons"]
    assert reason == (
        "position bias: candidate 1 chosen in 99.0 % of 96 verdicts [95.0 %, 100.0 %], "
        "outside 35–65 %"
    )


def smollm2_like(prompt: str) -> str:
    """SmolLM2 with `verdict: logprobs` on the demo: rambles, then names candidate 1 when asked."""
    if FOLLOW_UP_REQUEST in prompt:
        return "<winner>1</winner>"
    return "Both candidates write about the meeting in a friendly tone."


def judge_log(users: int = 6, pairs_per_user: int = 3):
    """One judge log of the scripted log-prob judge over users × pairs, as `prefbench judge`."""
    samples = [
        Sample(
            id=f"u{user}-{pair}",
            input="ground truth",
            target="ground truth",
            metadata={
                "user": f"u{user}",
                "dataset": "demo",
                "candidate_a": f"system A's email {user}-{pair} " + "a" * (20 + 7 * pair),
                "candidate_b": f"system B's email {user}-{pair} " + "b" * (30 + 5 * user),
            },
        )
        for user in range(users)
        for pair in range(pairs_per_user)
    ]
    judge = get_model(
        "prefbench-logprob/judge", replies=smollm2_like, numbers={"1": 0.97, "2": 0.02}
    )
    task = Task(
        dataset=MemoryDataset(samples),
        solver=candidates_in_place(),
        scorer=llm_judge(verdict="logprobs"),
        metadata={"system_a": "preference_agent", "system_b": "naive_finetune", "judge": "llm"},
    )
    [log] = eval(task, model=judge, model_roles={"judge": judge}, display="none", log_dir=None)
    assert log.status == "success"
    return log


def test_scripted_smollm2_logprob_judge_is_flagged_on_every_row_it_made():
    comparison = read_comparison(judge_log(), "inconsistent_is_tie")
    profile, _ = load_profile("demo")
    llm = lookup_judge("llm")
    judge = ResolvedJudge(llm, llm.parse_settings({}), JudgeSettings(kind="llm"), primary=True)
    results = judge_results(judge, [comparison], profile)
    gate = results.audit.quality_gate
    assert results.audit.first_slot_win_rate.rate == 1.0
    assert gate.flagged
    assert [reason.split(":")[0] for reason in gate.reasons] == [
        "position bias",
        "position consistency",
        "fallback verdicts",
    ]
    rows, ratings = results.comparisons, results.ratings
    assert rows and all(row.judge_flags == gate.reasons for row in rows)
    assert ratings and all(rating.judge_flags for rating in ratings)
    report = make_report(
        reference_system="preference_agent",
        comparisons={"llm": rows},
        ratings={"llm": ratings},
        judge_audit={"llm": results.audit},
    )
    markdown = report_markdown(report, {})
    assert "naive_finetune ⚠" in markdown
    assert "Quality gate (llm): FAILED ⚠" in markdown
    assert gate.reasons[0] in markdown


def test_a_similarity_judge_is_not_gated_on_its_by_construction_order_numbers():
    # a judge that always names candidate 1 would fail on position; order-blind, it is not gated
    pairs = [AuditedPair("a", "b", f"u{i % 4}", 1, 1, 100, 80 + i, 0.5) for i in range(24)]
    assert quality_gate(audit_judge(pairs))["flagged"]
    assert lookup_judge("similarity").order_blind and not lookup_judge("llm").order_blind
    assert quality_gate(audit_judge(pairs), order_blind=True)["flagged"] is False
