import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit

from prefbench.scorers.outcome import PairOutcome
from prefbench.scorers.stats import INTERCEPT_PRIOR_SD, summarize_win_rate
from prefbench.scorers.stats.bradley_terry import (
    Battle,
    Rating,
    bradley_terry_ratings,
    fit_bradley_terry,
    separated_systems,
)

ELO_PER_LOGIT = 400 / math.log(10)

STRENGTHS = {"s1": 1.0, "s2": 2.0, "s4": 4.0, "s8": 8.0}
OUTCOMES = {
    "win": PairOutcome("win", 1.0, True),
    "loss": PairOutcome("loss", 0.0, True),
    "tie": PairOutcome("tie", 0.5, False),
}
TIE = OUTCOMES["tie"]


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
    """A system against the anchor under the N(0, INTERCEPT_PRIOR_SD²) prior on its
    difference: the posterior mode's difference d in natural-log units, the root of
    wins·(1 - expit(d)) - losses·expit(d) - d / INTERCEPT_PRIOR_SD²."""

    def slope(d: float) -> float:
        return wins * (1 - expit(d)) - losses * expit(d) - d / INTERCEPT_PRIOR_SD**2

    return brentq(slope, -50, 50)


def test_matches_closed_form_against_the_anchor():
    battles = [Battle("a", "b", "win", "u")] * 30 + [Battle("a", "b", "loss", "u")] * 10
    battles += [Battle("b", "a", "tie", "v")] * 10  # 5 wins each: a 35, b 15
    ratings = fit_bradley_terry(battles, anchor="b")
    assert ratings["b"] == 1000
    assert ratings["a"] - 1000 == pytest.approx(map_difference(35, 15) * ELO_PER_LOGIT, abs=1e-3)
    # The prior is nearly flat: 50 battles leave the MAP within 1 Elo point of the MLE.
    assert ratings["a"] - 1000 == pytest.approx(400 * math.log10(35 / 15), abs=1)


@pytest.mark.parametrize("ties", [4, 6])
def test_a_system_that_only_tied_the_reference_rates_exactly_the_reference(ties):
    """Issue 24: 6 ties against the reference rated 1012 and 4 ties 1033 under the old prior
    (it shrank towards the mean of all systems, not towards equality with the reference)."""
    battles = [Battle("reference", "tier", "tie", f"u{i % 3}") for i in range(ties)]
    battles += [Battle("reference", "strong", "loss", f"u{i % 3}") for i in range(5)]
    battles += [Battle("reference", "strong", "win", "u0")]
    battles += [Battle("reference", "weak", "win", f"u{i % 3}") for i in range(6)]
    ratings = {r.system: r for r in bradley_terry_ratings(battles, anchor="reference")}
    assert ratings["tier"].rating == 1000.0
    assert ratings["tier"].ci_low < 1000 < ratings["tier"].ci_high
    assert fit_bradley_terry(battles, anchor="reference")["tier"] == 1000.0


def test_four_ties_rating_and_win_rate_intervals_agree_in_direction():
    """The issue's no_baseline_agent: 4 ties against the reference over 3 users. Its win-rate
    interval holds 50 %, so its rating interval must hold the reference's 1000 (it was
    [1021, 1170] with the user bootstrap)."""
    users = ["u0", "u1", "u2", "u0"]
    battles = [Battle("reference", "no_baseline_agent", "tie", user) for user in users]
    battles += [Battle("reference", "naive", "win", f"u{i % 3}") for i in range(5)]
    battles += [Battle("reference", "naive", "loss", "u1")]
    rating = next(
        r
        for r in bradley_terry_ratings(battles, anchor="reference")
        if r.system == "no_baseline_agent"
    )
    win_rate = summarize_win_rate([TIE] * 4, users)
    assert win_rate.ci_low < 0.5 < win_rate.ci_high
    assert rating.ci_low < 1000 < rating.ci_high
    assert rating.ci_guaranteed is False  # three users


def star_battles(rng: np.random.Generator) -> tuple[list[Battle], dict[str, list]]:
    """Every system meets the reference only; users of very unequal size, ties, user effects."""
    battles, by_system = [], {}
    n_users = int(rng.integers(2, 12))
    for system in ("b1", "b2", "b3"):
        quality = rng.normal(0.0, 1.0)
        for user in range(n_users):
            for _ in range(1 + rng.negative_binomial(0.5, 0.5 / 7.5)):
                p_win = expit(quality + rng.normal(0.0, 0.5))
                tie = rng.random() < 0.15
                outcome = "tie" if tie else ("win" if rng.random() < p_win else "loss")
                battles.append(Battle("reference", system, outcome, f"u{user}"))
                by_system.setdefault(system, []).append((OUTCOMES[outcome], f"u{user}"))
    return battles, by_system


def test_rating_intervals_agree_with_win_rate_intervals_in_direction():
    """Over 100 random benchmarks (300 systems) a rating interval excludes the reference's
    1000 exactly when the win-rate interval of that comparison excludes 50 %."""
    rng = np.random.default_rng(20260524)
    checked = excluded = 0
    for _ in range(100):
        battles, by_system = star_battles(rng)
        ratings = {r.system: r for r in bradley_terry_ratings(battles, anchor="reference")}
        for system, rows in by_system.items():
            rating = ratings[system]
            if rating.separated:
                assert rating.ci_low is None
                continue
            win_rate = summarize_win_rate([o for o, _ in rows], [u for _, u in rows])
            rating_excludes = not rating.ci_low <= 1000 <= rating.ci_high
            assert rating_excludes == (not win_rate.ci_low <= 0.5 <= win_rate.ci_high)
            assert rating.ci_method == win_rate.ci_method
            checked += 1
            excluded += rating_excludes
    assert checked > 250 and 30 < excluded < checked - 30  # both directions were exercised


