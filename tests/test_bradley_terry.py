import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit

from prefbench.scorers.stats.bradley_terry import (
    PRIOR_SD,
    Battle,
    Rating,
    bradley_terry_ratings,
    fit_bradley_terry,
)

ELO_PER_LOGIT = 400 / math.log(10)

STRENGTHS = {"s1": 1.0, "s2": 2.0, "s4": 4.0, "s8": 8.0}


def simulate(n_battles: int, seed: int, n_users: int = 30, tie_prob: float = 0.0) -> list[Battle]:
    """Battles between random pairs of systems with true Bradley–Terry strengths STRENGTHS."""
    rng = np.random.default_rng(seed)
    names = list(STRENGTHS)
    battles = []
    for _ in range(n_battles):
        i, j = rng.choice(len(names), size=2, replace=False)
        a, b = names[i], names[j]
        user = f"user{rng.integers(n_users)}"
        if rng.random() < tie_prob:
            battles.append(Battle(a, b, "tie", user))
            continue
        p_win = STRENGTHS[a] / (STRENGTHS[a] + STRENGTHS[b])
        battles.append(Battle(a, b, "win" if rng.random() < p_win else "loss", user))
    return battles


def test_recovers_known_strengths():
    ratings = fit_bradley_terry(simulate(3000, seed=0))
    assert sorted(ratings, key=ratings.get) == ["s1", "s2", "s4", "s8"]
    assert sum(ratings.values()) / len(ratings) == pytest.approx(1000)
    # With ~500 battles per pair, the standard error of a fitted rating difference is
    # ~15 Elo points (measured over 30 seeds: sd 14-15, max |error| 38); 50 is ~3.5 SE.
    for weak in STRENGTHS:
        for strong in STRENGTHS:
            expected = 400 * math.log10(STRENGTHS[strong] / STRENGTHS[weak])
            assert ratings[strong] - ratings[weak] == pytest.approx(expected, abs=50)


def map_difference(wins: float, losses: float) -> float:
    """Two systems, strengths ±d/2 under the N(0, PRIOR_SD²) prior: the posterior mode's d.

    The log-posterior's derivative in d is wins·(1 - p) - losses·p - d / (2·PRIOR_SD²),
    p = expit(d); its root is the MAP difference in natural-log units.
    """

    def slope(d: float) -> float:
        return wins * (1 - expit(d)) - losses * expit(d) - d / (2 * PRIOR_SD**2)

    return brentq(slope, -50, 50)


def test_matches_closed_form_for_two_systems():
    battles = [Battle("a", "b", "win", "u")] * 30 + [Battle("a", "b", "loss", "u")] * 10
    battles += [Battle("b", "a", "tie", "v")] * 10  # 5 wins each: a 35, b 15
    ratings = fit_bradley_terry(battles)
    difference = ratings["a"] - ratings["b"]
    assert difference == pytest.approx(map_difference(35, 15) * ELO_PER_LOGIT, abs=1e-3)
    # The prior is weak: 50 battles leave the MAP within about 1 Elo point of the MLE.
    assert difference == pytest.approx(400 * math.log10(35 / 15), abs=2)


@pytest.mark.parametrize("n_battles", [1, 6, 60])
def test_perfect_separation_is_finite_bounded_and_anchored(n_battles):
    # "winner" wins every battle: no finite MLE exists; the MAP is the closed form's root.
    battles = [Battle("winner", "reference", "win", f"u{i}") for i in range(n_battles)]
    ratings = fit_bradley_terry(battles, anchor="reference")
    assert ratings["reference"] == 1000
    expected = 1000 + map_difference(n_battles, 0) * ELO_PER_LOGIT
    assert ratings["winner"] == pytest.approx(expected, abs=1e-3)
    assert 1000 < ratings["winner"] < 2000


def test_simulated_perfect_separation_gives_ordered_bounded_ratings():
    # The demo's layout: the reference meets every other system on 6 pairs (one per user);
    # "best" wins all of its pairs, "worst" loses all, "even" splits. Before the prior the
    # ratings spanned 297 to 2097 Elo; now they are finite, ordered and within ±700.
    outcomes = {"best": ["loss"] * 6, "worst": ["win"] * 6, "even": ["win", "loss"] * 3}
    battles = [
        Battle("reference", other, outcome, f"u{i}")
        for other, results in outcomes.items()
        for i, outcome in enumerate(results)
    ]
    ratings = bradley_terry_ratings(battles, n_resamples=200, anchor="reference")
    by_system = {rating.system: rating for rating in ratings}
    assert [rating.system for rating in ratings][0] == "best"
    assert [rating.system for rating in ratings][-1] == "worst"
    assert by_system["reference"].rating == 1000
    for rating in ratings:
        assert all(math.isfinite(v) for v in (rating.rating, rating.ci_low, rating.ci_high))
        assert 300 <= rating.ci_low <= rating.rating <= rating.ci_high <= 1700


def test_all_ties_give_equal_ratings():
    battles = [
        Battle("a", "b", "tie", "u1"),
        Battle("b", "c", "tie", "u2"),
        Battle("c", "a", "tie", "u1"),
        Battle("a", "b", "tie", "u2"),
    ]
    ratings = fit_bradley_terry(battles)
    assert ratings == pytest.approx({"a": 1000.0, "b": 1000.0, "c": 1000.0}, abs=1e-6)


