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

from prefbench.scorers.stats.intervals import (
    CiMethod,
    check_interval_settings,
    clustered_mean_interval,
    containing,
    wilson_interval,
)

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
        ci_method: ``"cluster-robust-t"``, ``"bootstrap-user-cluster"`` or ``"wilson"``; None
            when ``share`` is None.
    """

    system: str
    votes: float
    share: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: CiMethod | None


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
    system: str,
    per_user: dict[str, list[dict[str, float]]],
    confidence: float,
    n_resamples: int,
    seed: int,
) -> tuple[float, float, CiMethod]:
    """Interval of one system's pooled share, clustered by user as the win rate's is.

    The pooled share is the vote-weighted mean of per-sample shares, so it is the
    clustered mean interval of those shares weighted by each sample's votes; with one
    user, or the same share for every user, Wilson over samples.
    """
    shares_by_user: dict[str, list[float]] = {}
    votes_by_user: dict[str, list[float]] = {}
    for user, samples in per_user.items():
        voted = [sample for sample in samples if sum(sample.values())]
        votes_by_user[user] = [sum(sample.values()) for sample in voted]
        shares_by_user[user] = [
            sample[system] / votes for sample, votes in zip(voted, votes_by_user[user], strict=True)
        ]
    sample_shares = [share for shares in shares_by_user.values() for share in shares]
    interval = clustered_mean_interval(
        shares_by_user,
        seed,
        weights_by_user=votes_by_user,
        confidence=confidence,
        n_resamples=n_resamples,
        bounds=(0.0, 1.0),
    ) or wilson_interval(sum(sample_shares), len(sample_shares), confidence)
    pooled = sum(
        share * votes
        for user in shares_by_user
        for share, votes in zip(shares_by_user[user], votes_by_user[user], strict=True)
    ) / sum(sum(votes) for votes in votes_by_user.values())
    interval = containing(interval, pooled)
    return interval.low, interval.high, interval.method


def summarize_first_choice(
    choices: Sequence[Sequence[RotationVote]],
    users: Sequence[str],
    systems: Sequence[str],
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> FirstChoiceSummary:
    """Votes, first-choice share and its interval per system; consistency; parse failures.

    Args:
        choices: Per sample, the vote of each rotation (see :data:`RotationVote`).
        users: The user each sample belongs to, aligned with ``choices``.
        systems: Every system judged (a system never chosen gets 0 votes).
        confidence: Confidence level of the intervals, strictly between 0 and 1.
        n_resamples: Bootstrap resamples.
        seed: Seed of the bootstrap's random generator (the same for every system).

    Returns:
        A :class:`FirstChoiceSummary`. Each share's interval is clustered by user, as the
        win rate's (:func:`~prefbench.scorers.stats.intervals.clustered_mean_interval` of the
        per-sample shares weighted by the sample's votes, whose weighted mean is the pooled
        share ``sum(system votes) / sum(votes)``): ``"cluster-robust-t"`` below
        ``BOOTSTRAP_MIN_USERS`` users, ``"bootstrap-user-cluster"`` from there on, so all
        rotations and samples of a user move together. With votes from a single user, or
        when every user gives the system the same share, it is the Wilson interval with each
        sample as one observation and its share of that sample's votes as the count
        (``"wilson"``).

    Raises:
        ValueError: If ``choices`` and ``users`` differ in length, a vote names an unknown
            system, ``confidence`` is not in (0, 1), or ``n_resamples`` is below 1.
    """
    if len(choices) != len(users):
        raise ValueError(
            f"choices and users must have the same length, got {len(choices)} samples "
            f"and {len(users)} users"
        )
    check_interval_settings(confidence, n_resamples)

    per_user: dict[str, list[dict[str, float]]] = {}
    for sample, user in zip(choices, users, strict=True):
        per_user.setdefault(user, []).append(vote_totals(sample, systems))
    totals = vote_totals([vote for sample in choices for vote in sample], systems)
    all_votes = sum(totals.values())

    shares = []
    for system in systems:
        share = ci_low = ci_high = ci_method = None
        if all_votes:
            share = totals[system] / all_votes
            ci_low, ci_high, ci_method = _share_interval(
                system, per_user, confidence, n_resamples, seed
            )
        shares.append(SystemShare(system, totals[system], share, ci_low, ci_high, ci_method))
    shares.sort(key=lambda row: (-(row.share or 0.0), row.system))

    return FirstChoiceSummary(
        n=len(choices),
        parse_failures=sum(1 for sample in choices for vote in sample if not vote),
        position_consistency=_position_consistency(choices),
        first_choice=shares,
    )
