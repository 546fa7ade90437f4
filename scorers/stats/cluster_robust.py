"""Small-sample cluster-robust variance: CR2 with Imbens–Kolesár degrees of freedom.

The one interval rule of the report (docs/statistics.md, "The one interval rule") rests on
this module. Observations come in clusters (users, or items); clusters are independent, the
observations of one cluster are not, the number of clusters G may be as small as 3 and the
clusters' sizes very unequal (a few users with hundreds of pairs, most with a handful).

* **CR2 variance** (bias-reduced linearization; Bell & McCaffrey 2002, Pustejovsky & Tipton
  2018, R ``clubSandwich::vcovCR(type = "CR2")``). The sandwich ``M (Σ_g s̃_g s̃_gᵀ) M`` with
  each cluster's score adjusted by ``(I - H̃_gg)^(-1/2)``, where ``X̃ = W^(1/2) X`` and the
  residuals are taken in the whitened (working-weight) scale, ``M = (X̃ᵀX̃ + Λ)^(-1)`` is the
  bread (``Λ`` the prior's precision, 0 for an unpenalized fit) and ``H̃_gg = X̃_g M X̃_gᵀ``
  cluster g's block of the hat matrix. Unbiased when the working model (independent
  observations, variance ∝ 1/w) holds, whatever the cluster sizes; CR1 (``G/(G-1)`` times
  CR0) is unbiased only for equal clusters and under-estimates the variance of a pooled mean
  dominated by a few large users.
* **Imbens–Kolesár degrees of freedom** (Imbens & Kolesár 2016). For a contrast c the CR2
  variance is a quadratic form ``Σ_g (p_gᵀ ε)²`` in the errors; its Satterthwaite
  approximation by a scaled χ² gives ``df = (tr Ω)² / ‖Ω‖_F²`` with ``Ω = Pᵀ Φ P`` under a
  working covariance Φ: here a random intercept per cluster, ``Φ = I + τ² Σ_g ṽ_g ṽ_gᵀ``
  (ṽ_g = √w on cluster g's rows), with τ² from the one-way ANOVA intraclass correlation of
  the residuals (:func:`anova_icc`). τ² = 0 gives Bell & McCaffrey's df (``G - 1`` for equal
  clusters); when one user carries most of the weight the df drops towards 1 and the t
  quantile widens the interval accordingly.

Everything reduces to cluster-level quantities (``O(G p³)``, never an n × n matrix): by the
push-through identity ``(I - X̃_g M X̃_gᵀ)^(-1/2) X̃_g = X̃_g M^(1/2) (I - K_g)^(-1/2) M^(-1/2)``
with ``K_g = M^(1/2) C_g M^(1/2)`` and ``C_g = X̃_gᵀ X̃_g``. For a weighted mean (X = 1) the
adjusted score is ``S_g / sqrt(1 - h_g)`` with ``S_g = Σ_i w_gi (y_gi - μ̂)`` and the cluster's
leverage ``h_g = W_g / W``.

Chosen by simulation (docs/statistics.md, "Coverage measured"). tests/test_cluster_robust.py
checks the numbers against R clubSandwich 0.5.8 and against a brute-force n × n
implementation of the definitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

__all__ = [
    "CR2Fit",
    "MeanCR2",
    "anova_icc",
    "cluster_index",
    "clustered_mean_cr2",
    "cr2_sandwich",
    "logistic_cr2",
    "t_interval",
]

_EIGEN_ONE = 1e-10
"""An eigenvalue of K_g within this of 1 is a direction fitted by cluster g alone; its
adjustment uses the Moore–Penrose convention (factor 0), as clubSandwich does."""

MAX_ICC = 0.999
"""The working model's intraclass correlation is clipped to [0, MAX_ICC]."""


