"""Win rate of system A over system B, with a confidence interval and a sign-test p-value.

The input is one :class:`~prefbench.scorers.outcome.PairOutcome` per judged pair (both orders
already combined) and the user each pair belongs to. The summary matches a ``comparisons`` entry of
``report.json`` (docs/design.md §7): a tie counts as half a win, ``n = wins + losses + ties``, and
parse failures are excluded from ``n`` and reported on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from prefbench.scorers.outcome import PairOutcome
from prefbench.scorers.stats.intervals import CiMethod, check_confidence, rate_interval

__all__ = ["WinRateSummary", "summarize_win_rate"]


@dataclass(frozen=True)
class WinRateSummary:
    """Win rate of system A against system B over a set of judged pairs.

    Attributes:
        n: Scored pairs, ``wins + losses + ties`` (parse failures excluded).
        wins: Pairs system A won.
        losses: Pairs system A lost.
        ties: Tied pairs.
        parse_failures: Pairs left unscored because the judge's answer could not be parsed.
        win_rate: ``(wins + ties / 2) / n``; None when ``n == 0``.
        ci_low: Lower end of the confidence interval for ``win_rate``; None when ``n == 0``.
        ci_high: Upper end of the confidence interval for ``win_rate``; None when ``n == 0``.
        p_value: Two-sided exact binomial sign test of wins against losses (ties dropped);
            None when ``wins + losses == 0``.
        position_consistency: Share of pairs whose two orders agreed, among pairs where both
            orders parsed; None when there are none.
        ci_method: ``"cr2-ik-logit"`` or ``"wilson"``; None when ``n == 0``.
        users: Users with at least one scored pair.
        ci_guaranteed: Whether the interval rests on enough users for its measured coverage
            (:data:`~prefbench.scorers.stats.intervals.GUARANTEED_MIN_USERS`); None when
            ``n == 0``.
    """

    n: int
    wins: int
    losses: int
    ties: int
    parse_failures: int
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    position_consistency: float | None
    ci_method: CiMethod | None
    users: int
    ci_guaranteed: bool | None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict (the keys of a report.json comparison)."""
        return asdict(self)


def summarize_win_rate(
    outcomes: Sequence[PairOutcome],
    users: Sequence[str],
    confidence: float = 0.95,
) -> WinRateSummary:
    """Summarize system A's win rate over judged pairs, with an interval and a p-value.

    Args:
        outcomes: One combined outcome per pair (see
            :func:`prefbench.scorers.outcome.combine_orders`).
        users: The user each pair belongs to, aligned with ``outcomes``.
        confidence: Confidence level of the interval, strictly between 0 and 1.

    Returns:
        A :class:`WinRateSummary`. The interval is
        :func:`~prefbench.scorers.stats.intervals.rate_interval` of the pair scores grouped
        by user (parse failures left out): the CR2 / Imbens–Kolesár t interval on the logit
        scale (``"cr2-ik-logit"``), or ``"wilson"`` (with ``wins + ties / 2`` as the count)
        when the pairs come from a single user or the clustered interval is degenerate:
        every user has the same win rate (e.g. A wins every pair), where the clustered
        variance is zero. ``ci_method`` says which interval was used.

        With no scored pair (``n == 0``), ``win_rate``, the interval and ``ci_method`` are
        None.

    Raises:
        ValueError: If ``outcomes`` and ``users`` differ in length or ``confidence`` is not in
            (0, 1).
    """
    if len(outcomes) != len(users):
        raise ValueError(
            f"outcomes and users must have the same length, got {len(outcomes)} outcomes "
            f"and {len(users)} users"
        )
    check_confidence(confidence)

    kinds = [pair.outcome for pair in outcomes]
    wins, losses, ties = kinds.count("win"), kinds.count("loss"), kinds.count("tie")
    parse_failures = kinds.count("parse_failure")
    n = wins + losses + ties

    consistency = [p.position_consistent for p in outcomes if p.position_consistent is not None]
    position_consistency = sum(consistency) / len(consistency) if consistency else None
    from scipy.stats import binomtest  # scipy.stats takes ~1 s to import: only when used

    p_value = float(binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else None

    per_user: dict[str, list[float]] = {}
    for pair, user in zip(outcomes, users, strict=True):
        if pair.score is not None:
            per_user.setdefault(user, []).append(pair.score)
    win_rate = ci_low = ci_high = ci_method = ci_guaranteed = None
    if n:
        win_rate = (wins + ties / 2) / n
        interval = rate_interval(per_user, confidence=confidence)
        ci_low, ci_high, ci_method = interval.low, interval.high, interval.method
        ci_guaranteed = interval.guaranteed

    return WinRateSummary(
        n=n,
        wins=wins,
        losses=losses,
        ties=ties,
        parse_failures=parse_failures,
        win_rate=win_rate,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        position_consistency=position_consistency,
        ci_method=ci_method,
        users=len(per_user),
        ci_guaranteed=ci_guaranteed,
    )
