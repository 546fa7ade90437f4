"""Benchmark-style checks: the user-clustered intervals cover the truth, for unequal users too.

The full simulation (five statistics, balanced and unbalanced designs, 3 to 60 users, 2000
replicates per cell) is tests/benchmarks/bench_interval_coverage.py; docs/statistics.md
quotes its table. These fast checks keep three designs in the unit tests:

- **unbalanced** (the design that broke the old rule): 10 users with negative-binomial
  numbers of pairs (mean 8, a quarter of the users with one pair) plus one user with 120-200
  pairs, user effects of sd 1 logit, position bias 0.5, 5 % ties. The interval must cover the
  true win rate in at least 93 % of 300 simulated benchmarks. Deterministic (fixed seed); its
  margin was measured with the same design and rule over seeds 1-200: coverage mean 0.984,
  sd 0.007, minimum 0.967 (this seed: 0.987), so 0.93 is 0.054, about 8 seed-to-seed sd, below
  the expected value: only a change of the rule can fail it. The old rule (CR1 variance, t with
  G - 1 degrees of freedom) covered 0.53 on this seed.
- **balanced**: users whose own win probability varies (uniform on 0.60 ± 0.15, ties 0.1),
  20 pairs each, at 10 and 30 users; bounds 0.91-0.99 (about 3 Monte Carlo SE below 0.95 over
  300 runs, and an upper bound that catches an interval far too wide).
- **length-controlled**: a simulated judge with a planted length bias (A writes longer and the
  judge prefers length); the interval must cover A's win rate at equal length, not the
  inflated raw one.
"""

import time

import numpy as np
import pytest
from scipy.special import expit

from prefbench.scorers.outcome import PairOutcome
from prefbench.scorers.stats import length_controlled_win_rate, summarize_win_rate
from tests.simulated_judges import SimulatedJudge, simulate_pairs

OUTCOMES = {
    "win": PairOutcome("win", 1.0, True),
    "loss": PairOutcome("loss", 0.0, True),
    "tie": PairOutcome("tie", 0.5, False),
}
SCORED = {1.0: OUTCOMES["win"], 0.0: OUTCOMES["loss"], 0.5: OUTCOMES["tie"]}

POSITION, TIE, USER_SD, QUALITY = 0.5, 0.05, 1.0, 0.3
UNBALANCED_USERS, UNBALANCED_RUNS, UNBALANCED_SEED = 10, 300, 20240601


def unbalanced_truth() -> float:
    """The pooled win rate's target: E_u[expected pair score] (sizes do not depend on u)."""
    z, weights = np.polynomial.hermite_e.hermegauss(80)
    u = QUALITY + USER_SD * z
    score = TIE * 0.5 + (1 - TIE) * 0.5 * (expit(u + POSITION) + expit(u - POSITION))
    return float(np.sum(weights * score) / np.sum(weights))


def test_unbalanced_users_coverage_at_least_93_percent() -> None:
    truth = unbalanced_truth()
    rng = np.random.default_rng(UNBALANCED_SEED)
    covered = 0
    start = time.perf_counter()
    for _ in range(UNBALANCED_RUNS):
        sizes = 1 + rng.negative_binomial(0.5, 0.5 / 7.5, UNBALANCED_USERS)
        sizes[0] = rng.integers(120, 201)
        effect = np.repeat(QUALITY + USER_SD * rng.standard_normal(UNBALANCED_USERS), sizes)
        a_first = rng.random(len(effect)) < expit(effect + POSITION)
        a_second = rng.random(len(effect)) < expit(effect - POSITION)
        scores = 0.5 * (a_first + a_second.astype(float))
        scores[rng.random(len(effect)) < TIE] = 0.5
        users = [f"user{user}" for user in np.repeat(np.arange(UNBALANCED_USERS), sizes)]
        summary = summarize_win_rate([SCORED[float(s)] for s in scores], users)
        assert summary.ci_method == "cr2-ik-logit"
        covered += summary.ci_low <= truth <= summary.ci_high
    coverage = covered / UNBALANCED_RUNS
    print(
        f"unbalanced, {UNBALANCED_USERS} users: coverage {coverage:.3f} of {truth:.3f} "
        f"({UNBALANCED_RUNS} runs, {time.perf_counter() - start:.1f} s)"
    )
    assert coverage >= 0.93


