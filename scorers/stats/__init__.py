"""Statistics over judged pairs and generations: pure functions over plain data."""

from prefbench.scorers.stats.bradley_terry import (
    BATTLE_OUTCOMES,
    Battle,
    BattleOutcome,
    Rating,
    bradley_terry_ratings,
    fit_bradley_terry,
    separated_systems,
)
from prefbench.scorers.stats.breakdowns import aggregate_across_datasets, per_user_win_rates
from prefbench.scorers.stats.controls import (
    CONTROL_KINDS,
    ControlCheck,
    ControlOutcome,
    RequiredSample,
    control_checks,
    control_pairs,
    detects_personalization,
    required_sample,
)
from prefbench.scorers.stats.first_choice import (
    FirstChoiceSummary,
    RotationVote,
    SystemShare,
    summarize_first_choice,
    vote_totals,
)
from prefbench.scorers.stats.intervals import (
    GUARANTEED_MIN_USERS,
    CiMethod,
    Interval,
    check_confidence,
    clustered_mean_interval,
    containing,
    rate_interval,
    wilson_interval,
)
from prefbench.scorers.stats.judge_audit import (
    LENGTH_BINS,
    AuditedPair,
    audit_judge,
    self_preference,
)
from prefbench.scorers.stats.judge_gate import (
    FIRST_SLOT_BAND,
    MAX_FALLBACK_SHARE,
    MIN_POSITION_CONSISTENCY,
    quality_gate,
)
from prefbench.scorers.stats.length_control import (
    LengthControlledWinRate,
    length_controlled_win_rate,
    normalized_length_gap,
)
from prefbench.scorers.stats.logistic import (
    INTERCEPT_PRIOR_SD,
    PRIOR_SD,
    ClusteredLogistic,
    fit_clustered_logistic,
    separated,
)
from prefbench.scorers.stats.soft_win_rate import SoftWinRate, soft_win_rate
from prefbench.scorers.stats.win_rate import WinRateSummary, summarize_win_rate

__all__ = [
    "ClusteredLogistic",
    "INTERCEPT_PRIOR_SD",
    "LENGTH_BINS",
    "PRIOR_SD",
    "fit_clustered_logistic",
    "normalized_length_gap",
    "AuditedPair",
    "BATTLE_OUTCOMES",
    "CONTROL_KINDS",
    "FIRST_SLOT_BAND",
    "GUARANTEED_MIN_USERS",
    "MAX_FALLBACK_SHARE",
    "MIN_POSITION_CONSISTENCY",
    "Battle",
    "BattleOutcome",
    "CiMethod",
    "ControlCheck",
    "ControlOutcome",
    "FirstChoiceSummary",
    "Interval",
    "LengthControlledWinRate",
    "Rating",
    "RequiredSample",
    "RotationVote",
    "SoftWinRate",
    "SystemShare",
    "WinRateSummary",
    "aggregate_across_datasets",
    "audit_judge",
    "bradley_terry_ratings",
    "check_confidence",
    "clustered_mean_interval",
    "containing",
    "control_checks",
    "control_pairs",
    "detects_personalization",
    "fit_bradley_terry",
    "length_controlled_win_rate",
    "per_user_win_rates",
    "quality_gate",
    "rate_interval",
    "self_preference",
    "separated",
    "separated_systems",
    "soft_win_rate",
    "required_sample",
    "summarize_first_choice",
    "summarize_win_rate",
    "vote_totals",
    "wilson_interval",
]
