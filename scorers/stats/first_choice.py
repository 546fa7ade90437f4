"""First-choice shares of a multi-candidate judgment, with user-cluster intervals.

Each sample shows the judge the ground truth and N candidates (one per system) in N cyclic
rotations, so every system is shown once in every position. Each rotation whose answer was
parsed is one vote for the system it chose; a system's *share* is its votes over all votes.
A rotation whose answer could not be parsed (after the retry) is a parse failure and no vote.
A rotation may also name several systems that tie exactly (the similarity judge when two
candidates have the same score): its one vote is split equally among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from prefbench.scorers.stats.intervals import CiMethod, Interval, check_confidence, rate_interval

__all__ = [
    "FirstChoiceSummary",
    "RotationVote",
    "SystemShare",
    "summarize_first_choice",
    "vote_totals",
]

RotationVote = tuple[str, ...]
"""The system one rotation chose; several that tie exactly; none for a parse failure."""


@dataclass(frozen=True)
class SystemShare:
    """How often the judge chose one system's candidate first.

    Attributes:
        system: The system's name.
        votes: Parsed rotations that chose it (a split vote of an exact tie counts its part).
        share: ``votes`` over all votes; None when no rotation was parsed.
        ci_low: Lower end of the interval for ``share``; None when ``share`` is None.
        ci_high: Upper end of the interval for ``share``; None when ``share`` is None.
        ci_method: ``"cr2-ik-logit"`` or ``"wilson"``; None when ``share`` is None.
        ci_guaranteed: Whether the interval rests on enough users for its measured coverage
            (:data:`~prefbench.scorers.stats.intervals.GUARANTEED_MIN_USERS`); None when
            ``share`` is None.
    """

    system: str
    votes: float
    share: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: CiMethod | None
    ci_guaranteed: bool | None


@dataclass(frozen=True)
class FirstChoiceSummary:
    """First-choice shares of every system over the samples of one multi-candidate log.

    Attributes:
        n: Samples judged.
        parse_failures: Rotations left without a vote because the answer could not be parsed.
        position_consistency: Share of samples whose rotations all chose the same system,
            among samples whose rotations all parsed; None when there are none.
        first_choice: One :class:`SystemShare` per system, by share descending (then name).
    """

    n: int
    parse_failures: int
    position_consistency: float | None
    first_choice: list[SystemShare]

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)


def vote_totals(votes: Sequence[RotationVote], systems: Sequence[str]) -> dict[str, float]:
    """Votes per system over rotations (an exact tie splits its vote), in `systems` order.

    Raises:
        ValueError: If a vote names a system not in ``systems``.
    """
    totals = dict.fromkeys(systems, 0.0)
    for vote in votes:
        for system in vote:
            if system not in totals:
                raise ValueError(f"vote for unknown system {system!r}; systems are {systems}")
            totals[system] += 1.0 / len(vote)
    return totals


def _position_consistency(choices: Sequence[Sequence[RotationVote]]) -> float | None:
    complete = [sample for sample in choices if sample and all(sample)]
    if not complete:
        return None
    return sum(len(set(sample)) == 1 for sample in complete) / len(complete)


def _share_interval(
    system: str, per_user: dict[str, list[dict[str, float]]], confidence: float
) -> Interval:
    """Interval of one system's pooled share, clustered by user as the win rate's is.

    The pooled share is the vote-weighted mean of per-sample shares, so it is the clustered
    rate interval of those shares weighted by each sample's votes (Wilson over samples where
    that does not exist).
    """
    shares_by_user: dict[str, list[float]] = {}
    votes_by_user: dict[str, list[float]] = {}
    for user, samples in per_user.items():
        voted = [sample for sample in samples if sum(sample.values())]
        votes_by_user[user] = [sum(sample.values()) for sample in voted]
        shares_by_user[user] = [
            sample[system] / votes for sample, votes in zip(voted, votes_by_user[user], strict=True)
        ]
    return rate_interval(shares_by_user, weights_by_user=votes_by_user, confidence=confidence)


def summarize_first_choice(
    choices: Sequence[Sequence[RotationVote]],
    users: Sequence[str],
    systems: Sequence[str],
    confidence: float = 0.95,
) -> FirstChoiceSummary:
    """Votes, first-choice share and its interval per system; consistency; parse failures.

    Args:
        choices: Per sample, the vote of each rotation (see :data:`RotationVote`).
        users: The user each sample belongs to, aligned with ``choices``.
        systems: Every system judged (a system never chosen gets 0 votes).
        confidence: Confidence level of the intervals, strictly between 0 and 1.

    Returns:
        A :class:`FirstChoiceSummary`. Each share's interval is clustered by user, as the
        win rate's (:func:`~prefbench.scorers.stats.intervals.clustered_mean_interval` of the
        per-sample shares weighted by the sample's votes, whose weighted mean is the pooled
        share ``sum(system votes) / sum(votes)``): the CR2 / Imbens–Kolesár t interval on the
        logit scale (``"cr2-ik-logit"``), so all rotations and samples of a user move
        together. With votes from a single user, when every user gives the system the same
        share, or a share of exactly 0 or 1, it is the Wilson interval with each sample as
        one observation (``"wilson"``).

    Raises:
        ValueError: If ``choices`` and ``users`` differ in length, a vote names an unknown
            system, or ``confidence`` is not in (0, 1).
    """
    if len(choices) != len(users):
        raise ValueError(
            f"choices and users must have the same length, got {len(choices)} samples "
            f"and {len(users)} users"
        )
    check_confidence(confidence)

    per_user: dict[str, list[dict[str, float]]] = {}
    for sample, user in zip(choices, users, strict=True):
        per_user.setdefault(user, []).append(vote_totals(sample, systems))
    totals = vote_totals([vote for sample in choices for vote in sample], systems)
    all_votes = sum(totals.values())

    shares = []
    for system in systems:
        share = ci_low = ci_high = ci_method = guaranteed = None
        if all_votes:
            share = totals[system] / all_votes
            interval = _share_interval(system, per_user, confidence)
            ci_low, ci_high, ci_method = interval.low, interval.high, interval.method
            guaranteed = interval.guaranteed
        shares.append(
            SystemShare(system, totals[system], share, ci_low, ci_high, ci_method, guaranteed)
        )
    shares.sort(key=lambda row: (-(row.share or 0.0), row.system))

    return FirstChoiceSummary(
        n=len(choices),
        parse_failures=sum(1 for sample in choices for vote in sample if not vote),
        position_consistency=_position_consistency(choices),
        first_choice=shares,
    )