TRUE_WIN_RATE = 0.65  # expected score: P(win) + P(tie) / 2
TIE_PROB = 0.1
SPREAD = 0.15  # per-user P(win) is uniform on 0.60 ± SPREAD (mean score 0.65 across users)
N_EXPERIMENTS, PAIRS_PER_USER = 300, 20


@pytest.mark.parametrize("n_users", [10, 30])
def test_balanced_users_coverage(n_users: int) -> None:
    rng = np.random.default_rng(20261127)
    mean_win_prob = TRUE_WIN_RATE - TIE_PROB / 2
    users = [f"user{u}" for u in range(n_users) for _ in range(PAIRS_PER_USER)]
    covered = 0
    start = time.perf_counter()
    for _ in range(N_EXPERIMENTS):
        outcomes = []
        for win_prob in rng.uniform(mean_win_prob - SPREAD, mean_win_prob + SPREAD, n_users):
            probs = [win_prob, TIE_PROB, 1.0 - TIE_PROB - win_prob]
            kinds = rng.choice(["win", "tie", "loss"], size=PAIRS_PER_USER, p=probs)
            outcomes.extend(OUTCOMES[kind] for kind in kinds)
        summary = summarize_win_rate(outcomes, users)
        assert summary.ci_method == "cr2-ik-logit"
        covered += summary.ci_low <= TRUE_WIN_RATE <= summary.ci_high
    coverage = covered / N_EXPERIMENTS
    elapsed = time.perf_counter() - start
    print(
        f"balanced, {n_users} users: coverage {coverage:.3f} "
        f"({N_EXPERIMENTS} runs, {elapsed:.1f} s)"
    )
    assert 0.91 <= coverage <= 0.99


LC_EXPERIMENTS = 300
LENGTH_BIASED = SimulatedJudge(quality=0.4, length=1.0, user_sd=0.3)


def true_length_controlled_win_rate(judge: SimulatedJudge) -> float:
    """A's expected pair score at equal length, over users: E_u[expit(quality + u)]."""
    shifts = np.random.default_rng(0).normal(0.0, judge.user_sd, 400_000)
    return float(np.mean(expit(judge.quality + shifts)))


@pytest.mark.parametrize(("n_users", "pairs_per_user"), [(10, 20), (30, 10)])
def test_length_controlled_interval_coverage(n_users: int, pairs_per_user: int):
    """300 simulated benchmarks: Monte Carlo SE about 0.013, bounds 0.91-0.99 as above."""
    truth = true_length_controlled_win_rate(LENGTH_BIASED)  # about 0.60
    rng = np.random.default_rng(20261201)
    covered = 0
    raw_rates = []
    start = time.perf_counter()
    for _ in range(LC_EXPERIMENTS):
        pairs = simulate_pairs(LENGTH_BIASED, n_users, pairs_per_user, rng, length_shift=150)
        scores = [pair.score for pair in pairs]
        result = length_controlled_win_rate(
            scores, [pair.length_a - pair.length_b for pair in pairs], [p.user for p in pairs]
        )
        assert result.lc_ci_method == "cr2-ik"
        covered += result.lc_ci_low <= truth <= result.lc_ci_high
        raw_rates.append(np.mean(scores))
    coverage = covered / LC_EXPERIMENTS
    print(
        f"{n_users} users, length-controlled: coverage {coverage:.3f} of the true {truth:.3f}, "
        f"mean raw win rate {np.mean(raw_rates):.3f} ({LC_EXPERIMENTS} runs, "
        f"{time.perf_counter() - start:.1f} s)"
    )
    assert 0.91 <= coverage <= 0.99
    assert np.mean(raw_rates) > truth + 0.04  # the planted length bias inflates the raw rate