@pytest.mark.parametrize("n_battles", [1, 6, 60])
def test_separation_is_finite_flagged_and_has_no_interval(n_battles):
    # "winner" wins every battle: no finite MLE exists; the MAP is the closed form's root.
    battles = [Battle("winner", "reference", "win", f"u{i}") for i in range(n_battles)]
    battles += [
        Battle("reference", "other", "win", "u0"),
        Battle("reference", "other", "loss", "u1"),
    ]
    ratings = {r.system: r for r in bradley_terry_ratings(battles, anchor="reference")}
    assert ratings["reference"].rating == 1000
    expected = 1000 + map_difference(n_battles, 0) * ELO_PER_LOGIT
    assert ratings["winner"].rating == pytest.approx(expected, abs=1e-3)
    assert ratings["winner"].separated and ratings["winner"].ci_low is None
    assert not ratings["other"].separated and ratings["other"].ci_low < 1000


def test_separated_systems_follow_the_win_graph():
    battles = [Battle("ref", "a", "win", "u"), Battle("ref", "a", "loss", "u")]
    battles += [Battle("a", "b", "win", "u"), Battle("ref", "c", "tie", "u")]
    assert separated_systems(battles, "ref") == {"b"}  # b never scored against a
    assert separated_systems(battles, None) == {"ref", "a", "b", "c"}
    battles.append(Battle("b", "ref", "tie", "v"))
    assert separated_systems(battles, "ref") == set()


def test_simulated_demo_layout_is_ordered_and_flags_what_the_prior_sets():
    # The demo's layout: the reference meets every other system on 6 pairs (one per user);
    # "best" wins all of its pairs, "worst" loses all, "even" splits.
    outcomes = {"best": ["loss"] * 6, "worst": ["win"] * 6, "even": ["win", "loss"] * 3}
    battles = [
        Battle("reference", other, outcome, f"u{i}")
        for other, results in outcomes.items()
        for i, outcome in enumerate(results)
    ]
    ratings = bradley_terry_ratings(battles, anchor="reference")
    by_system = {rating.system: rating for rating in ratings}
    assert [rating.system for rating in ratings] == ["best", "even", "reference", "worst"]
    assert by_system["reference"].rating == 1000 and by_system["reference"].ci_low is None
    assert by_system["even"].rating == 1000 and by_system["even"].ci_guaranteed is True
    assert by_system["best"].separated and by_system["worst"].separated
    assert all(math.isfinite(rating.rating) for rating in ratings)


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
    for system in STRENGTHS:  # the two priors differ; with 1000 battles by < 0.5 Elo points
        assert anchored[system] - centered[system] == pytest.approx(shift, abs=0.5)
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


def test_ratings_sorted_with_clustered_intervals_containing_point():
    ratings = bradley_terry_ratings(simulate(1500, seed=3))
    assert [r.system for r in ratings] == ["s8", "s4", "s2", "s1"]
    for rating in ratings:
        assert isinstance(rating, Rating)
        assert rating.ci_low < rating.rating < rating.ci_high
        assert rating.ci_method == "cr2-ik" and rating.ci_guaranteed
        assert set(rating.to_dict()) == {
            "system",
            "rating",
            "ci_low",
            "ci_high",
            "ci_method",
            "ci_guaranteed",
            "separated",
        }


def test_interval_narrows_with_more_data():
    small = {r.system: r for r in bradley_terry_ratings(simulate(300, seed=4))}
    large = {r.system: r for r in bradley_terry_ratings(simulate(6000, seed=4))}
    for system in STRENGTHS:
        small_width = small[system].ci_high - small[system].ci_low
        large_width = large[system].ci_high - large[system].ci_low
        assert large_width < small_width / 2


def test_joint_fit_intervals_with_an_anchor():
    """Systems that meet each other (not only the anchor) get the joint fit's interval."""
    ratings = bradley_terry_ratings(simulate(600, seed=6), anchor="s2")
    by_system = {r.system: r for r in ratings}
    assert by_system["s2"].rating == 1000 and by_system["s2"].ci_low is None
    for system in ("s1", "s4", "s8"):
        assert by_system[system].ci_method == "cr2-ik"
    assert by_system["s1"].ci_high < 1000 < by_system["s8"].ci_low


def test_a_single_user_gets_the_model_interval():
    battles = [Battle("a", "b", "win", "u")] * 3 + [Battle("a", "b", "loss", "u")]
    battles += [Battle("b", "c", "win", "u"), Battle("b", "c", "loss", "u")]
    for rating in bradley_terry_ratings(battles):
        # One user: no clustered variance; the Wald interval of the model, not guaranteed.
        assert rating.ci_method == "wald" and rating.ci_guaranteed is False
        assert rating.ci_low < rating.rating < rating.ci_high


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
        bradley_terry_ratings(battles)


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
