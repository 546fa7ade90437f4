"""Soft win rate: the mean of the judge's probability that system A wins, per comparison.

A judge in ``verdict: logprobs`` mode (:mod:`prefbench.scorers.verdict`) reads the probabilities of
the candidate numbers after ``<winner>``; each pair's ``soft_score``
(:func:`prefbench.scorers.llm_judge.soft_score_a`) is A's probability of winning averaged over the
two orders. The soft win rate is the plain mean of those scores over the comparison's pairs: it uses
the judge's confidence where the raw win rate rounds every verdict to 1, 0.5 or 0. Its interval is
the raw win rate's rule (:func:`~prefbench.scorers.stats.intervals.rate_interval`, clustered by
user: CR2 / Imbens–Kolesár t on the logit scale, Wilson with the score total as a fractional
count where that does not exist).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from prefbench.scorers.stats.intervals import CiMethod, check_confidence, rate_interval

__all__ = ["SoftWinRate", "soft_win_rate"]


@dataclass(frozen=True)
class SoftWinRate:
    """Mean soft score of system A over B, with its interval clustered by user.

    Attributes:
        soft_n: Pairs with a soft score (pairs judged from text alone are left out).
        soft_win_rate: Mean of the soft scores.
        soft_ci_low: Lower end of its interval.
        soft_ci_high: Upper end of its interval.
        soft_ci_method: ``"cr2-ik-logit"`` or ``"wilson"``.
        soft_users: Users with at least one soft score.
        soft_ci_guaranteed: Whether the interval rests on enough users for its measured
            coverage (:data:`~prefbench.scorers.stats.intervals.GUARANTEED_MIN_USERS`).
    """

    soft_n: int
    soft_win_rate: float
    soft_ci_low: float
    soft_ci_high: float
    soft_ci_method: CiMethod
    soft_users: int
    soft_ci_guaranteed: bool

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (added to a report.json comparison)."""
        return asdict(self)


def soft_win_rate(
    soft_scores: Sequence[float | None],
    users: Sequence[str],
    confidence: float = 0.95,
) -> SoftWinRate | None:
    """The soft win rate of system A over system B, or None when no pair has a soft score.

    Args:
        soft_scores: Each pair's probability that A wins (None where the verdict carried no
            probabilities), aligned with ``users``.
        users: The user of each pair.
        confidence: Confidence level of the interval, strictly between 0 and 1.

    Raises:
        ValueError: If the sequences differ in length, a score lies outside [0, 1], or the
            settings are out of range.
    """
    if len(soft_scores) != len(users):
        raise ValueError(
            f"soft_scores and users must have the same length, got {len(soft_scores)} "
            f"scores and {len(users)} users"
        )
    check_confidence(confidence)
    per_user: dict[str, list[float]] = {}
    for score, user in zip(soft_scores, users, strict=True):
        if score is None:
            continue
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"user {user!r}: a soft score must lie in [0, 1], got {score!r}")
        per_user.setdefault(user, []).append(float(score))
    scores = [score for user_scores in per_user.values() for score in user_scores]
    if not scores:
        return None
    interval = rate_interval(per_user, confidence=confidence)
    rate = sum(scores) / len(scores)
    return SoftWinRate(
        len(scores),
        rate,
        interval.low,
        interval.high,
        interval.method,
        interval.users,
        interval.guaranteed,
    )
