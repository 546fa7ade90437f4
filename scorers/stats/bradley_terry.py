"""Arena-style Bradley–Terry ratings of every system from all pairwise battles.

Each :class:`Battle` is one judged pair (system A vs system B) with A's outcome. The ratings
are Bradley–Terry strengths on the Elo scale, as in Chatbot Arena's ``compute_mle_elo``: the
probability that system ``i`` beats system ``j`` is

    P(i beats j) = 1 / (1 + base ** ((rating_j - rating_i) / scale))

A tie counts as half a win for each side (the fractional outcome 0.5). Parse failures are not
battles; the caller drops them.

The fit is a logistic regression of A's outcome on ``e_A - e_B``
(:func:`prefbench.scorers.stats.logistic.fit_clustered_logistic`). **Anchored to the
evidence**: with an anchor (the report's reference system, pinned at 1000) the anchor has no
coefficient and every other system's strength is its difference from the anchor, under the
nearly flat prior N(0, :data:`~prefbench.scorers.stats.logistic.INTERCEPT_PRIOR_SD`²) on that
difference: the prior is centred on equality with the reference and moves an estimate by less
than 1 % once a system has a few battles. It is there only so that a system that won (or lost)
every battle, whose maximum-likelihood rating is infinite, still gets a finite one; such a
system is marked ``separated`` (it lies outside the anchor's strongly connected component of
the "scored at least a tie against" graph, the condition of Zermelo 1929 and Ford 1957 for a
finite estimate) and gets no interval. A system that only ever tied the reference rates
exactly the reference's rating. Without an anchor every strength gets the prior and the
ratings are centred on a mean of 1000.

The interval of a rating follows the one rule of every other interval (docs/statistics.md),
clustered by user. A system that only ever met the anchor (the report's usual design: every
comparison is the reference against one system) has a strength that depends on those battles
alone, so its interval *is* its win rate's against the anchor
(:func:`~prefbench.scorers.stats.intervals.rate_interval`: CR2 / Imbens–Kolesár t on the logit
scale, Wilson where that does not exist), mapped to the Elo scale: the rating interval excludes
the anchor's 1000 exactly when the win-rate interval excludes 50 %. Any other system (one that
met a system other than the anchor, e.g. a control pair) gets the CR2 sandwich variance of its
strength in the joint fit with a t quantile on the Imbens–Kolesár degrees of freedom
(``"cr2-ik"``; the model's Wald interval, ``"wald"``, where the clustered variance does not
exist). tests/test_bradley_terry.py checks both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np

from prefbench.scorers.stats.intervals import (
    Interval,
    check_confidence,
    containing,
    rate_interval,
)
from prefbench.scorers.stats.logistic import (
    INTERCEPT_PRIOR_SD,
    ClusteredLogistic,
    fit_clustered_logistic,
)

__all__ = [
    "BATTLE_OUTCOMES",
    "Battle",
    "BattleOutcome",
    "Rating",
    "bradley_terry_ratings",
    "fit_bradley_terry",
    "separated_systems",
]

BattleOutcome = Literal["win", "loss", "tie"]
"""The result of one battle from system A's point of view."""

BATTLE_OUTCOMES: tuple[BattleOutcome, ...] = get_args(BattleOutcome)

_SCORES = {"win": 1.0, "tie": 0.5, "loss": 0.0}


@dataclass(frozen=True)
class Battle:
    """One judged pair: system A against system B, from A's point of view.

    Attributes:
        system_a: Name of system A.
        system_b: Name of system B (must differ from ``system_a``).
        outcome: ``"win"``, ``"loss"`` or ``"tie"`` for system A.
        user: The user (cluster) the judged pair belongs to.
    """

    system_a: str
    system_b: str
    outcome: BattleOutcome
    user: str


