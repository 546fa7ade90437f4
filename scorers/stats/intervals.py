"""Confidence intervals clustered by user: the one interval rule of every mean and rate.

Win rates, soft win rates, first-choice shares, agreement rates and similarity means all
estimate a pooled mean over observations (pairs, samples, items) that come in clusters
(users). Observations of one user are not independent, and users contribute very unequal
numbers of them (a few Enron senders write hundreds of emails, most a handful), so the
interval treats the user as the unit with a small-sample rule that accounts for unequal
cluster sizes (:mod:`prefbench.scorers.stats.cluster_robust`):

- the **CR2** (bias-reduced) cluster-robust variance of the pooled mean;
- a **Student-t** quantile with the **Imbens–Kolesár** degrees of freedom (Satterthwaite
  under a random-intercept working model whose intraclass correlation is the one-way ANOVA
  estimate), which fall towards 1 when one user carries most of the weight;
- for a rate (values in [0, 1]) the interval is built on the **logit scale** and mapped back,
  ``expit(logit μ̂ ± t · se / (μ̂ (1 - μ̂)))`` (``"cr2-ik-logit"``), so it stays inside
  [0, 1] and is asymmetric near the bounds; an unbounded mean uses the linear scale
  ``μ̂ ± t · se`` (``"cr2-ik"``), clipped to the metric's range.

Rates fall back to the Wilson interval (``"wilson"``, :func:`wilson_interval`) where the
clustered interval does not exist: one user, every user with the same mean, or a pooled
rate of exactly 0 or 1. Every interval contains its point estimate exactly
(:func:`containing`). Each interval records how many users it rests on; from
:data:`GUARANTEED_MIN_USERS` on, the simulation in tests/benchmarks/bench_interval_coverage.py
measured at least 93 % coverage of the nominal 95 % in every design (docs/statistics.md,
"Coverage measured"); below it the interval is reported as "not guaranteed".
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import expit

from prefbench.scorers.stats.cluster_robust import (
    anova_icc,
    cluster_index,
    clustered_mean_cr2,
    t_interval,
)

__all__ = [
    "GUARANTEED_MIN_USERS",
    "CiMethod",
    "Interval",
    "check_confidence",
    "clustered_mean_interval",
    "containing",
    "rate_interval",
    "wilson_interval",
]

CiMethod = Literal["cr2-ik-logit", "cr2-ik", "wilson", "wald"]
"""How an interval was computed: clustered by user (CR2 variance, t with Imbens–Kolesár
degrees of freedom; on the logit scale for a rate, on the estimate's own scale otherwise), or,
where the clustered one does not exist, the Wilson interval (a rate) or the Wald interval of
a logistic model's coefficient (:mod:`prefbench.scorers.stats.logistic`)."""

Scale = Literal["logit", "linear"]

GUARANTEED_MIN_USERS = 5
"""Intervals resting on fewer users are flagged "not guaranteed". From 5 users on the chosen
rule covered at least 0.931 of the time in every simulated design (balanced, negative-binomial
and heavy-tailed numbers of pairs per user, user effects up to sd 1.5 logits, ties, position
bias; 2000 replicates per cell); at 3 users its coverage ranged from 0.879 to 0.993, and no
rule tried reached 0.93 in every design there (docs/statistics.md)."""


@dataclass(frozen=True)
class Interval:
    """A confidence interval, the method that gave it and the users it rests on.

    Attributes:
        low: Lower end.
        high: Upper end.
        method: See :data:`CiMethod`.
        users: Users (clusters) behind the interval.
    """

    low: float
    high: float
    method: CiMethod
    users: int

    @property
    def guaranteed(self) -> bool:
        """Whether the measured coverage holds: at least :data:`GUARANTEED_MIN_USERS` users."""
        return self.users >= GUARANTEED_MIN_USERS


def check_confidence(confidence: float) -> None:
    """Raise ValueError unless 0 < `confidence` < 1."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")


def containing(interval: Interval, estimate: float) -> Interval:
    """`interval` widened, where needed, so that ``low <= estimate <= high`` holds exactly.

    The Wilson interval of 0 successes has a lower end of about 1e-17 in floating point; a
    reported interval must still contain its point estimate, so the end on the wrong side is
    moved onto the estimate (never more than that).
    """
    return Interval(
        min(interval.low, estimate), max(interval.high, estimate), interval.method, interval.users
    )


def wilson_interval(count: float, n: int, confidence: float = 0.95, *, users: int = 1) -> Interval:
    """Wilson score interval of the proportion `count / n` (`count` may be fractional).

    statsmodels ``proportion_confint(method="wilson")``, clipped to [0, 1] and widened onto
    ``count / n`` where rounding left it outside (:func:`containing`); the fallback of rates
    whose clustered interval does not exist. `users` records how many users the
    observations come from.

    Raises:
        ValueError: If ``n`` is not positive or ``count`` is not within [0, n].
    """
    if n <= 0 or not 0 <= count <= n:
        raise ValueError(f"wilson_interval needs 0 <= count <= n and n > 0, got {count}/{n}")
    from statsmodels.stats.proportion import proportion_confint  # ~1 s: only when used

    low, high = proportion_confint(count=count, nobs=n, alpha=1.0 - confidence, method="wilson")
    interval = Interval(max(0.0, float(low)), min(1.0, float(high)), "wilson", users)
    return containing(interval, count / n)


def _flatten(
    values_by_user: Mapping[Hashable, Sequence[float]],
    weights_by_user: Mapping[Hashable, Sequence[float]] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Values, weights and user indices of every observation (users without one left out)."""
    users = [user for user, values in values_by_user.items() if len(values)]
    values = [np.asarray(values_by_user[user], dtype=float) for user in users]
    weights = [
        np.ones_like(user_values)
        if weights_by_user is None
        else np.asarray(weights_by_user[user], dtype=float)
        for user, user_values in zip(users, values, strict=True)
    ]
    for user, user_values, user_weights in zip(users, values, weights, strict=True):
        if user_weights.shape != user_values.shape or np.any(user_weights <= 0):
            raise ValueError(
                f"user {user!r}: needs one positive weight per value, got {len(user_values)} "
                f"values and weights {user_weights.tolist()}"
            )
    if not users:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.intp), 0
    index, n_users = cluster_index([u for u, v in zip(users, values, strict=True) for _ in v])
    return np.concatenate(values), np.concatenate(weights), index, n_users