def cluster_index(clusters: Sequence[object]) -> tuple[np.ndarray, int]:
    """Cluster labels as indices 0..G-1 in order of first appearance, and G."""
    names: dict[object, int] = {}
    index = np.array([names.setdefault(label, len(names)) for label in clusters], dtype=np.intp)
    return index, len(names)


def t_interval(
    center: float, variance: float, df: float, confidence: float = 0.95
) -> tuple[float, float]:
    """``center ± t_{df, (1 + confidence) / 2} · sqrt(variance)``.

    (nan, nan) when df is not positive or the variance is negative or not finite.
    """
    if not (df > 0 and variance >= 0 and np.isfinite(variance)):
        return float("nan"), float("nan")
    from scipy.stats import t as student_t  # ~1 s to import: only when used

    half = float(student_t.ppf(0.5 + confidence / 2.0, df)) * float(np.sqrt(variance))
    return center - half, center + half


def anova_icc(resid_sums: np.ndarray, resid_sq_sums: np.ndarray, counts: np.ndarray) -> float:
    """One-way ANOVA (method-of-moments) intraclass correlation, clipped to [0, MAX_ICC].

    Args:
        resid_sums: ``Σ_i r_gi`` per cluster (any residuals; a common shift cancels).
        resid_sq_sums: ``Σ_i r_gi²`` per cluster.
        counts: ``n_g`` per cluster (observations, not weights).

    ``MSB = Σ n_g (r̄_g - r̄)² / (G-1)``, ``MSW = Σ_g Σ_i (r_gi - r̄_g)² / (N-G)``,
    ``n₀ = (N - Σ n_g² / N) / (G-1)``, ``σ̂²_b = max(0, (MSB - MSW) / n₀)``,
    ``ρ̂ = σ̂²_b / (σ̂²_b + MSW)``. With singleton clusters only (no within-cluster
    information) and ``MSB > 0`` it is MAX_ICC: the conservative end.
    """
    r1 = np.asarray(resid_sums, dtype=float)
    r2 = np.asarray(resid_sq_sums, dtype=float)
    n = np.asarray(counts, dtype=float)
    n_total, g = float(n.sum()), len(n)
    if g < 2:
        return 0.0
    grand = r1.sum() / n_total
    msb = float(np.sum(n * (r1 / n - grand) ** 2)) / (g - 1)
    msw = max(float(np.sum(r2 - r1**2 / n)) / (n_total - g), 0.0) if n_total > g else 0.0
    n0 = (n_total - float(np.sum(n**2)) / n_total) / (g - 1)
    between = max((msb - msw) / n0, 0.0) if n0 > 0 else 0.0
    if between + msw <= 0:
        return 0.0
    return float(min(between / (between + msw), MAX_ICC))


@dataclass(frozen=True)
class MeanCR2:
    """A weighted mean with its CR2 variance and Satterthwaite degrees of freedom.

    Attributes:
        estimate: ``Σ w y / Σ w`` (the pooled, observation-weighted mean).
        variance: CR2 variance ``Σ_g S_g² / (1 - h_g) / W²``.
        df: Imbens–Kolesár df under the random-intercept working model with ICC ``icc``
            (Bell–McCaffrey's when ``icc`` is 0; ``G - 1`` for equal clusters).
        icc: The working model's intraclass correlation.
    """

    estimate: float
    variance: float
    df: float
    icc: float