@dataclass(frozen=True)
class Rating:
    """Bradley–Terry rating of one system, with its clustered confidence interval.

    Attributes:
        system: Name of the system.
        rating: Point rating on the Elo scale.
        ci_low: Lower end of the interval; None for the anchor (pinned), a separated
            system, or fewer than two users.
        ci_high: Upper end likewise.
        ci_method: For a system that only met the anchor, its win rate's method against it
            (``"cr2-ik-logit"``, ``"wilson"``); for any other, ``"cr2-ik"`` (or ``"wald"``
            where the clustered variance does not exist); None without an interval.
        ci_guaranteed: Whether the interval rests on enough users for its measured coverage
            (:data:`~prefbench.scorers.stats.intervals.GUARANTEED_MIN_USERS`); None without
            an interval.
        separated: The data put no finite bound on the rating (the system won or lost
            every battle that links it to the anchor): the prior sets it.
    """

    system: str
    rating: float
    ci_low: float | None
    ci_high: float | None
    ci_method: str | None
    ci_guaranteed: bool | None
    separated: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict (report.json ``ratings``)."""
        return asdict(self)


def _validate(battles: Sequence[Battle]) -> None:
    if len(battles) == 0:
        raise ValueError("battles is empty: at least one win, loss or tie is needed to fit")
    for index, battle in enumerate(battles):
        if battle.outcome not in BATTLE_OUTCOMES:
            raise ValueError(
                f"battle {index} has outcome {battle.outcome!r}; allowed outcomes are "
                f"{BATTLE_OUTCOMES} (drop parse failures before fitting)"
            )
        if battle.system_a == battle.system_b:
            raise ValueError(
                f"battle {index} pits system {battle.system_a!r} against itself; "
                "system_a and system_b must differ"
            )


def _validate_scale(anchor: str | None, systems: Sequence[str], scale: float, base: float) -> None:
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if not base > 1:
        raise ValueError(f"base must be greater than 1, got {base!r}")
    if anchor is not None and anchor not in systems:
        raise ValueError(f"anchor {anchor!r} is not among the systems in battles: {systems}")


@dataclass(frozen=True)
class _Fit:
    """The logistic fit of the battles and how its coefficients map to systems."""

    systems: list[str]
    columns: dict[str, int]
    model: ClusteredLogistic

    def contrast(self, system: str) -> np.ndarray:
        """The coefficient contrast that is `system`'s strength (centred without an anchor)."""
        weights = np.zeros(self.model.design.shape[1])
        if len(self.columns) == len(self.systems):  # no anchor: strengths around their mean
            weights -= 1.0 / len(self.systems)
        if system in self.columns:
            weights[self.columns[system]] += 1.0
        return weights


def _systems(battles: Sequence[Battle]) -> list[str]:
    return sorted({b.system_a for b in battles} | {b.system_b for b in battles})


def _fit(battles: Sequence[Battle], anchor: str | None) -> _Fit:
    systems = _systems(battles)
    free = [system for system in systems if system != anchor]
    columns = {system: i for i, system in enumerate(free)}
    design = np.zeros((len(battles), len(free)))
    for row, battle in enumerate(battles):
        if battle.system_a in columns:
            design[row, columns[battle.system_a]] = 1.0
        if battle.system_b in columns:
            design[row, columns[battle.system_b]] = -1.0
    model = fit_clustered_logistic(
        [_SCORES[battle.outcome] for battle in battles],
        design,
        [battle.user for battle in battles],
        [INTERCEPT_PRIOR_SD] * len(free),
    )
    return _Fit(systems, columns, model)


def separated_systems(battles: Sequence[Battle], anchor: str | None) -> set[str]:
    """Systems whose rating the battles do not bound (the prior sets it).

    An edge i → j means i scored at least a tie against j in some battle. With an anchor, a
    system outside the anchor's strongly connected component of that graph has an infinite
    maximum-likelihood difference from the anchor; without one, every system when the graph
    is not strongly connected (``scipy.sparse.csgraph.connected_components``).
    """
    from scipy.sparse.csgraph import connected_components

    systems = _systems(battles)
    index = {system: i for i, system in enumerate(systems)}
    graph = np.zeros((len(systems), len(systems)))
    for battle in battles:
        a, b = index[battle.system_a], index[battle.system_b]
        if battle.outcome != "loss":
            graph[a, b] = 1.0
        if battle.outcome != "win":
            graph[b, a] = 1.0
    count, labels = connected_components(graph, directed=True, connection="strong")
    if anchor is None:
        return set(systems) if count > 1 else set()
    return {system for system in systems if labels[index[system]] != labels[index[anchor]]}


