"""Length-controlled win rate: the AlpacaEval 2.0 model, a planted length bias removed."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit

from prefbench.scorers.stats import length_controlled_win_rate, summarize_win_rate
from prefbench.scorers.stats.cluster_robust import logistic_cr2, t_interval
from prefbench.scorers.stats.length_control import normalized_length_gap
from prefbench.scorers.stats.logistic import fit_clustered_logistic, separated
from tests.simulated_judges import SimulatedJudge, simulate_pairs


def comparison(pairs):
    scores = [pair.score for pair in pairs]
    deltas = [pair.length_a - pair.length_b for pair in pairs]
    users = [pair.user for pair in pairs]
    return scores, deltas, users


def test_matches_an_unpenalized_glm_on_plenty_of_data():
    rng = np.random.default_rng(0)
    users = [f"u{i % 20}" for i in range(2000)]
    deltas = rng.normal(0, 300, 2000)
    gap = normalized_length_gap(deltas)
    outcomes = (rng.random(2000) < expit(0.4 + 1.2 * gap)).astype(float)
    result = length_controlled_win_rate(outcomes.tolist(), deltas.tolist(), users)
    glm = sm.GLM(outcomes, sm.add_constant(gap), family=sm.families.Binomial()).fit()
    assert result.lc_win_rate == pytest.approx(expit(glm.params[0]), abs=2e-3)
    assert result.length_coefficient == pytest.approx(glm.params[1], abs=0.02)
    assert result.lc_ci_method == "cr2-ik"
    assert result.lc_separation is False


def test_the_interval_is_the_cr2_t_interval_of_theta():
    rng = np.random.default_rng(1)
    users = [f"u{i % 8}" for i in range(400)]
    design = np.column_stack([np.ones(400), rng.normal(size=400)])
    outcomes = (rng.random(400) < expit(design @ [0.3, 0.7])).astype(float)
    fit = fit_clustered_logistic(outcomes, design, users, prior_sd=[1e6, 1e6])  # no prior
    glm = sm.GLM(outcomes, design, family=sm.families.Binomial()).fit()
    assert fit.coefficients == pytest.approx(glm.params, abs=1e-6)
    cr2 = logistic_cr2(design, outcomes, fit.cluster, fit.coefficients, fit.precision, [1, 0])
    low, high = t_interval(fit.coefficients[0], cr2.covariance[0, 0], cr2.df)
    interval = fit.interval([1.0, 0.0], expit)
    assert (interval.low, interval.high) == pytest.approx((expit(low), expit(high)), rel=1e-12)
    assert interval.method == "cr2-ik" and interval.users == 8


def test_complete_separation_is_flagged_and_never_narrower_than_the_raw_interval():
    """Issue 24: the longer output won every decided pair, so a plain GLM diverges (θ = -830
    for one demo row) and the prior alone set three length-controlled rows, two of them
    narrower than the raw interval."""
    deltas = [120, -80, 60, -150, 30, -40, 90, -10, 0, 0]
    scores = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.5, 0.5]
    users = ["u1", "u2", "u3", "u1", "u2", "u3", "u1", "u2", "u3", "u1"]
    raw = summarize_win_rate_of(scores, users)
    controlled = length_controlled_win_rate(scores, deltas, users)
    assert separated(np.column_stack([np.ones(10), normalized_length_gap(deltas)]), scores)
    assert controlled.lc_separation is True
    assert controlled.lc_ci_low <= raw.ci_low and controlled.lc_ci_high >= raw.ci_high


def test_removes_a_planted_length_bias():
    # A and B are equally good; A writes longer and the judge likes length.
    judge = SimulatedJudge(quality=0.0, length=1.5, user_sd=0.2)
    rng = np.random.default_rng(4)
    pairs = simulate_pairs(judge, n_users=15, pairs_per_user=20, rng=rng, length_shift=250)
    scores, deltas, users = comparison(pairs)
    raw = summarize_win_rate_of(scores, users)
    controlled = length_controlled_win_rate(scores, deltas, users)
    assert raw.ci_low > 0.5  # the raw win rate is inflated by length
    assert controlled.lc_ci_low <= 0.5 <= controlled.lc_ci_high
    assert controlled.length_coefficient > 0.5


def summarize_win_rate_of(scores, users):
    from prefbench.scorers.outcome import PairOutcome

    kind = {1.0: "win", 0.0: "loss", 0.5: "tie"}
    outcomes = [PairOutcome(kind[s], s, s != 0.5) for s in scores]
    return summarize_win_rate(outcomes, users)


def test_without_length_bias_it_agrees_with_the_raw_rate():
    judge = SimulatedJudge(quality=0.6, user_sd=0.2)
    pairs = simulate_pairs(judge, n_users=12, pairs_per_user=20, rng=np.random.default_rng(5))
    scores, deltas, users = comparison(pairs)
    raw = summarize_win_rate_of(scores, users)
    controlled = length_controlled_win_rate(scores, deltas, users)
    assert controlled.lc_win_rate == pytest.approx(raw.win_rate, abs=0.03)


@pytest.mark.parametrize(
    ("scores", "deltas"),
    [
        ([1.0, 1.0, 1.0, 1.0], [10, -5, 30, 0]),  # every pair won
        ([0.0, 0.0, 0.0], [10, -5, 30]),  # every pair lost
        ([0.5, 0.5, 0.5, 0.5], [10, -5, 30, 0]),  # every pair tied
        ([1.0, 0.0, 0.5, 1.0], [7, 7, 7, 7]),  # the same length difference everywhere
    ],
    ids=["all-won", "all-lost", "all-tied", "no-length-variation"],
)
def test_no_length_to_control_keeps_the_raw_rate(scores, deltas):
    users = ["u1", "u2", "u1", "u2"][: len(scores)]
    raw = summarize_win_rate_of(scores, users)
    controlled = length_controlled_win_rate(scores, deltas, users)
    assert controlled.lc_win_rate == pytest.approx(raw.win_rate)
    assert (controlled.lc_ci_low, controlled.lc_ci_high) == pytest.approx((raw.ci_low, raw.ci_high))
    assert controlled.lc_ci_method == raw.ci_method
    assert controlled.length_coefficient is None and controlled.lc_separation is None


def test_parse_failures_are_left_out_and_nothing_scored_gives_none():
    assert length_controlled_win_rate([None, None], [1, 2], ["u", "v"]).lc_win_rate is None
    with_failure = length_controlled_win_rate([1.0, None, 0.0], [5, 9, -5], ["u", "v", "w"])
    without = length_controlled_win_rate([1.0, 0.0], [5, -5], ["u", "w"])
    assert with_failure == without


def test_bad_input_raises():
    with pytest.raises(ValueError, match="same length"):
        length_controlled_win_rate([1.0], [1, 2], ["u"])
    with pytest.raises(ValueError, match="confidence"):
        length_controlled_win_rate([1.0], [1], ["u"], confidence=1.5)
    with pytest.raises(ValueError, match="outcomes must lie"):
        fit_clustered_logistic([2.0], np.ones((1, 1)), ["u"])