def _satterthwaite_mean(totals: np.ndarray, alpha: float, beta: float) -> float:
    """``(tr Ω)² / tr(Ω²)`` for ``Ω = C (α K + β K²) C`` in O(G).

    ``K = D - w wᵀ / W`` (D = diag(W_g)) and ``C = diag((1 - h_g)^(-1/2))``: ``C K C = PᵀP``
    is the CR2 mean's quadratic-form matrix under independent whitened errors and
    ``C K² C`` its random-intercept part. With ``a = C w / √W``, ``b = C D w / √W``,
    ``s = Σ W_g² / W``: ``Ω = diag(α c² W + β c² W²) + U S Uᵀ``, ``U = [a, b]``,
    ``S = [[-(α - β s), -β], [-β, 0]]``.
    """
    w = totals
    total = float(w.sum())
    c2 = 1.0 / (1.0 - w / total)
    d = alpha * c2 * w + beta * c2 * w**2
    u = np.column_stack([np.sqrt(c2) * w, np.sqrt(c2) * w**2]) / np.sqrt(total)
    s = float(np.sum(w**2)) / total
    small = np.array([[-(alpha - beta * s), -beta], [-beta, 0.0]])
    sm = small @ (u.T @ u)
    trace = float(d.sum() + np.trace(sm))
    trace_sq = float(
        np.sum(d**2) + 2.0 * np.trace(small @ (u.T @ (d[:, None] * u))) + np.trace(sm @ sm)
    )
    return trace**2 / trace_sq if trace_sq > 0 else float("nan")


def clustered_mean_cr2(
    sums: np.ndarray, totals: np.ndarray, icc: float = 0.0, mean_weight: float = 1.0
) -> MeanCR2:
    """CR2 variance and Satterthwaite df of a pooled mean, from cluster totals.

    Args:
        sums: ``Σ_i w_gi y_gi`` per cluster (G ≥ 2 clusters).
        totals: ``W_g = Σ_i w_gi`` per cluster, all positive.
        icc: Working-model intraclass correlation ρ in [0, 1) for the df (0: Bell–McCaffrey).
        mean_weight: The mean observation weight ``w̄`` (1 for unweighted data): the
            random-intercept variance in the whitened scale is ``τ² = ρ / ((1 - ρ) w̄)``.

    With ``W = Σ W_g``, ``h_g = W_g / W`` and ``S_g = sums_g - W_g μ̂``: ``μ̂ = Σ sums / W``,
    the CR2 variance ``Σ_g S_g² / (1 - h_g) / W²`` and the Satterthwaite df of it under
    ``Var(√w y) = I + τ² Σ_g ṽ_g ṽ_gᵀ``, i.e. ``Ω ∝ (1 - ρ) C K C + (ρ / w̄) C K² C`` with
    ``K = diag(W_g) - w wᵀ / W`` and ``C = diag((1 - h_g)^(-1/2))``.

    Raises:
        ValueError: If there are fewer than two clusters, a total is not positive, or icc is
            outside [0, 1).
    """
    s = np.asarray(sums, dtype=float)
    w = np.asarray(totals, dtype=float)
    if s.shape != w.shape or s.ndim != 1 or len(s) < 2:
        raise ValueError(
            f"need at least two clusters with matching sums and totals, got {s.shape}, {w.shape}"
        )
    if np.any(w <= 0):
        raise ValueError("every cluster's total weight must be positive")
    if not 0.0 <= icc < 1.0:
        raise ValueError(f"icc must lie in [0, 1), got {icc!r}")
    total = float(w.sum())
    estimate = float(s.sum() / total)
    resid = s - w * estimate
    variance = float(np.sum(resid**2 / (1.0 - w / total)) / total**2)
    df = _satterthwaite_mean(w, 1.0 - icc, icc / mean_weight)
    return MeanCR2(estimate, variance, df, float(icc))


@dataclass(frozen=True)
class CR2Fit:
    """CR2 covariance of a coefficient vector and the Satterthwaite df of one contrast.

    Attributes:
        covariance: p × p CR2 covariance ``M (Σ_g s̃_g s̃_gᵀ) M``.
        df: Imbens–Kolesár df of ``contrast @ beta`` (Bell–McCaffrey's when ``tau2`` is 0).
        tau2: Random-intercept variance of the df's working model, whitened scale.
    """

    covariance: np.ndarray
    df: float
    tau2: float


def _sym_power(matrix: np.ndarray, power: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * values**power) @ vectors.T