def _anchor_only_interval(
    battles: Sequence[Battle], system: str, anchor: str, confidence: float
) -> Interval | None:
    """The logit-scale interval of `system`'s win rate against the anchor.

    None when the system also met another system, or its win rate is 0 or 1.
    """
    by_user: dict[str, list[float]] = {}
    for battle in battles:
        if system not in (battle.system_a, battle.system_b):
            continue
        if anchor not in (battle.system_a, battle.system_b):
            return None
        score = _SCORES[battle.outcome]
        by_user.setdefault(battle.user, []).append(
            score if battle.system_a == system else 1.0 - score
        )
    win_rate = rate_interval(by_user, confidence=confidence)
    if not 0.0 < win_rate.low <= win_rate.high < 1.0:
        return None
    return Interval(
        math.log(win_rate.low / (1.0 - win_rate.low)),
        math.log(win_rate.high / (1.0 - win_rate.high)),
        win_rate.method,
        win_rate.users,
    )


def fit_bradley_terry(
    battles: Sequence[Battle],
    anchor: str | None = None,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
) -> dict[str, float]:
    """Fit Bradley–Terry ratings of every system on the Elo scale (module docstring).

    Args:
        battles: The battles (parse failures already dropped).
        anchor: A system pinned to ``initial`` (the report pins its reference system to 1000),
            the prior centred on equality with it; None (default) centres the ratings so their
            mean is ``initial``.
        scale: Elo points for a factor ``base`` in the odds of winning (400 in chess/Arena).
        base: Base of the odds (10 in chess/Arena); must be greater than 1.
        initial: The rating of the anchor, or the mean rating without an anchor.

    Returns:
        Rating per system, keyed by system name (sorted by name). A rating difference ``d``
        means odds of ``base ** (d / scale)`` in favour of the higher-rated system.

    Raises:
        ValueError: If ``battles`` is empty, an outcome is not win/loss/tie, a battle pits a
            system against itself, ``anchor`` is not a system in ``battles``, ``scale`` is
            not positive, or ``base`` is not above 1.
    """
    _validate(battles)
    _validate_scale(anchor, _systems(battles), scale, base)
    fit = _fit(battles, anchor)
    elo = scale / math.log(base)
    coefficients = fit.model.coefficients
    return {s: initial + elo * float(fit.contrast(s) @ coefficients) for s in fit.systems}


def bradley_terry_ratings(
    battles: Sequence[Battle],
    confidence: float = 0.95,
    anchor: str | None = None,
) -> list[Rating]:
    """Bradley–Terry ratings of every system with user-clustered intervals.

    The point ratings are :func:`fit_bradley_terry` (Elo scale: scale 400, base 10, anchor
    or mean 1000). Each interval is the CR2 / Imbens–Kolesár t interval of the system's
    strength (its difference from the anchor, or from the mean of all strengths), clustered
    by user, mapped to the Elo scale (module docstring). The anchor's rating is pinned and
    has no interval; a separated system (:func:`separated_systems`) has none either.

    Args:
        battles: The battles (parse failures already dropped).
        confidence: Confidence level of the intervals, strictly between 0 and 1.
        anchor: A system pinned to 1000; None centres the ratings on a mean of 1000.

    Returns:
        One :class:`Rating` per system, sorted by rating descending (ties by system name).

    Raises:
        ValueError: As :func:`fit_bradley_terry`, or if ``confidence`` is not in (0, 1).
    """
    check_confidence(confidence)
    _validate(battles)
    _validate_scale(anchor, _systems(battles), 400, 10)
    fit = _fit(battles, anchor)
    elo = 400 / math.log(10)
    separated = separated_systems(battles, anchor)
    ratings = []
    for system in fit.systems:
        contrast = fit.contrast(system)
        strength = float(contrast @ fit.model.coefficients)
        rating = 1000 + elo * strength
        interval = None
        if system != anchor and system not in separated:
            interval = (
                None
                if anchor is None
                else _anchor_only_interval(battles, system, anchor, confidence)
            )
            interval = (
                fit.model.interval(contrast, confidence=confidence)
                if interval is None
                else containing(interval, strength)
            )
        ratings.append(
            Rating(
                system=system,
                rating=rating,
                ci_low=None if interval is None else 1000 + elo * interval.low,
                ci_high=None if interval is None else 1000 + elo * interval.high,
                ci_method=None if interval is None else interval.method,
                ci_guaranteed=None if interval is None else interval.guaranteed,
                separated=system in separated,
            )
        )
    return sorted(ratings, key=lambda rating: (-rating.rating, rating.system))
