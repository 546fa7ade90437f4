"""The judge audit: position bias, length bias and self-preference of one judge.

Every pair is judged in both orders (:mod:`prefbench.scorers.outcome`), so each pair gives up to two
single-order verdicts: which slot won (candidate 1 or 2) and whether the longer candidate
won. The audit of one judge pools the pairs of every comparison it judged:

- **position bias**: ``first_slot_win_rate``, the share of parsed single-order verdicts
  that chose candidate 1 (0.5 for a judge without position bias), and
  ``position_consistency``, the share of pairs whose two orders chose the same system;
- **length bias**: ``longer_win_rate``, the share of parsed single-order verdicts between
  candidates of different length that chose the longer one (0.5 without length bias,
  though a system that is both better and longer raises it too), and ``length_coefficient``,
  the logistic slope of "system A's candidate won this order" on AlpacaEval's normalized
  length difference ``tanh(delta / sd(delta))`` with one intercept per comparison (the
  systems' identity), so that a better system being longer is not read as length bias; plus
  ``length_bins``, the win rate of a candidate by how much longer it was than its rival
  (for the figure);
- **self-preference**: for every system whose model is also the judge's model, that
  system's win rate under this judge (pooled over its comparisons, from its side);
- **where the verdicts came from**: each parsed order's verdict source (the first answer,
  or a fallback: the follow-up retry, a repeated call, log-probabilities read in the
  follow-up, the text of a log-probability judge whose provider returned none), counted.

Each share's interval is :func:`~prefbench.scorers.stats.intervals.rate_interval` over users
(CR2 / Imbens–Kolesár t on the logit scale, Wilson where that does not exist), the slope's that
of :mod:`prefbench.scorers.stats.logistic`: the project's one interval rule.
:mod:`prefbench.scorers.stats.judge_gate` turns the audit into the judge's quality gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from prefbench.scorers.outcome import preferred_system
from prefbench.scorers.stats.intervals import check_confidence, rate_interval
from prefbench.scorers.stats.length_control import normalized_length_gap
from prefbench.scorers.stats.logistic import (
    INTERCEPT_PRIOR_SD,
    PRIOR_SD,
    fit_clustered_logistic,
)

__all__ = ["AuditedPair", "LENGTH_BINS", "audit_judge", "self_preference"]

LENGTH_BINS = 5
"""Quantile bins of the normalized length difference in ``length_bins``."""


@dataclass(frozen=True)
class AuditedPair:
    """One judged pair as the audit reads it.

    Attributes:
        system_a: System A (candidate 1 in order ``"ab"``).
        system_b: System B (candidate 1 in order ``"ba"``).
        user: The user the pair belongs to.
        winner_ab: The candidate number (1, 2) chosen in order ``"ab"``; None if unparsed.
        winner_ba: The candidate number chosen in order ``"ba"``; None if unparsed.
        length_a: Characters of system A's output.
        length_b: Characters of system B's output.
        score: The combined outcome's score for A (1, 0.5, 0; None for a parse failure).
        source_ab: Where order ``"ab"``'s verdict came from (the LLM judge's
            ``verdict_source_ab``: ``"text"``, ``"follow_up"``, ``"repeat"``, ``"logprobs"``,
            ``"logprobs_follow_up"``); None for a judge that records none.
        source_ba: Likewise for order ``"ba"``.
        verdict_mode: How the judge reads a verdict (``"text"``, ``"logprobs"``); None for
            a judge that records none.
    """

    system_a: str
    system_b: str
    user: str
    winner_ab: int | None
    winner_ba: int | None
    length_a: int
    length_b: int
    score: float | None
    source_ab: str | None = None
    source_ba: str | None = None
    verdict_mode: str | None = None


def _rate(values_by_user: Mapping[str, list[float]], confidence: float) -> dict[str, Any]:
    """A pooled share with its clustered interval (Wilson fallback), as report.json keys."""
    values = [value for user_values in values_by_user.values() for value in user_values]
    if not values:
        return {
            "rate": None,
            "n": 0,
            "ci_low": None,
            "ci_high": None,
            "ci_method": None,
            "ci_guaranteed": None,
        }
    interval = rate_interval(values_by_user, confidence=confidence)
    return {
        "rate": sum(values) / len(values),
        "n": len(values),
        "ci_low": interval.low,
        "ci_high": interval.high,
        "ci_method": interval.method,
        "ci_guaranteed": interval.guaranteed,
    }


def _orders(pair: AuditedPair) -> list[tuple[int, int, int, bool]]:
    """Each parsed order as (winning slot, winner's length, loser's length, A won)."""
    parsed = []
    for order, winner in (("ab", pair.winner_ab), ("ba", pair.winner_ba)):
        side = preferred_system(order, winner)  # type: ignore[arg-type]
        if side is None or winner is None:
            continue
        a_won = side == "a"
        winner_length, loser_length = (
            (pair.length_a, pair.length_b) if a_won else (pair.length_b, pair.length_a)
        )
        parsed.append((winner, winner_length, loser_length, a_won))
    return parsed


def _length_slope(pairs: Sequence[AuditedPair], confidence: float) -> dict[str, Any]:
    """Logit slope of A winning an order on tanh(delta / sd), one intercept per comparison."""
    rows = [
        (f"{pair.system_a}\0{pair.system_b}", pair.length_a - pair.length_b, a_won, pair.user)
        for pair in pairs
        for _, _, _, a_won in _orders(pair)
    ]
    empty = {
        "coefficient": None,
        "ci_low": None,
        "ci_high": None,
        "ci_method": None,
        "n": len(rows),
        "separation": None,
    }
    gap = normalized_length_gap([row[1] for row in rows])
    if not rows or not np.any(gap != 0) or len({row[2] for row in rows}) < 2:
        return empty
    comparisons = list(dict.fromkeys(row[0] for row in rows))
    identity = np.array([[row[0] == name for name in comparisons] for row in rows], dtype=float)
    design = np.column_stack([identity, gap])
    prior_sd = [INTERCEPT_PRIOR_SD] * len(comparisons) + [PRIOR_SD]
    outcomes = [float(row[2]) for row in rows]
    fit = fit_clustered_logistic(outcomes, design, [row[3] for row in rows], prior_sd)
    contrast = [0.0] * len(comparisons) + [1.0]
    interval = fit.interval(contrast, confidence=confidence)
    return {
        "coefficient": float(fit.coefficients[-1]),
        "ci_low": None if interval is None else interval.low,
        "ci_high": None if interval is None else interval.high,
        "ci_method": None if interval is None else interval.method,
        "n": len(rows),
        "separation": fit.separated(),
    }


def _length_bins(pairs: Sequence[AuditedPair]) -> list[dict[str, Any]]:
    """Win rate of a candidate by quantile bin of its normalized length lead over its rival.

    Each parsed order counts twice, once from each candidate's side (lead ``x``, won) and
    (``-x``, lost), so the bins are symmetric and position bias cancels.
    """
    rows = [(pair.length_a - pair.length_b, a_won) for pair in pairs for *_, a_won in _orders(pair)]
    if not rows:
        return []
    gap = normalized_length_gap([delta for delta, _ in rows])
    leads = np.concatenate([gap, -gap])
    won = np.concatenate([[float(a) for _, a in rows], [1.0 - a for _, a in rows]])
    edges = np.unique(np.quantile(leads, np.linspace(0, 1, LENGTH_BINS + 1)))
    if len(edges) < 2:
        only = {"lead_low": 0.0, "lead_high": 0.0, "lead_mean": 0.0}
        return [{**only, "win_rate": float(won.mean()), "n": len(won)}]
    index = np.clip(np.searchsorted(edges, leads, side="right") - 1, 0, len(edges) - 2)
    return [
        {
            "lead_low": float(edges[b]),
            "lead_high": float(edges[b + 1]),
            "lead_mean": float(leads[index == b].mean()),
            "win_rate": float(won[index == b].mean()),
            "n": int(np.sum(index == b)),
        }
        for b in range(len(edges) - 1)
        if np.any(index == b)
    ]


def _verdict_sources(pairs: Sequence[AuditedPair]) -> dict[str, Any]:
    """How many parsed orders took their verdict from each source, and from a fallback.

    A verdict from the first answer read the judge's way (source equal to its verdict mode:
    ``"text"`` for a text judge, ``"logprobs"`` for a log-probability one) is primary; any
    other recorded source is a fallback. Orders without a recorded source are not counted.
    """
    counts: dict[str, int] = {}
    fallback = 0
    for pair in pairs:
        for winner, source in ((pair.winner_ab, pair.source_ab), (pair.winner_ba, pair.source_ba)):
            if winner is None or source is None:
                continue
            counts[source] = counts.get(source, 0) + 1
            fallback += source != (pair.verdict_mode or "text")
    n = sum(counts.values())
    return {
        "counts": dict(sorted(counts.items())),
        "n": n,
        "fallback": fallback,
        "fallback_rate": fallback / n if n else None,
    }


def audit_judge(pairs: Sequence[AuditedPair], confidence: float = 0.95) -> dict[str, Any]:
    """Position and length bias of one judge over all the pairs it judged.

    Args:
        pairs: Every pair the judge judged, of every comparison.
        confidence: Confidence level of the intervals, strictly between 0 and 1.

    Returns:
        A JSON-ready dict: ``n_pairs``; ``first_slot_win_rate``, ``position_consistency``
        and ``longer_win_rate``, each ``{"rate", "n", "ci_low", "ci_high", "ci_method",
        "ci_guaranteed"}`` (``n``: single-order verdicts, pairs with both orders parsed, and
        single-order verdicts between candidates of different length); ``length_coefficient``
        (``{"coefficient", "ci_low", "ci_high", "ci_method", "n", "separation"}``, logit per
        unit of ``tanh(delta / sd)``, ``n`` the single-order verdicts the fit used,
        ``separation`` whether the prior sets it); ``length_bins`` (``lead_low``,
        ``lead_high``, ``lead_mean``, ``win_rate``, ``n``); ``verdict_sources``
        (``{"counts", "n", "fallback", "fallback_rate"}``: parsed orders by the source of
        their verdict, and how many came from a fallback). See the module docstring.

    Raises:
        ValueError: If ``confidence`` is out of range.
    """
    check_confidence(confidence)
    first_slot: dict[str, list[float]] = {}
    consistent: dict[str, list[float]] = {}
    longer: dict[str, list[float]] = {}
    for pair in pairs:
        orders = _orders(pair)
        for slot, winner_length, loser_length, _ in orders:
            first_slot.setdefault(pair.user, []).append(float(slot == 1))
            if winner_length != loser_length:
                longer.setdefault(pair.user, []).append(float(winner_length > loser_length))
        if len(orders) == 2:
            same = orders[0][3] == orders[1][3]
            consistent.setdefault(pair.user, []).append(float(same))
    return {
        "n_pairs": len(pairs),
        "first_slot_win_rate": _rate(first_slot, confidence),
        "position_consistency": _rate(consistent, confidence),
        "longer_win_rate": _rate(longer, confidence),
        "length_coefficient": _length_slope(pairs, confidence),
        "length_bins": _length_bins(pairs),
        "verdict_sources": _verdict_sources(pairs),
    }


def self_preference(
    pairs: Sequence[AuditedPair],
    judge_models: set[str],
    models_by_system: Mapping[str, set[str]],
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """Win rate under this judge of every system that shares a model with the judge.

    Args:
        pairs: Every pair the judge judged.
        judge_models: The model names the judge calls (empty for a judge without a model).
        models_by_system: The model names each system calls.
        confidence: Confidence level of the intervals.

    Returns:
        One row per such system: ``{"system", "models", "win_rate", "n", "ci_low",
        "ci_high", "ci_method", "ci_guaranteed"}``, its pooled score from its own side over
        every pair it played under this judge (a tie half a win, parse failures left out). A
        win rate above 0.5 whose interval excludes 0.5 is the self-preference flag; it is
        evidence, not proof: the system may simply be better.
    """
    rows = []
    for system in sorted(models_by_system):
        shared = sorted(models_by_system[system] & judge_models)
        if not shared:
            continue
        scores: dict[str, list[float]] = {}
        for pair in pairs:
            if pair.score is None or system not in (pair.system_a, pair.system_b):
                continue
            own = pair.score if pair.system_a == system else 1.0 - pair.score
            scores.setdefault(pair.user, []).append(own)
        rate = _rate(scores, confidence)
        rows.append(
            {
                "system": system,
                "models": shared,
                "win_rate": rate["rate"],
                **{
                    key: rate[key]
                    for key in ("n", "ci_low", "ci_high", "ci_method", "ci_guaranteed")
                },
            }
        )
    return rows