def test_tie_counts_as_half_a_win_each():
    win_loss = [Battle("a", "b", "win", "u"), Battle("a", "b", "loss", "u")] * 5
    ties = [Battle("a", "b", "win", "u")] * 5 + [Battle("a", "b", "tie", "u")] * 10
    ties += [Battle("a", "b", "loss", "u")] * 5
    assert fit_bradley_terry(win_loss)["a"] == pytest.approx(1000, abs=1e-6)
    assert fit_bradley_terry(ties)["a"] == pytest.approx(1000, abs=1e-6)


def test_anchor_pins_system_and_keeps_differences():
    battles = simulate(1000, seed=1)
    centered = fit_bradley_terry(battles)
    anchored = fit_bradley_terry(battles, anchor="s1")
    assert anchored["s1"] == 1000
    shift = anchored["s8"] - centered["s8"]
    for system in STRENGTHS:
        assert anchored[system] - centered[system] == pytest.approx(shift, abs=1e-6)
    assert fit_bradley_terry(battles, anchor="s2", initial=1500)["s2"] == 1500


def test_scale_and_base():
    battles = simulate(1000, seed=2)
    elo = fit_bradley_terry(battles)
    natural = fit_bradley_terry(battles, scale=1.0, base=math.e, initial=0.0)
    for system in STRENGTHS:
        assert natural[system] == pytest.approx((elo[system] - 1000) * math.log(10) / 400)


def test_undefeated_and_winless_systems_stay_finite():
    battles = [Battle("champ", "mid", "win", "u")] * 5 + [Battle("mid", "last", "win", "u")] * 5
    battles += [Battle("mid", "last", "loss", "v")] * 2 + [Battle("champ", "last", "win", "v")]
    ratings = fit_bradley_terry(battles)
    assert all(math.isfinite(value) for value in ratings.values())
    assert ratings["champ"] > ratings["mid"] > ratings["last"]


def test_ratings_sorted_with_intervals_containing_point():
    ratings = bradley_terry_ratings(simulate(1500, seed=3), n_resamples=200)
    assert [r.system for r in ratings] == ["s8", "s4", "s2", "s1"]
    for rating in ratings:
        assert isinstance(rating, Rating)
        assert rating.ci_low < rating.rating < rating.ci_high
        assert set(rating.to_dict()) == {"system", "rating", "ci_low", "ci_high"}


def test_interval_narrows_with_more_data():
    small = {r.system: r for r in bradley_terry_ratings(simulate(300, seed=4), n_resamples=200)}
    large = {r.system: r for r in bradley_terry_ratings(simulate(6000, seed=4), n_resamples=200)}
    for system in STRENGTHS:
        small_width = small[system].ci_high - small[system].ci_low
        large_width = large[system].ci_high - large[system].ci_low
        assert large_width < small_width / 2


def test_bootstrap_reproducible_with_seed():
    battles = simulate(600, seed=5)
    first = bradley_terry_ratings(battles, n_resamples=100, seed=7)
    assert bradley_terry_ratings(battles, n_resamples=100, seed=7) == first
    assert bradley_terry_ratings(battles, n_resamples=100, seed=8) != first


def test_bootstrap_with_anchor():
    ratings = bradley_terry_ratings(simulate(600, seed=6), n_resamples=100, anchor="s2")
    anchored = next(r for r in ratings if r.system == "s2")
    assert anchored.rating == anchored.ci_low == anchored.ci_high == 1000


def test_bootstrap_with_a_single_user():
    battles = [Battle("a", "b", "win", "u")] * 3 + [Battle("a", "b", "loss", "u")]
    ratings = bradley_terry_ratings(battles, n_resamples=20)
    for rating in ratings:
        # One user: every resample is the data itself, so the interval is the point.
        assert rating.ci_low == pytest.approx(rating.rating)
        assert rating.ci_high == pytest.approx(rating.rating)


@pytest.mark.parametrize(
    ("battles", "message"),
    [
        ([], "empty"),
        ([Battle("a", "b", "parse_failure", "u")], "parse_failure"),  # type: ignore[arg-type]
        ([Battle("a", "b", "draw", "u")], "'draw'"),  # type: ignore[arg-type]
        ([Battle("a", "a", "win", "u")], "against itself"),
    ],
)
def test_invalid_battles_raise(battles, message):
    with pytest.raises(ValueError, match=message):
        fit_bradley_terry(battles)
    with pytest.raises(ValueError, match=message):
        bradley_terry_ratings(battles, n_resamples=5)


def test_invalid_arguments_raise():
    battles = [Battle("a", "b", "win", "u")]
    with pytest.raises(ValueError, match="anchor 'z'"):
        fit_bradley_terry(battles, anchor="z")
    with pytest.raises(ValueError, match="scale"):
        fit_bradley_terry(battles, scale=0)
    with pytest.raises(ValueError, match="base"):
        fit_bradley_terry(battles, base=1)
    with pytest.raises(ValueError, match="confidence"):
        bradley_terry_ratings(battles, confidence=1.0)
    with pytest.raises(ValueError, match="n_resamples"):
        bradley_terry_ratings(battles, n_resamples=0)