def clustered_mean_interval(
    values_by_user: Mapping[Hashable, Sequence[float]],
    *,
    weights_by_user: Mapping[Hashable, Sequence[float]] | None = None,
    confidence: float = 0.95,
    scale: Scale = "logit",
    bounds: tuple[float, float] | None = None,
) -> Interval | None:
    """Interval of the pooled mean Σw·v / Σw of every user's values, clustered by user.

    Args:
        values_by_user: Each user's observations (a pair's score, a sample's share, an
            item's agreement, a generation's BERTScore F1). A user with none is left out.
        weights_by_user: Each observation's positive weight, aligned with
            ``values_by_user``; None weighs every observation 1 (the plain mean).
        confidence: Confidence level, strictly between 0 and 1.
        scale: ``"logit"`` for a rate (every value in [0, 1]; ``"cr2-ik-logit"``) or
            ``"linear"`` for any other mean (``"cr2-ik"``).
        bounds: The metric's range on the linear scale (e.g. (0, 1) for BERTScore F1):
            the interval is clipped to it. None leaves it as computed.

    Returns:
        The CR2 variance of the pooled mean (:func:`~prefbench.scorers.stats.cluster_robust.
        clustered_mean_cr2`), a t quantile with the Imbens–Kolesár degrees of freedom (ICC:
        one-way ANOVA of the whitened residuals ``√w (v - μ̂)`` by user), on the chosen scale,
        widened onto the estimate (:func:`containing`). None when there are fewer than two
        users, every user has the same mean (zero variance), or (logit scale) the pooled
        rate is exactly 0 or 1: a rate then falls back to :func:`wilson_interval`.

    Raises:
        ValueError: If a user's weights do not match its values or are not positive, a value
            lies outside [0, 1] on the logit scale, or ``confidence`` is out of range.
    """
    check_confidence(confidence)
    if scale not in ("logit", "linear"):
        raise ValueError(f"scale must be 'logit' or 'linear', got {scale!r}")
    values, weights, index, n_users = _flatten(values_by_user, weights_by_user)
    if scale == "logit" and np.any((values < 0) | (values > 1)):
        raise ValueError("a rate's values must lie in [0, 1]; use scale='linear' for a mean")
    if n_users < 2:
        return None
    sums = np.bincount(index, weights=weights * values, minlength=n_users)
    totals = np.bincount(index, weights=weights, minlength=n_users)
    if np.ptp(sums / totals) == 0:
        return None
    estimate = float(sums.sum() / totals.sum())
    residuals = np.sqrt(weights) * (values - estimate)
    icc = anova_icc(
        np.bincount(index, weights=residuals, minlength=n_users),
        np.bincount(index, weights=residuals**2, minlength=n_users),
        np.bincount(index, minlength=n_users).astype(float),
    )
    fit = clustered_mean_cr2(sums, totals, icc, float(totals.sum()) / len(values))
    if scale == "linear":
        low, high = t_interval(estimate, fit.variance, fit.df, confidence)
        method: CiMethod = "cr2-ik"
    else:
        if not 0.0 < estimate < 1.0:
            return None
        jacobian = 1.0 / (estimate * (1.0 - estimate))
        center = math.log(estimate / (1.0 - estimate))
        ends = t_interval(center, fit.variance * jacobian**2, fit.df, confidence)
        low, high = (float(end) for end in expit(np.array(ends)))
        method = "cr2-ik-logit"
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return None
    contained = containing(Interval(low, high, method, n_users), estimate)
    if bounds is None:
        return contained
    return Interval(max(bounds[0], contained.low), min(bounds[1], contained.high), method, n_users)


def rate_interval(
    values_by_user: Mapping[Hashable, Sequence[float]],
    *,
    weights_by_user: Mapping[Hashable, Sequence[float]] | None = None,
    confidence: float = 0.95,
) -> Interval:
    """The interval of a pooled rate: clustered by user, Wilson where that does not exist.

    :func:`clustered_mean_interval` on the logit scale; where it is None (one user, every
    user with the same rate, a rate of exactly 0 or 1) the Wilson interval with the
    observations as trials and the pooled rate times their number as the count.

    Raises:
        ValueError: As :func:`clustered_mean_interval`, or if there is no observation.
    """
    clustered = clustered_mean_interval(
        values_by_user, weights_by_user=weights_by_user, confidence=confidence
    )
    if clustered is not None:
        return clustered
    values, weights, _, n_users = _flatten(values_by_user, weights_by_user)
    if not len(values):
        raise ValueError("a rate's interval needs at least one observation")
    rate = float(np.sum(weights * values) / np.sum(weights))
    return containing(
        wilson_interval(
            min(rate * len(values), len(values)), len(values), confidence, users=n_users
        ),
        rate,
    )
