"""Statistics over judged pairs: pure functions over plain data."""

from scorers.stats.bradley_terry import (
    Battle,
    Rating,
    bradley_terry_ratings,
    fit_bradley_terry,
)
from scorers.stats.breakdowns import aggregate_across_datasets, per_user_win_rates
from scorers.stats.first_choice import (
    FirstChoiceSummary,
    RotationVote,
    SystemShare,
    summarize_first_choice,
    vote_totals,
)
from scorers.stats.win_rate import CiMethod, WinRateSummary, summarize_win_rate

__all__ = [
    "Battle",
    "CiMethod",
    "FirstChoiceSummary",
    "Rating",
    "RotationVote",
    "SystemShare",
    "WinRateSummary",
    "aggregate_across_datasets",
    "bradley_terry_ratings",
    "fit_bradley_terry",
    "per_user_win_rates",
    "summarize_first_choice",
    "summarize_win_rate",
    "vote_totals",
]
