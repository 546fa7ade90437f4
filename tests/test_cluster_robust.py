"""CR2 variance and Imbens–Kolesár degrees of freedom (scorers/stats/cluster_robust.py).

References:

* R clubSandwich 0.5.8 (``vcovCR(type = "CR2")``, ``coef_test(test = "Satterthwaite")``) on
  the 23-observation example below: ``lm(y ~ 1)``, ``lm(y ~ 1, weights = w)`` and
  ``glm(y ~ x, quasibinomial)``. The values are copied here (R is not needed to run).
* A brute-force n × n implementation of the definitions (`brute_force`): hat matrix,
  adjustment matrices by ``scipy.linalg.sqrtm``, the quadratic form's matrix P and its
  Satterthwaite df under a working covariance. In clubSandwich's square-root convention
  (``form="pt"``) it reproduces every R number; in the whitened symmetric convention the
  module uses (``form="sym"``: it reduces to cluster totals and does not depend on how a GLM
  is parameterized) it must equal the closed forms. Both conventions satisfy the CR2
  condition and coincide for unweighted means (where the R number is matched exactly).
"""

import numpy as np
import pytest
from scipy.linalg import cholesky, sqrtm
from scipy.special import expit, logit
from scipy.stats import t as student_t

from prefbench.scorers.stats import clustered_mean_interval
from prefbench.scorers.stats.cluster_robust import (
    anova_icc,
    clustered_mean_cr2,
    cr2_sandwich,
    logistic_cr2,
)

