"""Combine the two judging orders of one pairwise comparison into one outcome for system A.

Every pair (system A's output, system B's output) is judged twice so that position bias
cancels out:

- order ``"ab"``: candidate 1 is A's output, candidate 2 is B's;
- order ``"ba"``: candidate 1 is B's output, candidate 2 is A's.

:func:`combine_orders` turns the two parsed verdicts (see
:func:`prefbench.scorers.verdict.parse_winner`) into a :class:`PairOutcome` seen from system A. Two
tie policies exist; the verdicts are kept in the judge log, so switching policy re-scores without
new judge calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "ORDERS",
    "TIE_POLICIES",
    "Order",
    "Outcome",
    "PairOutcome",
    "TiePolicy",
    "combine_orders",
    "preferred_system",
]

Order = Literal["ab", "ba"]
"""Which system's output is shown as candidate 1: ``"ab"`` → A first, ``"ba"`` → B first."""

Outcome = Literal["win", "loss", "tie", "parse_failure"]
"""The result of one pair, from system A's point of view."""

TiePolicy = Literal["inconsistent_is_tie", "each_order_half"]
"""How two orders that disagree, or a single unparseable order, are counted."""

ORDERS: tuple[Order, ...] = get_args(Order)
TIE_POLICIES: tuple[TiePolicy, ...] = get_args(TiePolicy)

_SCORES: dict[Outcome, float | None] = {"win": 1.0, "loss": 0.0, "tie": 0.5, "parse_failure": None}


@dataclass(frozen=True)
class PairOutcome:
    """The combined result of judging one pair in both orders, from system A's point of view.

    Attributes:
        outcome: ``"win"``, ``"loss"``, ``"tie"`` or ``"parse_failure"``.
        score: 1.0 for a win, 0.0 for a loss, 0.5 for a tie, None for a parse failure.
        position_consistent: True when both orders prefer the same system, False when they
            disagree, None when either order could not be parsed.
    """

    outcome: Outcome
    score: float | None
    position_consistent: bool | None


def preferred_system(order: Order, winner: int | None) -> Literal["a", "b"] | None:
    """Map the judge's candidate number in one order to the system it stands for.

    Args:
        order: ``"ab"`` (candidate 1 is A's output) or ``"ba"`` (candidate 1 is B's output).
        winner: The parsed 1-based candidate number (1 or 2), or None if unparseable.

    Returns:
        ``"a"`` or ``"b"``; None when ``winner`` is None.

    Raises:
        ValueError: If ``order`` is not one of :data:`ORDERS` or ``winner`` is not 1, 2 or None.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if winner is None:
        return None
    if winner not in (1, 2):
        raise ValueError(f"winner must be 1, 2 or None for a pairwise comparison, got {winner!r}")
    first, second = ("a", "b") if order == "ab" else ("b", "a")
    return first if winner == 1 else second


def _pair_outcome(outcome: Outcome, position_consistent: bool | None) -> PairOutcome:
    return PairOutcome(outcome, _SCORES[outcome], position_consistent)


def combine_orders(
    winner_ab: int | None,
    winner_ba: int | None,
    tie_policy: TiePolicy = "inconsistent_is_tie",
) -> PairOutcome:
    """Combine the verdicts of both orders of one pair into an outcome for system A.

    Args:
        winner_ab: Parsed candidate number (1, 2 or None) from the ``"ab"`` order, where
            candidate 1 is system A's output.
        winner_ba: Parsed candidate number (1, 2 or None) from the ``"ba"`` order, where
            candidate 1 is system B's output.
        tie_policy: How disagreement and unparseable orders count.

            - ``"inconsistent_is_tie"`` (default; the conservative rule of MT-Bench's
              position-swapped judging, Zheng et al. 2023): both orders prefer A → win; both
              prefer B → loss; they disagree → tie; either order unparseable →
              parse_failure. (The paper we reproduce judged one order and allowed no tie,
              "YOU MUST ALWAYS PICK A WINNER"; it has no tie policy to follow.)
            - ``"each_order_half"``: each parsed order counts half: A+A → win, B+B → loss,
              A+B → tie. If exactly one order parses, the outcome is that single order's
              preference (win, score 1.0, or loss, score 0.0) with ``position_consistent``
              None; both unparseable → parse_failure.

    Returns:
        The :class:`PairOutcome`; ``position_consistent`` is None whenever an order failed.

    Raises:
        ValueError: If ``tie_policy`` is not one of :data:`TIE_POLICIES`, or a winner is not
            1, 2 or None.
    """
    if tie_policy not in TIE_POLICIES:
        raise ValueError(f"tie_policy must be one of {TIE_POLICIES}, got {tie_policy!r}")
    pref_ab = preferred_system("ab", winner_ab)
    pref_ba = preferred_system("ba", winner_ba)

    if pref_ab is not None and pref_ba is not None:
        if pref_ab != pref_ba:
            return _pair_outcome("tie", position_consistent=False)
        return _pair_outcome("win" if pref_ab == "a" else "loss", position_consistent=True)

    if tie_policy == "each_order_half":
        single = pref_ab if pref_ab is not None else pref_ba
        if single is not None:
            return _pair_outcome("win" if single == "a" else "loss", position_consistent=None)
    return _pair_outcome("parse_failure", position_consistent=None)
