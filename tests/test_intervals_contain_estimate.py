"""Every interval of scorers/stats contains its point estimate exactly, at the edges too.

The edges: a 0 % and a 100 % rate (the Wilson interval of 0 successes has a lower end of
2.8e-17 in floating point), all ties, one user, few users and many.
"""

import pytest

from prefbench.scorers.outcome import PairOutcome
from prefbench.scorers.stats import (
    AuditedPair,
    Battle,
    audit_judge,
    bradley_terry_ratings,
    clustered_mean_interval,
    length_controlled_win_rate,
    per_user_win_rates,
    self_preference,
    summarize_first_choice,
    summarize_win_rate,
    wilson_interval,
)

KINDS = {
    "win": PairOutcome("win", 1.0, True),
    "loss": PairOutcome("loss", 0.0, True),
    "tie": PairOutcome("tie", 0.5, False),
}
PATTERNS = {
    "all-lost": ["loss"],
    "all-won": ["win"],
    "all-tied": ["tie"],
    "mixed": ["win", "loss", "tie", "win"],
    "one-win-rest-lost": ["win"] + ["loss"] * 11,
}
USER_COUNTS = [1, 3, 30]


def contains(low, estimate, high) -> bool:
    return low <= estimate <= high


def pairs_of(pattern: str, n_users: int) -> tuple[list[PairOutcome], list[str]]:
    kinds = PATTERNS[pattern]
    outcomes, users = [], []
    for user in range(n_users):
        for index in range(6):
            outcomes.append(KINDS[kinds[(user + index) % len(kinds)]])
            users.append(f"u{user}")
    return outcomes, users


@pytest.mark.parametrize(("count", "n"), [(0, 1), (0, 7), (7, 7), (3.5, 7), (1, 1000), (0, 1000)])
def test_wilson(count, n):
    interval = wilson_interval(count, n)
    assert contains(interval.low, count / n, interval.high)
    assert 0.0 <= interval.low and interval.high <= 1.0


def test_wilson_of_zero_successes_starts_at_zero_exactly():
    assert wilson_interval(0, 6).low == 0.0
    assert wilson_interval(6, 6).high == 1.0


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("n_users", USER_COUNTS)
def test_win_rate_and_per_user(pattern, n_users):
    outcomes, users = pairs_of(pattern, n_users)
    summary = summarize_win_rate(outcomes, users)
    assert contains(summary.ci_low, summary.win_rate, summary.ci_high)
    for row in per_user_win_rates(outcomes, users).values():
        assert contains(row.ci_low, row.win_rate, row.ci_high)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("n_users", USER_COUNTS)
def test_length_controlled_win_rate(pattern, n_users):
    outcomes, users = pairs_of(pattern, n_users)
    deltas = [(index * 37) % 200 - 100 for index in range(len(outcomes))]
    result = length_controlled_win_rate([o.score for o in outcomes], deltas, users)
    if result.lc_ci_low is not None:
        assert contains(result.lc_ci_low, result.lc_win_rate, result.lc_ci_high)


@pytest.mark.parametrize(
    "values",
    [
        {"u": [0.0, 0.0], "v": [0.0, 1.0]},
        {"u": [1.0], "v": [1.0, 1.0, 0.0]},
        {f"u{i}": [float(i == 0)] for i in range(30)},  # one success in 30
        {f"u{i}": [float(i != 0)] for i in range(30)},  # one failure in 30
    ],
    ids=["few-near-0", "few-near-1", "many-near-0", "many-near-1"],
)
def test_clustered_mean_interval(values):
    interval = clustered_mean_interval(values)
    flat = [value for user_values in values.values() for value in user_values]
    assert contains(interval.low, sum(flat) / len(flat), interval.high)


@pytest.mark.parametrize("n_users", USER_COUNTS)
def test_first_choice_shares(n_users):
    # per user one sample of two rotations: unanimous for a, split a/b, or an exact a-b tie
    samples = [[("a",), ("a",)], [("a",), ("b",)], [("a", "b"), ("a",)]]
    choices = [samples[user % 3] for user in range(n_users)]
    users = [f"u{user}" for user in range(n_users)]
    summary = summarize_first_choice(choices, users, ["a", "b", "c"])
    for share in summary.first_choice:
        assert contains(share.ci_low, share.share, share.ci_high)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_bradley_terry_ratings(pattern):
    outcomes, users = pairs_of(pattern, 4)
    battles = [Battle("ref", "other", o.outcome, u) for o, u in zip(outcomes, users, strict=True)]
    battles += [Battle("ref", "third", "win", u) for u in users[:3]]
    for rating in bradley_terry_ratings(battles, anchor="ref"):
        if rating.ci_low is not None:  # the anchor and a separated system have none
            assert contains(rating.ci_low, rating.rating, rating.ci_high)
        else:
            assert rating.system == "ref" or rating.separated


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("n_users", USER_COUNTS)
def test_judge_audit_and_self_preference(pattern, n_users):
    outcomes, users = pairs_of(pattern, n_users)
    winners = {"win": (1, 2), "loss": (2, 1), "tie": (1, 1)}
    pairs = [
        AuditedPair("ref", "own", user, *winners[o.outcome], 100 + 10 * (i % 3), 120, o.score)
        for i, (o, user) in enumerate(zip(outcomes, users, strict=True))
    ]
    audit = audit_judge(pairs)
    for key in ("first_slot_win_rate", "position_consistency", "longer_win_rate"):
        rate = audit[key]
        assert contains(rate["ci_low"], rate["rate"], rate["ci_high"]), key
    slope = audit["length_coefficient"]
    if slope["ci_low"] is not None:
        assert contains(slope["ci_low"], slope["coefficient"], slope["ci_high"])
    for row in self_preference(pairs, {"m"}, {"own": {"m"}}):
        assert contains(row["ci_low"], row["win_rate"], row["ci_high"])
