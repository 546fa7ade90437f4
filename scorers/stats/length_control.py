"""Length-controlled win rate, as AlpacaEval 2.0 computes it (Dubois et al. 2024).

AlpacaEval 2.0 (``alpaca_eval/metrics/glm_winrate.py``; Dubois, Galambosi, Liang &
Hashimoto, "Length-Controlled AlpacaEval", arXiv:2404.04475) fits a logistic model of the
judge's preference on the identity of the system and the normalized length difference of
the two outputs, then reports the win rate the model predicts at zero length difference.
For one comparison (system A against system B) the model is

    logit P(A wins pair i) = theta + phi * tanh(delta_i / sd(delta))

where ``delta_i = len(A's output) - len(B's output)`` in characters, ``sd`` its standard
deviation over the comparison's pairs, and ``theta`` the system term (A's strength over B).
A tie enters as the fractional outcome 0.5, as in the raw win rate. The length-controlled
win rate is ``expit(theta)``: A's win rate if both outputs had the same length. ``phi`` is
reported as ``length_coefficient`` (how strongly a longer output won in this comparison).
The model is fitted under the priors of :mod:`prefbench.scorers.stats.logistic` (nearly flat on
``theta``, weak on ``phi``); its interval is clustered by user by the same rule as the raw
win rate's. Where there is no length to control (every pair has the same length
difference, or the same outcome), the length-controlled win rate is the raw one, with the
raw one's interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from prefbench.scorers.stats.bradley_terry import PRIOR_SD
from prefbench.scorers.stats.intervals import (
    CiMethod,
    check_interval_settings,
    clustered_mean_interval,
    wilson_interval,
)
from prefbench.scorers.stats.logistic import INTERCEPT_PRIOR_SD, fit_clustered_logistic

__all__ = ["LengthControlledWinRate", "length_controlled_win_rate", "normalized_length_gap"]


@dataclass(frozen=True)
class LengthControlledWinRate:
    """System A's win rate over B predicted at zero length difference.

    Attributes:
        lc_win_rate: ``expit(theta)``; None with no scored pair.
        lc_ci_low: Lower end of its interval; None when there is none.
        lc_ci_high: Upper end of its interval; None when there is none.
        lc_ci_method: ``"cluster-robust-t"``, ``"bootstrap-user-cluster"`` or ``"wilson"``
            (the raw win rate's interval, kept where there is no length to control); None
            when there is no interval.
        length_coefficient: ``phi``, the logit change per unit of ``tanh(delta / sd)``;
            None when the outputs' length difference does not vary (or every outcome is
            the same), so that no length effect can be fitted.
    """

    lc_win_rate: float | None
    lc_ci_low: float | None
    lc_ci_high: float | None
    lc_ci_method: CiMethod | None
    length_coefficient: float | None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (added to a report.json comparison)."""
        return asdict(self)


def normalized_length_gap(differences: Sequence[float]) -> np.ndarray:
    """``tanh(delta / sd(delta))`` (population sd), AlpacaEval's length covariate.

    Zeros when the differences do not vary (sd 0), so a constant gap adds nothing.
    """
    delta = np.asarray(differences, dtype=float)
    spread = float(np.std(delta)) if len(delta) else 0.0
    return np.tanh(delta / spread) if spread > 0 else np.zeros_like(delta)


def length_controlled_win_rate(
    scores: Sequence[float | None],
    length_differences: Sequence[float],
    users: Sequence[str],
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> LengthControlledWinRate:
    """The length-controlled win rate of system A over system B, with a clustered interval.

    Args:
        scores: Each pair's score for A (1 win, 0.5 tie, 0 loss; None for a parse failure,
            left out), aligned with ``length_differences`` and ``users``.
        length_differences: ``len(A's output) - len(B's output)`` per pair, in characters.
        users: The user of each pair.
        confidence: Confidence level of the interval, strictly between 0 and 1.
        n_resamples: Bootstrap resamples (from ``BOOTSTRAP_MIN_USERS`` users on).
        seed: Seed of the bootstrap's generator.

    Returns:
        A :class:`LengthControlledWinRate` (see the module docstring for the model). When
        every scored pair has the same outcome, or the same length difference, there is no
        length effect to remove: the rate and interval are the raw win rate's (the pooled
        score, clustered interval, Wilson where that does not exist) and
        ``length_coefficient`` is None.

    Raises:
        ValueError: If the sequences differ in length or the settings are out of range.
    """
    if not len(scores) == len(length_differences) == len(users):
        raise ValueError(
            f"scores, length_differences and users must have the same length, got "
            f"{len(scores)}, {len(length_differences)} and {len(users)}"
        )
    check_interval_settings(confidence, n_resamples)
    kept = [i for i, score in enumerate(scores) if score is not None]
    if not kept:
        return LengthControlledWinRate(None, None, None, None, None)
    outcome = np.array([scores[i] for i in kept], dtype=float)
    kept_users = [users[i] for i in kept]
    gap = normalized_length_gap([length_differences[i] for i in kept])
    if np.ptp(outcome) == 0 or not np.any(gap != 0):
        return _raw_win_rate(outcome, kept_users, confidence, n_resamples, seed)
    design = np.column_stack([np.ones(len(kept)), gap])
    fit = fit_clustered_logistic(outcome, design, kept_users, [INTERCEPT_PRIOR_SD, PRIOR_SD])
    interval = fit.interval([1.0, 0.0], expit, confidence=confidence)
    return LengthControlledWinRate(
        lc_win_rate=float(expit(fit.coefficients[0])),
        lc_ci_low=None if interval is None else interval.low,
        lc_ci_high=None if interval is None else interval.high,
        lc_ci_method=None if interval is None else interval.method,
        length_coefficient=float(fit.coefficients[1]),
    )


def _raw_win_rate(
    outcome: np.ndarray, users: list[str], confidence: float, n_resamples: int, seed: int
) -> LengthControlledWinRate:
    """The raw win rate and its interval, by the rule of `summarize_win_rate`."""
    per_user: dict[str, list[float]] = {}
    for score, user in zip(outcome.tolist(), users, strict=True):
        per_user.setdefault(user, []).append(score)
    interval = clustered_mean_interval(
        per_user, seed, confidence=confidence, n_resamples=n_resamples, bounds=(0.0, 1.0)
    ) or wilson_interval(float(outcome.sum()), len(outcome), confidence)
    rate = float(outcome.mean())
    return LengthControlledWinRate(rate, interval.low, interval.high, interval.method, None)
