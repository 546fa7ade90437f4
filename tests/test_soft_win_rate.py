"""Soft win rate: the mean of known soft scores, its clustered interval, and the report row."""

import numpy as np
import pytest

from prefbench.harness.report.build import aggregate_rows, comparison_row
from prefbench.harness.report.judged import JudgedComparison, JudgedPair
from prefbench.harness.report.tables import leaderboard
from prefbench.scorers.outcome import PairOutcome
from prefbench.scorers.pair_metadata import PairVerdict
from prefbench.scorers.stats import soft_win_rate
from tests.report_models import report


def simulated_soft_scores(
    users: int, pairs_per_user: int, mean: float, seed: int
) -> tuple[list[float], list[str]]:
    """Soft scores from Beta draws around a per-user mean that itself varies around `mean`."""
    rng = np.random.default_rng(seed)
    scores, owners = [], []
    for user in range(users):
        user_mean = float(np.clip(mean + rng.normal(0.0, 0.08), 0.05, 0.95))
        draws = rng.beta(user_mean * 6, (1 - user_mean) * 6, size=pairs_per_user)
        scores += draws.tolist()
        owners += [f"user{user}"] * pairs_per_user
    return scores, owners


def test_soft_win_rate_is_the_mean_of_the_known_scores_with_a_clustered_interval():
    scores, users = simulated_soft_scores(users=6, pairs_per_user=8, mean=0.7, seed=1)
    summary = soft_win_rate(scores, users)
    assert summary is not None
    assert summary.soft_n == 48
    assert summary.soft_win_rate == pytest.approx(np.mean(scores))
    assert summary.soft_ci_method == "cr2-ik-logit"
    assert summary.soft_users == 6 and summary.soft_ci_guaranteed
    assert summary.soft_ci_low <= summary.soft_win_rate <= summary.soft_ci_high
    assert 0.0 <= summary.soft_ci_low < summary.soft_ci_high <= 1.0


def test_pairs_without_a_soft_score_are_left_out():
    summary = soft_win_rate([0.9, None, 0.7, None, 0.2], ["a", "a", "b", "b", "c"])
    assert summary is not None
    assert summary.soft_n == 3
    assert summary.soft_win_rate == pytest.approx(0.6)


def test_no_soft_score_gives_none():
    assert soft_win_rate([None, None], ["a", "b"]) is None
    assert soft_win_rate([], []) is None


def test_one_user_falls_back_to_wilson_and_contains_the_estimate():
    summary = soft_win_rate([0.0, 0.0, 0.0], ["a", "a", "a"])
    assert summary is not None
    assert summary.soft_ci_method == "wilson"
    assert summary.soft_ci_low == 0.0 == summary.soft_win_rate
    assert summary.soft_ci_high > 0.0


def test_the_interval_covers_the_true_mean_about_95_percent_of_the_time():
    """Scores Beta-distributed around 0.65: nominal 95 % covers within 90-99 % of 300 runs."""
    covered = 0
    runs = 300
    for seed in range(runs):
        scores, users = simulated_soft_scores(users=10, pairs_per_user=6, mean=0.65, seed=seed)
        summary = soft_win_rate(scores, users)
        assert summary is not None
        covered += summary.soft_ci_low <= 0.65 <= summary.soft_ci_high
    assert 0.90 <= covered / runs <= 0.99


@pytest.mark.parametrize(
    ("scores", "users", "message"),
    [
        ([0.5], ["a", "b"], "same length"),
        ([1.5], ["a"], r"\[0, 1\]"),
    ],
)
def test_bad_input_is_refused(scores, users, message):
    with pytest.raises(ValueError, match=message):
        soft_win_rate(scores, users)


def comparison(soft_scores: list[float | None]) -> JudgedComparison:
    """Six pairs of three users: A wins four, loses two, with the given soft scores."""
    kinds = ["win", "win", "loss", "win", "win", "loss"]
    users = ["u1", "u1", "u2", "u2", "u3", "u3"]
    pairs = [
        JudgedPair(
            outcome=PairOutcome(kind, 1.0 if kind == "win" else 0.0, True),  # type: ignore[arg-type]
            user=user,
            dataset="demo",
            verdict=PairVerdict(
                winner_ab=1,
                winner_ba=2,
                soft_score=soft,
                verdict_source_ab="logprobs",
                verdict_source_ba="logprobs",
                verdict_mode="logprobs",
            ),
            length_a=100,
            length_b=90,
            identical=False,
        )
        for kind, user, soft in zip(kinds, users, soft_scores, strict=True)
    ]
    return JudgedComparison("preference_agent", "large_zero_shot", "llm", "judge.eval", pairs)


def test_the_report_row_holds_the_soft_win_rate_only_when_verdicts_carry_soft_scores():
    soft = comparison([0.9, 0.8, 0.3, 0.7, 0.6, 0.4])
    row = comparison_row(soft, "inconsistent_is_tie")
    assert row.soft_win_rate == pytest.approx(3.7 / 6)
    assert row.soft_n == 6
    assert row.soft_ci_low <= row.soft_win_rate <= row.soft_ci_high
    assert row.soft_ci_method == "cr2-ik-logit"
    assert row.soft_users == 3 and row.soft_ci_guaranteed is False
    with_soft = report(reference_system="preference_agent", comparisons={"llm": [row]})
    table = leaderboard(with_soft, "llm")
    assert "soft win %" in [column.header for column in table.columns]

    text_only = comparison_row(comparison([None] * 6), "inconsistent_is_tie")
    assert all(value is None for key, value in text_only if key.startswith("soft_"))
    only_text = report(reference_system="preference_agent", comparisons={"llm": [text_only]})
    table = leaderboard(only_text, "llm")
    assert "soft win %" not in [column.header for column in table.columns]


def test_the_aggregate_holds_the_soft_win_rate_only_where_a_dataset_has_one():
    soft = comparison_row(comparison([0.9, 0.8, 0.3, 0.7, 0.6, 0.4]), "inconsistent_is_tie")
    text_only = comparison_row(comparison([None] * 6), "inconsistent_is_tie")
    assert aggregate_rows([soft])[0].soft_win_rate == pytest.approx(3.7 / 6)
    assert aggregate_rows([text_only])[0].soft_win_rate is None
