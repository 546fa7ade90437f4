import math

import pytest

from prefbench.scorers.outcome import PairOutcome
from prefbench.scorers.stats import WinRateSummary, summarize_win_rate
from prefbench.scorers.stats.breakdowns import aggregate_across_datasets, per_user_win_rates

WIN = PairOutcome("win", 1.0, True)
LOSS = PairOutcome("loss", 0.0, True)
TIE = PairOutcome("tie", 0.5, False)
FAIL = PairOutcome("parse_failure", None, None)


def test_per_user_counts_and_rates():
    outcomes = [WIN, LOSS, TIE, WIN, WIN, FAIL, LOSS, FAIL]
    users = ["ann", "ann", "ann", "ben", "ben", "ben", "cat", "cat"]
    summaries = per_user_win_rates(outcomes, users)
    assert list(summaries) == ["ann", "ben", "cat"]

    ann = summaries["ann"]
    assert (ann.n, ann.wins, ann.losses, ann.ties, ann.parse_failures) == (3, 1, 1, 1, 0)
    assert ann.win_rate == pytest.approx(0.5)  # (1 + 0.5) / 3
    ben = summaries["ben"]
    assert (ben.n, ben.wins, ben.parse_failures) == (2, 2, 1)
    assert ben.win_rate == 1.0
    cat = summaries["cat"]
    assert (cat.n, cat.losses, cat.parse_failures) == (1, 1, 1)
    assert cat.win_rate == 0.0


def test_per_user_uses_wilson_and_matches_summarize():
    outcomes = [WIN, WIN, LOSS, TIE, LOSS, WIN]
    users = ["u1", "u2", "u1", "u2", "u1", "u2"]
    summaries = per_user_win_rates(outcomes, users)
    for user, summary in summaries.items():
        assert isinstance(summary, WinRateSummary)
        assert summary.ci_method == "wilson"
        pairs = [o for o, u in zip(outcomes, users, strict=True) if u == user]
        assert summary == summarize_win_rate(pairs, [user] * len(pairs))
    # u1: 1 win, 2 losses -> 1/3; u2: 2 wins, 1 tie -> 2.5/3
    assert summaries["u1"].win_rate == pytest.approx(1 / 3)
    assert summaries["u2"].win_rate == pytest.approx(2.5 / 3)


def test_per_user_all_failures_and_empty():
    summaries = per_user_win_rates([FAIL, FAIL], ["u", "u"])
    assert summaries["u"].n == 0
    assert summaries["u"].win_rate is None
    assert per_user_win_rates([], []) == {}


def test_per_user_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        per_user_win_rates([WIN], ["a", "b"])


def test_aggregate_is_unweighted_mean():
    # Dataset sizes do not matter: the mean of 0.8, 0.5 and 0.2 is 0.5.
    assert aggregate_across_datasets({"a": 0.8, "b": 0.5, "c": 0.2}) == pytest.approx(0.5)
    assert aggregate_across_datasets({"a": 0.6, "b": 0.75}) == pytest.approx(0.675)
    assert aggregate_across_datasets({"only": 0.3}) == pytest.approx(0.3)


def test_aggregate_ignores_none_and_empty():
    assert aggregate_across_datasets({"a": 0.9, "b": None, "c": 0.6}) == pytest.approx(0.75)
    assert aggregate_across_datasets({"a": None}) is None
    assert aggregate_across_datasets({}) is None


@pytest.mark.parametrize("bad", [1.5, -0.1, math.nan])
def test_aggregate_rejects_invalid_rates(bad):
    with pytest.raises(ValueError, match="dataset 'x'"):
        aggregate_across_datasets({"ok": 0.5, "x": bad})