def _df(omega: np.ndarray) -> float:
    trace = float(np.trace(omega))
    frobenius = float(np.sum(omega**2))
    return trace**2 / frobenius if frobenius > 0 else float("nan")


def cr2_sandwich(
    scores: np.ndarray,
    grams: np.ndarray,
    bread: np.ndarray,
    contrast: Sequence[float] | np.ndarray,
    *,
    tau2: float = 0.0,
    intercept_totals: np.ndarray | None = None,
) -> CR2Fit:
    """CR2 sandwich and the Satterthwaite df of a contrast, from cluster-level parts.

    Works for any (penalized) weighted least-squares fit and, on its working weights, any GLM
    fitted by IRLS: observation i of cluster g has working weight ``w_i`` and design row
    ``x_i`` (for a logistic fit ``w = p (1 - p)`` and the whitened residual times √w is
    ``y - p``).

    Args:
        scores: G × p, ``s_g = Σ_{i∈g} (y_i - p_i) x_i`` (the whitened residuals' score).
        grams: G × p × p, ``C_g = Σ_{i∈g} w_i x_i x_iᵀ`` (the cluster's Fisher information).
        bread: p × p, ``M = (Σ_g C_g + Λ)^(-1)``, Λ the penalty's Hessian (0 if none).
        contrast: Length-p vector c whose df is computed.
        tau2: Random-intercept variance of the df's working model (whitened scale,
            ``Var(ẽ) = I + τ² Σ_l ṽ_l ṽ_lᵀ`` with ṽ_l = √w on cluster l's rows); 0 gives
            Bell–McCaffrey.
        intercept_totals: G × p, ``z_g = X̃_gᵀ ṽ_g = Σ_{i∈g} w_i x_i``; needed when tau2 > 0.
            The design need not contain an intercept column.

    Formulas (``K_g = M^½ C_g M^½``, ``T_g = (I - K_g)^(-½)`` with the pseudo-inverse on an
    eigenvalue 1, ``u = M^½ c``):

    * adjusted score ``s̃_g = M^(-½) T_g M^½ s_g``; covariance ``M Σ s̃_g s̃_gᵀ M``;
    * ``d_g = uᵀ T_g² K_g u``, ``f_g = M^(-½) T_g K_g u``; the quadratic form's matrix under
      independence is ``PᵀP = diag(d) - 2 FᵀMF + FᵀM (Σ_g C_g) M F``;
    * its random-intercept part ``QᵀQ`` with ``Q_lg = [l = g] z_gᵀ M^½ T_g u
      - z_lᵀ M^½ T_g K_g u`` (``ṽ_lᵀ p_g``); ``Ω = PᵀP + τ² QᵀQ``, ``df = (tr Ω)² / ‖Ω‖_F²``.
    """
    s = np.asarray(scores, dtype=float)
    c_g = np.asarray(grams, dtype=float)
    m = np.asarray(bread, dtype=float)
    n_clusters, p = s.shape
    if c_g.shape != (n_clusters, p, p) or m.shape != (p, p):
        raise ValueError(f"shapes disagree: scores {s.shape}, grams {c_g.shape}, bread {m.shape}")
    m = (m + m.T) / 2.0
    m_half = _sym_power(m, 0.5)
    m_inv_half = _sym_power(m, -0.5)
    k = m_half @ c_g @ m_half
    k = (k + np.swapaxes(k, 1, 2)) / 2.0
    lam, vec = np.linalg.eigh(k)
    lam = np.clip(lam, 0.0, None)
    ok = lam < 1.0 - _EIGEN_ONE
    inv_sqrt = np.where(ok, 1.0 / np.sqrt(np.where(ok, 1.0 - lam, 1.0)), 0.0)

    def spectral(values: np.ndarray) -> np.ndarray:
        return (vec * values[:, None, :]) @ np.swapaxes(vec, 1, 2)

    t_g = spectral(inv_sqrt)
    adjusted = np.einsum("ij,gjk,kl,gl->gi", m_inv_half, t_g, m_half, s)
    covariance = m @ (adjusted.T @ adjusted) @ m
    u = m_half @ np.asarray(contrast, dtype=float)
    t_k = spectral(np.where(ok, lam * inv_sqrt, 0.0))  # T_g K_g
    d = np.einsum("i,gij,j->g", u, spectral(np.where(ok, lam * inv_sqrt**2, 0.0)), u)
    f = np.einsum("ij,gjk,k->ig", m_inv_half, t_k, u)
    mf = m @ f
    omega = np.diag(d) - 2.0 * f.T @ mf + mf.T @ c_g.sum(axis=0) @ mf
    if tau2 > 0:
        if intercept_totals is None:
            raise ValueError("a random-intercept working model needs intercept_totals")
        z = np.asarray(intercept_totals, dtype=float) @ m_half  # z_gᵀ M^½, G × p
        own = np.einsum("gi,gij,j->g", z, t_g, u)
        spill = np.einsum("li,gij,j->lg", z, t_k, u)
        q = np.diag(own) - spill
        omega = omega + tau2 * (q.T @ q)
    return CR2Fit(covariance, _df(omega), float(tau2))


