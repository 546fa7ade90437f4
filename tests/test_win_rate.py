import math
import warnings
from statistics import NormalDist

import numpy as np
import pytest
from scipy.special import expit, logit
from scipy.stats import t as student_t

from prefbench.scorers.outcome import PairOutcome
from prefbench.scorers.stats import (
    WinRateSummary,
    clustered_mean_interval,
    rate_interval,
    summarize_win_rate,
)

WIN = PairOutcome("win", 1.0, True)
LOSS = PairOutcome("loss", 0.0, True)
TIE = PairOutcome("tie", 0.5, False)
FAIL = PairOutcome("parse_failure", None, None)
WIN_ONE_ORDER = PairOutcome("win", 1.0, None)  # each_order_half with one order parsed

REPORT_KEYS = {
    "n",
    "wins",
    "losses",
    "ties",
    "parse_failures",
    "win_rate",
    "ci_low",
    "ci_high",
    "p_value",
    "position_consistency",
}


def wilson(count: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Closed-form Wilson score interval."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = count / n
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial test at p = 0.5, by hand."""
    trials = wins + losses
    tail = sum(math.comb(trials, k) for k in range(min(wins, losses) + 1)) / 2**trials
    return min(1.0, 2 * tail)


def test_hand_computed_single_user() -> None:
    outcomes = [WIN, WIN, WIN, LOSS, TIE, FAIL, FAIL]
    summary = summarize_win_rate(outcomes, ["u"] * len(outcomes))
    assert (summary.n, summary.wins, summary.losses, summary.ties) == (5, 3, 1, 1)
    assert summary.parse_failures == 2
    assert summary.win_rate == pytest.approx(3.5 / 5)
    assert summary.position_consistency == pytest.approx(4 / 5)
    assert summary.ci_method == "wilson"
    low, high = wilson(3.5, 5)
    assert summary.ci_low == pytest.approx(low, abs=1e-12)
    assert summary.ci_high == pytest.approx(high, abs=1e-12)
    assert summary.p_value == pytest.approx(sign_test(3, 1))  # = 0.625
    assert summary.p_value == pytest.approx(0.625)


@pytest.mark.parametrize(("wins", "losses"), [(10, 0), (7, 3), (5, 5), (1, 12), (40, 22)])
def test_p_value_matches_hand_computation(wins: int, losses: int) -> None:
    outcomes = [WIN] * wins + [LOSS] * losses + [TIE] * 3
    summary = summarize_win_rate(outcomes, ["u"] * len(outcomes))
    assert summary.p_value == pytest.approx(sign_test(wins, losses), rel=1e-9)


@pytest.mark.parametrize(("count", "n", "confidence"), [(0, 4, 0.95), (4, 4, 0.95), (6.5, 11, 0.9)])
def test_wilson_matches_closed_form(count: float, n: int, confidence: float) -> None:
    wins, ties = int(count), round(2 * (count - int(count)))
    outcomes = [WIN] * wins + [TIE] * ties + [LOSS] * (n - wins - ties)
    summary = summarize_win_rate(outcomes, ["u"] * n, confidence=confidence)
    low, high = wilson(count, n, confidence)
    assert summary.ci_method == "wilson"
    assert summary.ci_low == pytest.approx(low, abs=1e-12)
    assert summary.ci_high == pytest.approx(high, abs=1e-12)


def test_no_decisive_pairs_has_no_p_value() -> None:
    summary = summarize_win_rate([TIE, TIE, FAIL], ["u", "v", "v"])
    assert summary.p_value is None
    assert summary.win_rate == 0.5


def test_empty_and_all_failures() -> None:
    for outcomes in ([], [FAIL, FAIL]):
        summary = summarize_win_rate(outcomes, ["u"] * len(outcomes))
        assert summary.n == 0
        assert summary.parse_failures == len(outcomes)
        assert summary.win_rate is None
        assert summary.ci_low is None and summary.ci_high is None
        assert summary.ci_method is None
        assert summary.p_value is None
        assert summary.position_consistency is None


def test_position_consistency_ignores_unknown() -> None:
    summary = summarize_win_rate([WIN, TIE, WIN_ONE_ORDER, FAIL], ["u"] * 4)
    assert summary.position_consistency == pytest.approx(1 / 2)
    assert summary.n == 3 and summary.wins == 2


def test_to_dict_has_report_keys() -> None:
    summary = summarize_win_rate([WIN, LOSS], ["u", "v"])
    record = summary.to_dict()
    assert REPORT_KEYS <= set(record)
    assert set(record) == REPORT_KEYS | {"ci_method", "users", "ci_guaranteed"}
    assert isinstance(summary, WinRateSummary)


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="same length"):
        summarize_win_rate([WIN, LOSS], ["u"])


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95])
def test_bad_confidence_raises(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        summarize_win_rate([WIN], ["u"], confidence=confidence)


def several_users() -> tuple[list[PairOutcome], list[str]]:
    pattern = {
        "alice": [WIN, WIN, WIN, WIN, LOSS],
        "bob": [WIN, LOSS, LOSS, TIE],
        "carol": [WIN, WIN, TIE, FAIL],
        "dave": [LOSS, LOSS, WIN],
        "erin": [WIN, WIN, WIN, WIN, WIN, WIN, TIE],
        "frank": [WIN, LOSS],
    }
    outcomes = [o for user_outcomes in pattern.values() for o in user_outcomes]
    users = [user for user, user_outcomes in pattern.items() for _ in user_outcomes]
    return outcomes, users


def many_users() -> tuple[list[PairOutcome], list[str]]:
    """The six users' pattern five times over: 30 users."""
    outcomes, users = several_users()
    return outcomes * 5, [f"{user}-{copy}" for copy in range(5) for user in users]


def hand_cr2_logit(outcomes: list[PairOutcome], users: list[str]) -> tuple[float, float]:
    """Independent CR2 / Imbens–Kolesár logit interval from dense G × G matrices.

    V = Σ_g S_g² / (1 - h_g) / n²; ρ = one-way ANOVA ICC of the scores by user; df =
    (tr Ω)² / tr(Ω²) with Ω = (1 - ρ) CKC + ρ CK²C, K = diag(n_g) - n nᵀ / N,
    C = diag((1 - h_g)^(-1/2)); interval expit(logit μ ± t_df √V / (μ (1 - μ))).
    """
    scored = [(o.score, u) for o, u in zip(outcomes, users, strict=True) if o.score is not None]
    names = sorted({u for _, u in scored})
    groups = [np.array([s for s, u in scored if u == name]) for name in names]
    sizes = np.array([len(g) for g in groups], dtype=float)
    total = sizes.sum()
    mean = sum(g.sum() for g in groups) / total
    h = sizes / total
    residual_sums = np.array([(g - mean).sum() for g in groups])
    variance = np.sum(residual_sums**2 / (1 - h)) / total**2
    k = len(groups)
    msb = sum(len(g) * (g.mean() - mean) ** 2 for g in groups) / (k - 1)
    msw = sum(((g - g.mean()) ** 2).sum() for g in groups) / (total - k)
    n0 = (total - (sizes**2).sum() / total) / (k - 1)
    between = max((msb - msw) / n0, 0.0)
    rho = between / (between + msw)
    kmat = np.diag(sizes) - np.outer(sizes, sizes) / total
    c = np.diag(1 / np.sqrt(1 - h))
    omega = (1 - rho) * c @ kmat @ c + rho * c @ kmat @ kmat @ c
    df = np.trace(omega) ** 2 / np.sum(omega**2)
    half = student_t.ppf(0.975, df) * math.sqrt(variance) / (mean * (1 - mean))
    return float(expit(logit(mean) - half)), float(expit(logit(mean) + half))


@pytest.mark.parametrize("users_of", [several_users, many_users])
def test_several_users_get_the_cr2_logit_interval(users_of) -> None:
    outcomes, users = users_of()
    summary = summarize_win_rate(outcomes, users)
    assert summary.ci_method == "cr2-ik-logit"
    assert summary.win_rate == pytest.approx((15 + 3 / 2) / 24)
    assert 0.0 < summary.ci_low <= summary.win_rate <= summary.ci_high < 1.0
    low, high = hand_cr2_logit(outcomes, users)
    assert (summary.ci_low, summary.ci_high) == pytest.approx((low, high), abs=1e-9)
    assert summary.users == len(set(users)) and summary.ci_guaranteed


def test_fewer_than_five_users_are_not_guaranteed() -> None:
    outcomes, users = several_users()
    kept = [(o, u) for o, u in zip(outcomes, users, strict=True) if u in ("alice", "bob", "dave")]
    summary = summarize_win_rate([o for o, _ in kept], [u for _, u in kept])
    assert summary.ci_method == "cr2-ik-logit"
    assert summary.users == 3 and summary.ci_guaranteed is False


def test_the_interval_is_deterministic() -> None:
    outcomes, users = many_users()
    assert summarize_win_rate(outcomes, users) == summarize_win_rate(outcomes, users)


def test_users_with_only_failures_do_not_count_as_clusters() -> None:
    summary = summarize_win_rate([WIN, LOSS, WIN, FAIL, FAIL], ["u", "u", "u", "v", "w"])
    assert summary.ci_method == "wilson"
    assert summary.n == 3 and summary.parse_failures == 2


def test_degenerate_bootstrap_falls_back_to_wilson_without_warnings() -> None:
    outcomes = [WIN] * 9  # every user wins everything: each resample gives 1.0
    users = ["u"] * 3 + ["v"] * 2 + ["w"] * 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = summarize_win_rate(outcomes, users)
    assert summary.ci_method == "wilson"
    low, high = wilson(9, 9)
    assert summary.ci_low == pytest.approx(low, abs=1e-12)
    assert summary.ci_high == pytest.approx(high, abs=1e-12)
    assert summary.win_rate == 1.0


def test_identical_user_rates_with_ties_fall_back() -> None:
    outcomes = [WIN, LOSS, WIN, LOSS, TIE, TIE]
    users = ["u", "u", "v", "v", "w", "w"]  # every user at 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = summarize_win_rate(outcomes, users)
    assert summary.ci_method == "wilson"
    assert summary.win_rate == 0.5
    assert summary.ci_low < 0.5 < summary.ci_high


# --- the shared interval rule (win rates, first-choice shares, similarity means) ----------


def scores_by_user(outcomes: list[PairOutcome], users: list[str]) -> dict[str, list[float]]:
    by_user: dict[str, list[float]] = {}
    for outcome, user in zip(outcomes, users, strict=True):
        if outcome.score is not None:
            by_user.setdefault(user, []).append(outcome.score)
    return by_user


def test_win_rate_interval_is_the_shared_rate_interval() -> None:
    outcomes, users = several_users()
    summary = summarize_win_rate(outcomes, users)
    interval = rate_interval(scores_by_user(outcomes, users))
    assert (summary.ci_low, summary.ci_high, summary.ci_method) == (
        interval.low,
        interval.high,
        interval.method,
    )


def test_unbounded_means_use_the_linear_scale_and_the_metric_range() -> None:
    values = {"u": [-0.9, -0.7], "v": [0.1], "w": [-0.2, 0.3]}
    interval = clustered_mean_interval(values, scale="linear")
    assert interval.method == "cr2-ik"
    assert interval.low < -1.0  # three users: few degrees of freedom, a wide interval
    clipped = clustered_mean_interval(values, scale="linear", bounds=(-1.0, 1.0))
    assert clipped.low == -1.0


def test_interval_needs_two_users_with_values_and_a_spread() -> None:
    assert clustered_mean_interval({"u": [0.1, 0.9], "v": []}) is None
    assert clustered_mean_interval({"u": [0.1, 0.9], "v": [0.5, 0.5]}) is None  # same mean


@pytest.mark.parametrize(
    "weights", [{"u": [1.0], "v": [1.0]}, {"u": [1.0, 0.0], "v": [1.0]}], ids=["short", "zero"]
)
def test_bad_weights_name_the_user(weights: dict[str, list[float]]) -> None:
    with pytest.raises(ValueError, match="user 'u'"):
        clustered_mean_interval({"u": [0.1, 0.9], "v": [0.5]}, weights_by_user=weights)
