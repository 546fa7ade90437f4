"""The judge audit on simulated judges of known bias, and on hand-made pairs."""

import numpy as np
import pytest

from prefbench.scorers.stats import AuditedPair, audit_judge, self_preference
from tests.simulated_judges import SimulatedJudge, simulate_pairs, true_first_slot_rate


def within(section: dict, truth: float, key: str = "rate") -> bool:
    return section["ci_low"] <= truth <= section["ci_high"] and section[key] is not None


def test_audit_recovers_a_planted_position_bias():
    judge = SimulatedJudge(quality=0.3, position=0.8, user_sd=0.3)
    pairs = simulate_pairs(judge, n_users=12, pairs_per_user=15, rng=np.random.default_rng(1))
    audit = audit_judge(pairs)
    truth = true_first_slot_rate(judge)  # about 0.68
    assert within(audit["first_slot_win_rate"], truth)
    assert audit["first_slot_win_rate"]["ci_low"] > 0.5  # detected
    assert audit["first_slot_win_rate"]["n"] == 2 * len(pairs)
    # no length bias planted: the slope's interval holds 0
    assert within(audit["length_coefficient"], 0.0, key="coefficient")


def test_audit_recovers_a_planted_length_bias():
    judge = SimulatedJudge(quality=0.2, length=1.5, user_sd=0.3)
    pairs = simulate_pairs(judge, n_users=12, pairs_per_user=15, rng=np.random.default_rng(2))
    audit = audit_judge(pairs)
    assert within(audit["length_coefficient"], 1.5, key="coefficient")
    assert audit["length_coefficient"]["ci_low"] > 0
    assert audit["longer_win_rate"]["ci_low"] > 0.5
    assert within(audit["first_slot_win_rate"], 0.5)  # no position bias planted
    bins = audit["length_bins"]
    assert bins[0]["win_rate"] < 0.4 < 0.6 < bins[-1]["win_rate"]  # rises with the lead
    assert sum(b["n"] for b in bins) == 2 * audit["first_slot_win_rate"]["n"]


def test_a_better_longer_system_is_not_length_bias():
    # A is better AND longer, the judge ignores length: the longer candidate wins often,
    # but the slope, with the systems' identity in the model, stays near 0.
    judge = SimulatedJudge(quality=1.0, user_sd=0.2)
    rng = np.random.default_rng(3)
    pairs = simulate_pairs(judge, n_users=12, pairs_per_user=15, rng=rng, length_shift=300)
    audit = audit_judge(pairs)
    assert audit["longer_win_rate"]["ci_low"] > 0.5
    assert within(audit["length_coefficient"], 0.0, key="coefficient")


@pytest.mark.parametrize(
    ("planted", "key", "truth_of"),
    [
        (SimulatedJudge(quality=0.3, position=0.6, user_sd=0.3), "first_slot_win_rate", None),
        (SimulatedJudge(quality=0.3, length=1.0, user_sd=0.3), "length_coefficient", 1.0),
    ],
    ids=["position", "length"],
)
def test_audit_intervals_cover_the_planted_bias(planted, key, truth_of):
    """Over 100 simulated benchmarks of 10 users the 95 % interval covers the truth ~95 %."""
    truth = true_first_slot_rate(planted) if truth_of is None else truth_of
    value = "rate" if truth_of is None else "coefficient"
    rng = np.random.default_rng(20261201)
    covered = 0
    for _ in range(100):
        pairs = simulate_pairs(planted, n_users=10, pairs_per_user=10, rng=rng)
        covered += within(audit_judge(pairs)[key], truth, key=value)
    print(f"{key}: coverage {covered / 100:.2f} over 100 runs")
    assert covered >= 86  # 95 % nominal; 86 is ~4 Monte Carlo SE below


def test_orders_unparsed_and_equal_lengths_are_left_out():
    pairs = [
        AuditedPair("A", "B", "u1", 1, 2, 100, 50, 1.0),  # A wins both, A longer
        AuditedPair("A", "B", "u1", 1, 1, 80, 80, 0.5),  # slot 1 twice, equal length
        AuditedPair("A", "B", "u2", None, 2, 10, 90, None),  # one order unparsed: A wins ba
    ]
    audit = audit_judge(pairs)
    assert audit["first_slot_win_rate"]["n"] == 5
    assert audit["first_slot_win_rate"]["rate"] == pytest.approx(3 / 5)
    assert audit["position_consistency"]["n"] == 2
    assert audit["position_consistency"]["rate"] == 0.5
    assert audit["longer_win_rate"]["n"] == 3  # the equal-length orders are left out
    assert audit["longer_win_rate"]["rate"] == pytest.approx(2 / 3)  # 100>50 twice, 10<90 once


def test_self_preference_flags_the_system_that_shares_the_judges_model():
    pairs = [AuditedPair("ref", "own", f"u{i % 4}", 2, 1, 50, 50, 0.0) for i in range(12)]
    pairs += [AuditedPair("ref", "other", f"u{i % 4}", 1, 2, 50, 50, 1.0) for i in range(12)]
    rows = self_preference(
        pairs,
        judge_models={"hf/judge-model"},
        models_by_system={"ref": {"hf/small"}, "own": {"hf/judge-model"}, "other": {"hf/x"}},
    )
    assert [row["system"] for row in rows] == ["own"]
    own = rows[0]
    assert own["win_rate"] == 1.0 and own["n"] == 12 and own["models"] == ["hf/judge-model"]
    assert own["ci_low"] <= 1.0 == own["ci_high"]
    assert self_preference(pairs, set(), {"own": {"hf/judge-model"}}) == []


def test_no_pairs_gives_empty_audit():
    audit = audit_judge([])
    assert audit["first_slot_win_rate"]["rate"] is None
    assert audit["length_coefficient"]["coefficient"] is None
    assert audit["length_bins"] == []


def test_the_length_slope_counts_the_single_order_verdicts_it_used():
    """Issue 24: the slope row said n = 48 (pairs) while the fit used 74 single-order verdicts."""
    pairs = [AuditedPair("A", "B", f"u{i % 4}", 1, 2, 100 + 7 * i, 90, 1.0) for i in range(10)]
    pairs += [AuditedPair("A", "B", f"u{i % 4}", 2, None, 80, 95 + 3 * i, None) for i in range(6)]
    slope = audit_judge(pairs)["length_coefficient"]
    assert slope["n"] == 26  # 10 pairs in both orders, 6 in one
    assert slope["n"] != len(pairs)


def test_verdict_sources_count_fallbacks_by_the_judges_mode():
    pairs = [
        AuditedPair("A", "B", "u", 1, 2, 50, 50, 1.0, "logprobs", "logprobs_follow_up", "logprobs"),
        AuditedPair("A", "B", "u", 1, 1, 50, 50, 0.5, "text", None, "logprobs"),
        AuditedPair("A", "B", "v", 2, 1, 50, 50, 0.0, "text", "follow_up", "text"),
        AuditedPair("A", "B", "v", None, 1, 50, 50, None, "text", "repeat", "text"),
    ]
    sources = audit_judge(pairs)["verdict_sources"]
    # "text" is a fallback for a log-probability judge (its provider returned none); the
    # unparsed order (winner None) and the order without a source are not counted
    assert sources["counts"] == {
        "follow_up": 1,
        "logprobs": 1,
        "logprobs_follow_up": 1,
        "repeat": 1,
        "text": 2,
    }
    assert (sources["n"], sources["fallback"]) == (6, 4)
    assert sources["fallback_rate"] == pytest.approx(4 / 6)
    assert audit_judge([])["verdict_sources"]["fallback_rate"] is None
