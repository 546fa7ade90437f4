"""Breakdowns of win rates: per user within one dataset, and the aggregate across datasets."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from prefbench.scorers.outcome import PairOutcome
from prefbench.scorers.stats.win_rate import WinRateSummary, summarize_win_rate

__all__ = ["aggregate_across_datasets", "per_user_win_rates"]


def per_user_win_rates(
    outcomes: Sequence[PairOutcome],
    users: Sequence[str],
    confidence: float = 0.95,
) -> dict[str, WinRateSummary]:
    """Summarize system A's win rate separately for each user.

    Args:
        outcomes: One combined outcome per pair (see
            :func:`prefbench.scorers.outcome.combine_orders`).
        users: The user each pair belongs to, aligned with ``outcomes``.
        confidence: Confidence level of each user's interval, strictly between 0 and 1.

    Returns:
        A :class:`~prefbench.scorers.stats.win_rate.WinRateSummary` per user, keyed by user in
        order of first appearance. Each covers one user, so its interval is the Wilson interval
        (``ci_method == "wilson"``); a user whose pairs all failed to parse has ``n == 0`` and
        a None win rate.

    Raises:
        ValueError: If ``outcomes`` and ``users`` differ in length, or ``confidence`` is not
            in (0, 1).
    """
    if len(outcomes) != len(users):
        raise ValueError(
            f"outcomes and users must have the same length, got {len(outcomes)} outcomes "
            f"and {len(users)} users"
        )
    by_user: dict[str, list[PairOutcome]] = {}
    for pair, user in zip(outcomes, users, strict=True):
        by_user.setdefault(user, []).append(pair)
    return {
        user: summarize_win_rate(pairs, [user] * len(pairs), confidence=confidence)
        for user, pairs in by_user.items()
    }


def aggregate_across_datasets(win_rates: Mapping[str, float | None]) -> float | None:
    """Aggregate per-dataset win rates as the paper does: their unweighted mean.

    Every dataset counts the same, however many pairs it has.

    Args:
        win_rates: Win rate per dataset name; None values (datasets with no scored pair)
            are ignored.

    Returns:
        The mean of the non-None win rates; None when there are none.

    Raises:
        ValueError: If a win rate is NaN or outside [0, 1].
    """
    values = [rate for rate in win_rates.values() if rate is not None]
    for name, rate in win_rates.items():
        if rate is not None and (math.isnan(rate) or not 0.0 <= rate <= 1.0):
            raise ValueError(f"win rate of dataset {name!r} must be in [0, 1], got {rate!r}")
    if not values:
        return None
    return sum(values) / len(values)
