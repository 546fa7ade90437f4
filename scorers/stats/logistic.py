"""Logistic regression of judged outcomes, with intervals clustered by user.

The length-controlled win rate, the judge audit's length slope and the Bradley–Terry ratings
are all a logistic model of a verdict (1 win, 0 loss, 0.5 tie: a fractional response, as
AlpacaEval's soft preferences) on a few covariates. Outcomes of one user are not independent,
so the interval of a coefficient is clustered by user with the rule of every other interval
(:mod:`prefbench.scorers.stats.intervals`): the CR2 sandwich variance taken on the fit's
working weights and a Student-t quantile with the Imbens–Kolesár degrees of freedom
(:func:`prefbench.scorers.stats.cluster_robust.logistic_cr2`; ``"cr2-ik"``).

Every coefficient has a Gaussian prior N(0, sd²): by default the weak prior of Gelman et al.
(2008), sd :data:`PRIOR_SD` = 2.5, which keeps a slope finite when a covariate separates wins
from losses exactly; a system's strength (an intercept, a Bradley–Terry rating) gets the nearly
flat :data:`INTERCEPT_PRIOR_SD` = 10, so it is not shrunk towards 50 % yet stays finite where
one system wins every pair. Where the data separate (:func:`separated`: some direction of the
coefficients raises the likelihood without bound, so a plain GLM has no finite estimate) the
prior, not the data, sets the estimate; callers flag it. The fit is Newton's method on the
penalized log-likelihood (iteratively reweighted least squares, the standard GLM fit;
statsmodels' GLM has no Gaussian prior with a cluster-robust covariance); the objective is
strictly convex, and a fit whose gradient is not below ``GRADIENT_TOLERANCE`` is an error.
tests/test_length_control.py checks the fit against statsmodels' GLM, and
tests/test_cluster_robust.py the CR2 covariance and its degrees of freedom.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from prefbench.scorers.stats.cluster_robust import cluster_index, logistic_cr2, t_interval
from prefbench.scorers.stats.intervals import CiMethod, Interval, check_confidence, containing

__all__ = [
    "INTERCEPT_PRIOR_SD",
    "PRIOR_SD",
    "ClusteredLogistic",
    "fit_clustered_logistic",
    "separated",
]

PRIOR_SD = 2.5
"""Prior sd of a slope: 2.5 logits, the weakly informative default of Gelman, Jakulin, Pittau
& Su (2008, "A weakly informative default prior distribution for logistic and other
regression models", Ann. Appl. Stat. 2(4))."""

INTERCEPT_PRIOR_SD = 10.0
"""Prior sd of an intercept or a system's strength: 10 logits. Nearly flat: between win rates
of 5 % and 95 % (logits ±2.94) its log-density changes by less than 0.05, and it moves an
estimate by a factor 1 / (1 + 0.01 / information) towards 0: by under 1 % once a comparison
has 4 pairs."""

GRADIENT_TOLERANCE = 1e-8
"""Largest gradient component, per observation, accepted at a fitted coefficient vector."""

MAX_NEWTON_STEPS = 100
MAX_STEP = 5.0
"""Newton steps are clipped to this size per coefficient (a safeguard far from the optimum)."""

DEGENERATE_VARIANCE = 1e-9
"""A clustered variance below this fraction of the model's own is treated as absent (every
user's outcomes fitted exactly: the sandwich is zero up to rounding)."""

SEPARATION_TOLERANCE = 1e-7
"""A direction that raises the linear predictor of the observed outcomes by more than this
(summed over observations, coefficients within [-1, 1]) is a separating one."""


Monotone = Callable[[np.ndarray], np.ndarray]
"""An increasing function applied elementwise (``scipy.special.expit`` for a rate)."""


def _identity(values: np.ndarray) -> np.ndarray:
    return values


@dataclass(frozen=True)
class ClusteredLogistic:
    """A fitted logistic model and the data its intervals need.

    Attributes:
        coefficients: The penalized maximum-likelihood coefficients, one per column of X.
        outcomes: The outcomes it was fitted on.
        design: The n × p covariate matrix.
        cluster: Each observation's user index.
        n_users: Number of users (clusters).
        precision: The prior's precision (1 / sd²) of each coefficient.
    """

    coefficients: np.ndarray
    outcomes: np.ndarray
    design: np.ndarray
    cluster: np.ndarray
    n_users: int
    precision: np.ndarray

    def interval(
        self,
        contrast: Sequence[float],
        transform: Monotone = _identity,
        *,
        confidence: float = 0.95,
    ) -> Interval | None:
        """Interval of ``transform(contrast @ beta)``, clustered by user (``"cr2-ik"``).

        The t interval of ``contrast @ beta`` with the CR2 sandwich variance and the
        Imbens–Kolesár degrees of freedom
        (:func:`~prefbench.scorers.stats.cluster_robust.logistic_cr2`), its ends mapped by
        ``transform``, widened onto the estimate where needed. Where the clustered variance
        does not exist (one user, or every user's outcomes fitted exactly, e.g. only ties:
        the sandwich is 0), the model's own Wald interval instead (``"wald"``: the inverse
        penalized information as variance, a normal quantile), as the rates fall back to
        Wilson. None when an end is not finite.
        """
        check_confidence(confidence)
        weights = np.asarray(contrast, dtype=float)
        center = float(weights @ self.coefficients)
        estimate = float(transform(np.array([center]))[0])
        model_variance = float(weights @ self.model_covariance() @ weights)
        method: CiMethod = "wald"
        ends = t_interval(center, model_variance, float("inf"), confidence)
        if self.n_users >= 2:
            fit = logistic_cr2(
                self.design, self.outcomes, self.cluster, self.coefficients, self.precision, weights
            )
            variance = float(weights @ fit.covariance @ weights)
            if variance > DEGENERATE_VARIANCE * model_variance and np.isfinite(fit.df):
                method = "cr2-ik"
                ends = t_interval(center, variance, fit.df, confidence)
        low, high = transform(np.array(ends))
        if not (np.isfinite(low) and np.isfinite(high)):
            return None
        return containing(Interval(float(low), float(high), method, self.n_users), estimate)

    def model_covariance(self) -> np.ndarray:
        """The inverse penalized information at the fit (the model's own, non-clustered)."""
        p = expit(self.design @ self.coefficients)
        information = self.design.T @ (self.design * (p * (1.0 - p))[:, None])
        return np.linalg.inv(information + np.diag(self.precision))

    def separated(self) -> bool:
        """Whether the data separate (:func:`separated`): the prior sets the estimate."""
        return separated(self.design, self.outcomes)


def separated(design: np.ndarray, outcomes: np.ndarray) -> bool:
    """Whether a plain (unpenalized) logistic fit of these data has no finite estimate.

    The maximum-likelihood estimate fails to exist exactly when some direction b ≠ 0 of the
    coefficients never lowers the likelihood and raises it somewhere (complete or
    quasi-complete separation; Albert & Anderson 1984): ``x_i·b ≥ 0`` wherever an outcome
    has mass on 1 (y > 0) and ``x_i·b ≤ 0`` wherever it has mass on 0 (y < 1; a tie
    constrains both sides), with some ``x_i·b ≠ 0``. For an intercept and one covariate
    (the length-controlled win rate) that is a threshold on the covariate with every outcome
    that has mass on 1 on one side and every outcome with mass on 0 on the other, checked
    directly; otherwise a linear program (Konis 2007, ``scipy.optimize.linprog``) looks for
    the direction that maximizes the summed ``|x_i·b|`` under these constraints with ``b`` in
    [-1, 1], and finds separation when the maximum exceeds :data:`SEPARATION_TOLERANCE`.
    """
    x = np.asarray(design, dtype=float)
    y = np.asarray(outcomes, dtype=float)
    if not np.any(y > 0) or not np.any(y < 1):
        return True  # every outcome on one side: the intercept alone separates
    if x.shape[1] == 2 and np.all(x[:, 0] == 1.0):
        ones, zeros = x[y > 0, 1], x[y < 1, 1]
        spread = np.ptp(x[:, 1]) > 0  # a threshold with some observation strictly off it
        return bool(spread and (zeros.max() <= ones.min() or ones.max() <= zeros.min()))
    from scipy.optimize import linprog  # ~0.3 s to import: only when used

    signed = np.concatenate([x[y > 0], -x[y < 1]])
    result = linprog(
        -signed.sum(axis=0),
        A_ub=-signed,
        b_ub=np.zeros(len(signed)),
        bounds=[(-1.0, 1.0)] * x.shape[1],
        method="highs",
    )
    return bool(result.status == 0 and -result.fun > SEPARATION_TOLERANCE)


def _fit(outcomes: np.ndarray, design: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """The penalized logistic fit by Newton's method; its coefficients."""
    beta = np.zeros(design.shape[1])
    for _ in range(MAX_NEWTON_STEPS):
        p = expit(design @ beta)
        gradient = (outcomes - p) @ design - precision * beta
        hessian = design.T @ (design * (p * (1.0 - p))[:, None]) + np.diag(precision)
        step = np.linalg.solve(hessian, gradient)
        beta = beta + np.clip(step, -MAX_STEP, MAX_STEP)
        if np.max(np.abs(step)) < 1e-10:
            break
    gradient = (outcomes - expit(design @ beta)) @ design - precision * beta
    worst = float(np.max(np.abs(gradient)) / len(outcomes))
    if not worst < GRADIENT_TOLERANCE:
        raise RuntimeError(f"logistic fit did not converge: gradient {worst:.2e} per observation")
    return beta


def fit_clustered_logistic(
    outcomes: Sequence[float],
    design: np.ndarray,
    users: Sequence[str],
    prior_sd: Sequence[float] | None = None,
) -> ClusteredLogistic:
    """Fit P(outcome = 1) = expit(design @ beta) under a Gaussian prior; intervals by user.

    Args:
        outcomes: One outcome in [0, 1] per observation (0.5 for a tie).
        design: The n × p covariate matrix (include a column of ones for an intercept).
        users: The user of each observation.
        prior_sd: The prior sd of each coefficient (use ``INTERCEPT_PRIOR_SD`` for an
            intercept); None gives every coefficient ``PRIOR_SD``.

    Returns:
        A :class:`ClusteredLogistic`; its ``interval`` method gives clustered intervals.

    Raises:
        ValueError: If the lengths disagree, there is no observation, or an outcome is
            outside [0, 1].
        RuntimeError: If Newton's method does not converge (see ``GRADIENT_TOLERANCE``).
    """
    y = np.asarray(outcomes, dtype=float)
    x = np.asarray(design, dtype=float)
    if len(y) == 0 or x.ndim != 2 or x.shape[0] != len(y) or len(users) != len(y):
        raise ValueError(
            f"need one design row and one user per outcome (at least one), got {len(y)} "
            f"outcomes, design of shape {x.shape} and {len(users)} users"
        )
    if np.any((y < 0) | (y > 1)):
        raise ValueError(f"outcomes must lie in [0, 1], got {sorted(set(y.tolist()))}")
    sd = np.full(x.shape[1], PRIOR_SD) if prior_sd is None else np.asarray(prior_sd, float)
    if sd.shape != (x.shape[1],) or np.any(sd <= 0):
        raise ValueError(f"prior_sd needs one positive sd per design column, got {prior_sd}")
    precision = 1.0 / sd**2
    cluster, n_users = cluster_index(users)
    beta = _fit(y, x, precision)
    return ClusteredLogistic(beta, y, x, cluster, n_users, precision)