CLUSTERS = np.array([0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4])
Y = np.array(
    [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    + [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0]
)
W = np.array(
    [1.0, 1.0, 2.0, 1.0, 1.0, 2.0, 3.0, 2.0, 3.0, 3.0, 3.0, 2.0]
    + [2.0, 2.0, 1.0, 2.0, 2.0, 1.0, 3.0, 1.0, 1.0, 1.0, 3.0]
)
X = np.array(
    [
        0.8766013257904318, -0.46802211336688265, 0.26127682817203207,
        0.8288308221011025, -0.2762340778393105, 0.18610372444488332,
        0.3888667080585544, 0.3485407650524592, -0.728280423559126,
        0.3593507939724374, 0.9300585289908675, -0.8474810234023332,
        0.8208386013727424, 0.3963860938907858, -0.328789468991811,
        0.9801128060962433, 0.7865271896275849, -0.7159514478940319,
        0.3579356799580231, 0.7047570140549179, 0.11076156552114656,
        0.7543229769310283, 0.22933049339451972,
    ]
)  # fmt: skip

# clubSandwich 0.5.8
R_UNWEIGHTED = {
    "estimate": 0.630434782608696,
    "variance": 0.003200755870888199,
    "df": 2.2091596711714763,
}
R_WEIGHTED = {
    "estimate": 0.6511627906976747,
    "variance": 0.00616769903630842,
    "df": 1.8002262781176976,
}
R_GLM_BETA = np.array([0.65612783069035474, -0.43925175934496485])
R_GLM_COV = np.array(
    [[0.072859863367403743, -0.032465485542947106], [-0.032465485542947106, 0.070824633217530741]]
)
R_GLM_DF = (1.9287381141834381, 1.6338041684099731)  # fmt: skip


def brute_force(design, resid, weights, clusters, contrast, form="sym", bread=None, tau2=0.0):
    """CR2 covariance and Satterthwaite df from the n × n definitions.

    ``design``/``resid``/``weights`` are on the model's own scale (inverse-variance weights:
    working model diag(1/w)); ``bread`` overrides ``(XᵀWX)^(-1)`` (a penalized fit). ``tau2``
    adds a random intercept to the df's working model in the whitened scale:
    ``Var(√w e) = I + τ² Σ_l ṽ_l ṽ_lᵀ`` with ṽ_l = √w on cluster l's rows.
    """
    n, p = design.shape
    sw = np.sqrt(weights)
    xt = design * sw[:, None]
    m = np.linalg.inv(xt.T @ xt) if bread is None else bread
    ih = np.eye(n) - xt @ m @ xt.T
    groups = np.unique(clusters)
    meat = np.zeros((p, p))
    pmat = np.zeros((n, len(groups)))
    for j, g in enumerate(groups):
        idx = np.where(clusters == g)[0]
        if form == "sym":
            a_w = np.real(np.linalg.inv(sqrtm(ih[np.ix_(idx, idx)])))
        else:  # clubSandwich: original scale, V = chol(Φ_g), A = Vᵀ (V B Vᵀ)^(-1/2) V
            b = np.diag(1 / sw[idx]) @ (ih @ ih.T)[np.ix_(idx, idx)] @ np.diag(1 / sw[idx])
            v = cholesky(np.diag(1.0 / weights[idx]))
            a = v.T @ np.real(np.linalg.inv(sqrtm(v @ b @ v.T))) @ v
            a_w = np.diag(sw[idx]) @ a @ np.diag(1 / sw[idx])
        component = xt[idx].T @ a_w @ (sw[idx] * resid[idx])
        meat += np.outer(component, component)
        pmat[:, j] = ih[idx, :].T @ a_w.T @ xt[idx] @ m @ contrast
    phi = np.eye(n)
    for g in groups:
        v = np.where(clusters == g, sw, 0.0)
        phi += tau2 * np.outer(v, v)
    omega = pmat.T @ phi @ pmat
    return m @ meat @ m, np.trace(omega) ** 2 / np.sum(omega**2)


def sums(y, w, clusters):
    return np.bincount(clusters, weights=w * y), np.bincount(clusters, weights=w)


def penalized_fit(x, y, precision):
    beta = np.zeros(x.shape[1])
    for _ in range(60):
        p = expit(x @ beta)
        gradient = x.T @ (y - p) - precision * beta
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + np.diag(precision)
        beta = beta + np.linalg.solve(hessian, gradient)
    return beta


def cluster_parts(x, y, beta, clusters):
    p = expit(x @ beta)
    w = p * (1 - p)
    g = clusters.max() + 1
    scores = np.zeros((g, x.shape[1]))
    np.add.at(scores, clusters, x * (y - p)[:, None])
    grams = np.zeros((g, x.shape[1], x.shape[1]))
    np.add.at(grams, clusters, x[:, :, None] * x[:, None, :] * w[:, None, None])
    totals = np.zeros((g, x.shape[1]))
    np.add.at(totals, clusters, x * w[:, None])
    return scores, grams, totals, w


def test_unweighted_mean_matches_clubsandwich():
    fit = clustered_mean_cr2(*sums(Y, np.ones_like(Y), CLUSTERS))
    assert fit.estimate == pytest.approx(R_UNWEIGHTED["estimate"], rel=1e-14)
    assert fit.variance == pytest.approx(R_UNWEIGHTED["variance"], rel=1e-12)
    assert fit.df == pytest.approx(R_UNWEIGHTED["df"], rel=1e-12)


def test_brute_force_reproduces_clubsandwich():
    """The n × n reference in clubSandwich's convention gives R's numbers (weighted, GLM)."""
    mu = np.sum(W * Y) / np.sum(W)
    cov, df = brute_force(np.ones((len(Y), 1)), Y - mu, W, CLUSTERS, np.array([1.0]), "pt")
    assert cov[0, 0] == pytest.approx(R_WEIGHTED["variance"], rel=1e-10)
    assert df == pytest.approx(R_WEIGHTED["df"], rel=1e-10)
    x = np.column_stack([np.ones_like(X), X])
    p = expit(x @ R_GLM_BETA)
    v = p * (1 - p)
    for k, contrast in enumerate(np.eye(2)):  # clubSandwich's glm: design v·x, weights 1/v
        cov, df = brute_force(x * v[:, None], Y - p, 1 / v, CLUSTERS, contrast, "pt")
        np.testing.assert_allclose(cov, R_GLM_COV, rtol=1e-8)
        assert df == pytest.approx(R_GLM_DF[k], rel=1e-8)


@pytest.mark.parametrize("icc", [0.0, 0.3, 0.9])
def test_weighted_mean_closed_form_matches_brute_force(icc):
    mu = np.sum(W * Y) / np.sum(W)
    fit = clustered_mean_cr2(*sums(Y, W, CLUSTERS), icc=icc, mean_weight=float(np.mean(W)))
    tau2 = icc / ((1 - icc) * np.mean(W))
    cov, df = brute_force(np.ones((len(Y), 1)), Y - mu, W, CLUSTERS, np.array([1.0]), tau2=tau2)
    assert fit.variance == pytest.approx(cov[0, 0], rel=1e-10)
    assert fit.df == pytest.approx(df, rel=1e-10)


def test_penalized_logistic_matches_brute_force():
    x = np.column_stack([np.ones_like(X), X])
    precision = np.array([1 / 10.0**2, 1 / 2.5**2])
    beta = penalized_fit(x, Y, precision)
    scores, grams, totals, w = cluster_parts(x, Y, beta, CLUSTERS)
    bread = np.linalg.inv(grams.sum(axis=0) + np.diag(precision))
    resid = (Y - expit(x @ beta)) / w
    for contrast in np.eye(2):
        fit = logistic_cr2(x, Y, CLUSTERS, beta, precision, contrast)
        cov, df = brute_force(x, resid, w, CLUSTERS, contrast, bread=bread, tau2=fit.tau2)
        np.testing.assert_allclose(fit.covariance, cov, rtol=1e-9)
        assert fit.df == pytest.approx(df, rel=1e-9)
        for tau2 in (0.0, 0.7):  # Bell–McCaffrey and a strong working ICC
            fit = cr2_sandwich(scores, grams, bread, contrast, tau2=tau2, intercept_totals=totals)
            _, df = brute_force(x, resid, w, CLUSTERS, contrast, bread=bread, tau2=tau2)
            assert fit.df == pytest.approx(df, rel=1e-9)


def test_design_without_an_intercept_column():
    """A Bradley–Terry design (e_A - e_B, no column of ones) and the judge audit's one
    intercept per comparison: the random intercept ṽ = √w is outside the design's columns
    (or their sum), and the df still equals the brute force."""
    rng = np.random.default_rng(8)
    a, b = rng.integers(0, 3, len(Y)), rng.integers(0, 3, len(Y))
    b = np.where(a == b, (b + 1) % 3, b)
    bradley_terry = (np.eye(3)[a] - np.eye(3)[b])[:, 1:]  # system 0 is the anchor
    comparison = rng.integers(0, 2, len(Y))
    audit = np.column_stack([comparison == 0, comparison == 1, X]).astype(float)
    for x in (bradley_terry, audit):
        precision = np.full(x.shape[1], 0.01)
        beta = penalized_fit(x, Y, precision)
        scores, grams, totals, w = cluster_parts(x, Y, beta, CLUSTERS)
        bread = np.linalg.inv(grams.sum(axis=0) + np.diag(precision))
        resid = (Y - expit(x @ beta)) / w
        contrast = np.eye(x.shape[1])[-1]
        fit = cr2_sandwich(scores, grams, bread, contrast, tau2=0.5, intercept_totals=totals)
        cov, df = brute_force(x, resid, w, CLUSTERS, contrast, bread=bread, tau2=0.5)
        np.testing.assert_allclose(fit.covariance, cov, rtol=1e-9, atol=1e-14)
        assert fit.df == pytest.approx(df, rel=1e-9)


def test_intercept_only_fit_equals_the_mean_form():
    """cr2_sandwich with X = 1 and weights w reproduces clustered_mean_cr2, IK df included."""
    total_sums, totals = sums(Y, W, CLUSTERS)
    mu = total_sums.sum() / totals.sum()
    fit = cr2_sandwich(
        (total_sums - totals * mu)[:, None],
        totals[:, None, None],
        np.array([[1 / totals.sum()]]),
        [1.0],
        tau2=0.4 / (0.6 * W.mean()),
        intercept_totals=totals[:, None],
    )
    mean = clustered_mean_cr2(total_sums, totals, icc=0.4, mean_weight=W.mean())
    assert fit.covariance[0, 0] == pytest.approx(mean.variance, rel=1e-12)
    assert fit.df == pytest.approx(mean.df, rel=1e-10)


@pytest.mark.parametrize("icc", [0.0, 0.5, 0.99])
def test_equal_clusters_give_cr1_and_g_minus_1_df(icc):
    y = np.random.default_rng(3).random(6 * 7)
    clusters = np.repeat(np.arange(6), 7)
    fit = clustered_mean_cr2(*sums(y, np.ones_like(y), clusters), icc=icc)
    total_sums, totals = sums(y, np.ones_like(y), clusters)
    resid = total_sums - totals * fit.estimate
    assert fit.variance == pytest.approx(6 / 5 * np.sum(resid**2) / totals.sum() ** 2, rel=1e-12)
    assert fit.df == pytest.approx(5.0, rel=1e-10)


def test_one_dominant_user_lowers_the_df():
    """Unequal clusters: most weight in one user leaves few effective degrees of freedom."""
    even = clustered_mean_cr2(np.full(10, 4.0), np.full(10, 8.0))
    heavy = clustered_mean_cr2(np.array([100.0, *[4.0] * 9]), np.array([200.0, *[8.0] * 9]))
    assert even.df == pytest.approx(9.0)
    assert heavy.df < 3.0


def test_anova_icc_matches_the_textbook_formula():
    rng = np.random.default_rng(4)
    sizes = [3, 8, 2, 15, 5]
    groups = [rng.normal(loc, 1.0, n) for loc, n in zip([0, 1, 2, -1, 0.5], sizes, strict=True)]
    y = np.concatenate(groups)
    msb = sum(len(a) * (a.mean() - y.mean()) ** 2 for a in groups) / 4
    msw = sum(((a - a.mean()) ** 2).sum() for a in groups) / (len(y) - 5)
    n0 = (len(y) - sum(n**2 for n in sizes) / len(y)) / 4
    between = (msb - msw) / n0
    icc = anova_icc(
        np.array([a.sum() for a in groups]),
        np.array([(a**2).sum() for a in groups]),
        np.array(sizes, float),
    )
    assert icc == pytest.approx(between / (between + msw), rel=1e-12)


def test_rate_interval_is_the_logit_scale_t_interval():
    values = {c: Y[CLUSTERS == c].tolist() for c in range(5)}
    weights = {c: W[CLUSTERS == c].tolist() for c in range(5)}
    interval = clustered_mean_interval(values, weights_by_user=weights)
    mu = np.sum(W * Y) / np.sum(W)
    residuals = np.sqrt(W) * (Y - mu)
    icc = anova_icc(
        np.bincount(CLUSTERS, residuals), np.bincount(CLUSTERS, residuals**2), np.bincount(CLUSTERS)
    )
    fit = clustered_mean_cr2(*sums(Y, W, CLUSTERS), icc=icc, mean_weight=float(np.mean(W)))
    half = student_t.ppf(0.975, fit.df) * np.sqrt(fit.variance) / (mu * (1 - mu))
    assert interval.method == "cr2-ik-logit" and interval.users == 5
    assert interval.low == pytest.approx(expit(logit(mu) - half), rel=1e-12)
    assert interval.high == pytest.approx(expit(logit(mu) + half), rel=1e-12)
    linear = clustered_mean_interval(values, weights_by_user=weights, scale="linear")
    assert linear.method == "cr2-ik"
    assert linear.high - mu == pytest.approx(mu - linear.low, rel=1e-12)
    assert interval.guaranteed  # 5 users: the first number with measured coverage ≥ 0.93
    four = clustered_mean_interval({c: values[c] for c in range(4)})
    assert four.users == 4 and not four.guaranteed


def test_degenerate_rates_have_no_clustered_interval():
    assert clustered_mean_interval({"a": [1.0, 1.0]}) is None  # one user
    assert clustered_mean_interval({"a": [1.0], "b": [1.0, 1.0]}) is None  # same means
    assert clustered_mean_interval({"a": [0.0], "b": [0.0, 0.0]}) is None
    with pytest.raises(ValueError, match="scale='linear'"):
        clustered_mean_interval({"a": [1.5], "b": [0.0]})
    with pytest.raises(ValueError, match="positive weight"):
        clustered_mean_interval({"a": [1.0], "b": [0.0]}, weights_by_user={"a": [1], "b": [0]})
