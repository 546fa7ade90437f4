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
win rate's (CR2 sandwich, Imbens–Kolesár t, on the logit scale of ``theta``). Where there is
no length to control (every pair has the same length difference, or the same outcome), the
length-controlled win rate is the raw one, with the raw one's interval.

**Separation.** When the length covariate separates the outcomes (e.g. the longer output
won every pair it did not tie), a plain GLM has no finite estimate: ``theta`` and ``phi`` run
off to infinity, and the priors alone set the reported values. Such a comparison is flagged
(``lc_separation``), and its interval is widened to contain the raw win rate's interval, so a
model the data cannot pin down never reports a narrower interval than the raw rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from prefbench.scorers.stats.intervals import CiMethod, Interval, check_confidence, rate_interval
from prefbench.scorers.stats.logistic import (
    INTERCEPT_PRIOR_SD,
    PRIOR_SD,
    fit_clustered_logistic,
)

__all__ = ["LengthControlledWinRate", "length_controlled_win_rate", "normalized_length_gap"]


@dataclass(frozen=True)
class LengthControlledWinRate:
    """System A's win rate over B predicted at zero length difference.

    Attributes:
        lc_win_rate: ``expit(theta)``; None with no scored pair.
        lc_ci_low: Lower end of its interval; None when there is none.
        lc_ci_high: Upper end of its interval; None when there is none.
        lc_ci_method: ``"cr2-ik"`` (the model's interval of ``theta``, mapped by expit),
            or the raw win rate's method (``"cr2-ik-logit"``, ``"wilson"``) where there is
            no length to control; None when there is no interval.
        length_coefficient: ``phi``, the logit change per unit of ``tanh(delta / sd)``;
            None when the outputs' length difference does not vary (or every outcome is
            the same), so that no length effect can be fitted.
        lc_separation: The data separate (module docstring): the priors set the estimate
            and the interval holds the raw one's; None when no model was fitted.
    """

    lc_win_rate: float | None
    lc_ci_low: float | None
    lc_ci_high: float | None
    lc_ci_method: CiMethod | None
    length_coefficient: float | None
    lc_separation: bool | None

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
) -> LengthControlledWinRate:
    """The length-controlled win rate of system A over system B, with a clustered interval.

    Args:
        scores: Each pair's score for A (1 win, 0.5 tie, 0 loss; None for a parse failure,
            left out), aligned with ``length_differences`` and ``users``.
        length_differences: ``len(A's output) - len(B's output)`` per pair, in characters.
        users: The user of each pair.
        confidence: Confidence level of the interval, strictly between 0 and 1.

    Returns:
        A :class:`LengthControlledWinRate` (see the module docstring for the model). When
        every scored pair has the same outcome, or the same length difference, there is no
        length effect to remove: the rate and interval are the raw win rate's (the pooled
        score, clustered interval, Wilson where that does not exist) and
        ``length_coefficient`` and ``lc_separation`` are None.

    Raises:
        ValueError: If the sequences differ in length or the settings are out of range.
    """
    if not len(scores) == len(length_differences) == len(users):
        raise ValueError(
            f"scores, length_differences and users must have the same length, got "
            f"{len(scores)}, {len(length_differences)} and {len(users)}"
        )
    check_confidence(confidence)
    kept = [i for i, score in enumerate(scores) if score is not None]
    if not kept:
        return LengthControlledWinRate(None, None, None, None, None, None)
    outcome = np.array([scores[i] for i in kept], dtype=float)
    kept_users = [users[i] for i in kept]
    per_user: dict[str, list[float]] = {}
    for score, user in zip(outcome.tolist(), kept_users, strict=True):
        per_user.setdefault(user, []).append(score)
    raw = rate_interval(per_user, confidence=confidence)
    gap = normalized_length_gap([length_differences[i] for i in kept])
    if np.ptp(outcome) == 0 or not np.any(gap != 0):
        rate = float(outcome.mean())
        return LengthControlledWinRate(rate, raw.low, raw.high, raw.method, None, None)
    design = np.column_stack([np.ones(len(kept)), gap])
    fit = fit_clustered_logistic(outcome, design, kept_users, [INTERCEPT_PRIOR_SD, PRIOR_SD])
    interval = fit.interval([1.0, 0.0], expit, confidence=confidence)
    separation = fit.separated()
    if separation and interval is not None:
        interval = _union(interval, raw)
    return LengthControlledWinRate(
        lc_win_rate=float(expit(fit.coefficients[0])),
        lc_ci_low=None if interval is None else interval.low,
        lc_ci_high=None if interval is None else interval.high,
        lc_ci_method=None if interval is None else interval.method,
        length_coefficient=float(fit.coefficients[1]),
        lc_separation=separation,
    )


def _union(model: Interval, raw: Interval) -> Interval:
    """The model's interval widened to hold the raw one (under separation)."""
    return Interval(min(model.low, raw.low), max(model.high, raw.high), model.method, model.users)