def logistic_cr2(
    design: np.ndarray,
    outcomes: np.ndarray,
    clusters: np.ndarray,
    coefficients: np.ndarray,
    precision: np.ndarray,
    contrast: Sequence[float] | np.ndarray,
) -> CR2Fit:
    """CR2 covariance and Imbens–Kolesár df of a fitted (penalized) logistic model.

    The fit is ``logit P(y = 1) = X β`` with fractional outcomes allowed (a tie 0.5), under a
    Gaussian prior of diagonal ``precision``. The CR2 adjustment is taken on the IRLS working
    weights ``w = p (1 - p)`` at ``coefficients`` with the inverse penalized information as
    bread. The df's working model: ρ̂ = ANOVA ICC (:func:`anova_icc`) of the Pearson
    residuals ``(y - p) / √w`` by cluster, ``τ² = ρ̂ / ((1 - ρ̂) w̄)`` with ``w̄`` the mean
    working weight, a random intercept on the linear predictor of each cluster.

    Args:
        design: n × p design X.
        outcomes: n outcomes in [0, 1].
        clusters: n cluster indices 0..G-1 (:func:`cluster_index`).
        coefficients: The fitted β.
        precision: The prior's precision per coefficient (zeros for an unpenalized fit).
        contrast: The contrast c whose df is computed.
    """
    x = np.asarray(design, dtype=float)
    y = np.asarray(outcomes, dtype=float)
    n_clusters = int(clusters.max()) + 1
    p = expit(x @ np.asarray(coefficients, dtype=float))
    w = p * (1.0 - p)
    n_par = x.shape[1]

    def per_cluster(values: np.ndarray) -> np.ndarray:
        return np.bincount(clusters, weights=values, minlength=n_clusters)

    scores = np.column_stack([per_cluster(x[:, i] * (y - p)) for i in range(n_par)])
    totals = np.column_stack([per_cluster(x[:, i] * w) for i in range(n_par)])
    grams = np.empty((n_clusters, n_par, n_par))
    for i in range(n_par):
        for j in range(i, n_par):
            grams[:, i, j] = grams[:, j, i] = per_cluster(x[:, i] * x[:, j] * w)
    bread = np.linalg.inv(grams.sum(axis=0) + np.diag(np.asarray(precision, dtype=float)))
    pearson = (y - p) / np.sqrt(w)
    rho = anova_icc(per_cluster(pearson), per_cluster(pearson**2), per_cluster(np.ones_like(y)))
    tau2 = rho / ((1.0 - rho) * float(w.mean()))
    return cr2_sandwich(scores, grams, bread, contrast, tau2=tau2, intercept_totals=totals)
