"""Statistics over judged pairs: pure functions over plain data."""

from scorers.stats.win_rate import CiMethod, WinRateSummary, summarize_win_rate

__all__ = ["CiMethod", "WinRateSummary", "summarize_win_rate"]
