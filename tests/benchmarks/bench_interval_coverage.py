"""Coverage of the report's 95 % intervals, by simulation, over balanced and unbalanced users.

Simulates benchmarks whose truth is known and counts how often each interval of
`prefbench.scorers.stats` (the functions a report calls, not a re-implementation) covers it:

* ``win_rate``      `summarize_win_rate`: pair scores in {0, 0.5, 1} (both orders, position
                    bias 0.5 logits, 5 % explicit ties, inconsistent orders are ties);
* ``lc_win_rate``   `length_controlled_win_rate`: the same judge with a planted length bias
                    (1 logit per unit of tanh(delta / sd)) and A 150 characters longer on
                    average; the truth is the working model's pseudo-true expit(theta*);
* ``soft_win_rate`` `soft_win_rate`: per-pair probabilities (both orders averaged);
* ``agreement``     `rate_interval` (as `human_eval.agreement`'s raw agreement): 0/1 per item;
* ``first_choice``  `summarize_first_choice`: 3 systems, 3 rotations per sample, slot-1 bias
                    0.5, 5 % unparsed rotations; the share of the first system.

Each user has a random effect (sd 0, 1 or 1.5 logits). Designs of pairs per user:
``balanced`` (8 each), ``nb`` (1 + negative binomial, mean 8, sd about 10: a quarter of the
users have one pair), ``heavy`` (nb plus max(1, round(G/10)) users with 100-300 pairs: at 5
users one user holds about 85 % of the pairs), ``informative`` (nb whose mean grows with the
user's effect, so big users differ systematically; not in the default run). The truth is the
pooled (observation-weighted) value the statistics estimate, computed by Gauss–Hermite
quadrature (first choice: Monte Carlo over 2 million users with exact choice probabilities).

Usage (prints one table per statistic and a summary; --out appends JSON lines):

    .venv/bin/python tests/benchmarks/bench_interval_coverage.py [--reps 2000] \
        [--stats win_rate,...] [--designs balanced,nb,heavy] [--users 3,5,10,15,30,60] \
        [--seed 7] [--out coverage.jsonl]

The full default run is 432 cells: hours on two cores (docs/statistics.md quotes its table
and says how it was measured). The Monte Carlo standard error of a coverage c from R
replicates is sqrt(c (1 - c) / R): 0.0049 at 0.95 with 2000 replicates.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from prefbench.scorers.outcome import PairOutcome
from prefbench.scorers.stats import (
    length_controlled_win_rate,
    rate_interval,
    soft_win_rate,
    summarize_first_choice,
    summarize_win_rate,
)

POSITION = 0.5
TIE = 0.05
LENGTH_SD, LENGTH_SHIFT, LENGTH_BIAS = 300.0, 150.0, 1.0
SOFT_NOISE_SD = 1.5
NB_SIZE, NB_MEAN = 0.5, 7.0  # pairs per user: 1 + NegBin(mean 7, size 0.5)
BIG_LOW, BIG_HIGH = 100, 300
KAPPA = 0.75  # informative sizes: mean 7 exp(0.75 z - 0.28)
STRENGTHS = {"diff": np.array([0.5, 0.0, -0.5]), "null": np.zeros(3)}
SYSTEMS = ["s0", "s1", "s2"]
TARGET = 0.93
"""Coverage every cell should reach from 5 users on (nominal 95 %)."""

GH_Z, GH_W = np.polynomial.hermite_e.hermegauss(96)
GH_W = GH_W / GH_W.sum()
SCORED = {
    1.0: PairOutcome("win", 1.0, True),
    0.0: PairOutcome("loss", 0.0, True),
    0.5: PairOutcome("tie", 0.5, False),
}


@dataclass(frozen=True)
class Setting:
    """One simulated truth: the user effect's sd and the statistic's effect parameter."""

    name: str
    user_sd: float
    effect: float | str


SETTINGS: dict[str, list[Setting]] = {
    "win_rate": [Setting(f"q{q}_sd{s}", s, q) for q in (0.0, 0.5) for s in (0.0, 1.0, 1.5)],
    "lc_win_rate": [Setting(f"q{q}_sd{s}", s, q) for q in (0.0, 0.4) for s in (0.0, 1.0, 1.5)],
    "soft_win_rate": [Setting(f"q{q}_sd{s}", s, q) for q in (0.0, 0.5) for s in (0.0, 1.0, 1.5)],
    "agreement": [Setting(f"a{a}_sd{s}", s, a) for a in (0.75, 0.9) for s in (0.0, 1.0, 1.5)],
    "first_choice": [
        Setting(f"{k}_sd{s}", s, k) for k in ("diff", "null") for s in (0.0, 1.0, 1.5)
    ],
}
DESIGNS = ("balanced", "nb", "heavy", "informative")
USERS = (3, 5, 10, 15, 30, 60)


# ------------------------------------------------------------------------------------- truths


def size_weight(z: np.ndarray, design: str) -> np.ndarray:
    """E[pairs | standardized user effect z] up to a constant (the observation weight)."""
    if design == "informative":
        return 1.0 + NB_MEAN * np.exp(KAPPA * z - KAPPA**2 / 2)
    return np.ones_like(z)


def pair_mean(q: float, u: np.ndarray, x: np.ndarray | float = 0.0, length: float = 0.0):
    """E[pair score | user effect u, length lead x]: an explicit tie, else both orders."""
    linear = q + u + length * x
    return TIE * 0.5 + (1 - TIE) * 0.5 * (expit(linear + POSITION) + expit(linear - POSITION))


def first_choice_probabilities(strengths: np.ndarray, u: np.ndarray) -> np.ndarray:
    """P(each system chosen) in rotation r = 0, 1, 2: ... × rotation × system."""
    out = []
    for rotation in range(3):
        first_slot = np.array([(k - rotation) % 3 == 0 for k in range(3)], dtype=float)
        logits = strengths + u + POSITION * first_slot
        exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
        out.append(exp / exp.sum(axis=-1, keepdims=True))
    return np.stack(out, axis=-2)


def lc_truth(q: float, u: np.ndarray, weights: np.ndarray) -> float:
    """expit(theta*): the root of the working GLM's population score equations."""
    x = np.tanh((LENGTH_SHIFT + LENGTH_SD * GH_Z) / LENGTH_SD)
    weight = weights[:, None] * GH_W[None, :]
    y = pair_mean(q, u[:, None], x[None, :], LENGTH_BIAS)
    xx = np.broadcast_to(x[None, :], y.shape)
    beta = np.zeros(2)
    for _ in range(100):
        p = expit(beta[0] + beta[1] * xx)
        gradient = np.array([np.sum(weight * (y - p)), np.sum(weight * (y - p) * xx)])
        v = weight * p * (1 - p)
        hessian = np.array([[v.sum(), (v * xx).sum()], [(v * xx).sum(), (v * xx**2).sum()]])
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-14:
            break
    return float(expit(beta[0]))


@functools.cache
def truth(stat: str, setting: Setting, design: str) -> float:
    """The pooled value the statistic estimates in this design."""
    weights = GH_W * size_weight(GH_Z, design)
    weights = weights / weights.sum()
    u = setting.user_sd * GH_Z
    if stat == "win_rate":
        return float(np.sum(weights * pair_mean(setting.effect, u)))
    if stat == "soft_win_rate":
        linear = setting.effect + u[:, None] + SOFT_NOISE_SD * GH_Z
        soft = 0.5 * (expit(linear + POSITION) + expit(linear - POSITION))
        return float(np.sum(weights * np.sum(GH_W * soft, axis=1)))
    if stat == "agreement":
        return float(np.sum(weights * expit(logit(setting.effect) + u)))
    if stat == "lc_win_rate":
        return lc_truth(setting.effect, u, weights)
    rng = np.random.default_rng(12345)
    z = rng.standard_normal((2_000_000, 3))
    chosen = first_choice_probabilities(STRENGTHS[setting.effect], setting.user_sd * z)
    w = size_weight(z[:, 0], design)
    return float(np.sum(w * chosen[:, :, 0].mean(axis=1)) / np.sum(w))


# --------------------------------------------------------------------------------------- data


def draw_sizes(design: str, n_users: int, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pairs per user."""
    if design == "balanced":
        return np.full(n_users, 8)
    mean = NB_MEAN * np.exp(KAPPA * z - KAPPA**2 / 2) if design == "informative" else NB_MEAN
    sizes = 1 + rng.negative_binomial(NB_SIZE, NB_SIZE / (NB_SIZE + mean), size=n_users)
    if design == "heavy":
        big = rng.choice(n_users, size=max(1, round(n_users / 10)), replace=False)
        sizes[big] = rng.integers(BIG_LOW, BIG_HIGH + 1, size=len(big))
    return sizes


def interval_of(
    stat: str, setting: Setting, design: str, n_users: int, rng: np.random.Generator
) -> tuple[float, float, str]:
    """One simulated benchmark: the statistic's interval (low, high, method)."""
    z = rng.standard_normal((n_users, 3))
    sizes = draw_sizes(design, n_users, z[:, 0], rng)
    user_of = np.repeat(np.arange(n_users), sizes)
    users = [f"user{user}" for user in user_of]
    n = len(users)
    effect = setting.user_sd * z[user_of]
    if stat in ("win_rate", "lc_win_rate"):
        delta = LENGTH_SHIFT + LENGTH_SD * rng.standard_normal(n)
        length = LENGTH_BIAS * np.tanh(delta / LENGTH_SD) if stat == "lc_win_rate" else 0.0
        linear = setting.effect + effect[:, 0] + length
        first = rng.random(n) < expit(linear + POSITION)
        second = rng.random(n) < expit(linear - POSITION)
        scores = 0.5 * (first + second.astype(float))
        scores[rng.random(n) < TIE] = 0.5
        if stat == "win_rate":
            summary = summarize_win_rate([SCORED[float(s)] for s in scores], users)
            return summary.ci_low, summary.ci_high, summary.ci_method
        lc = length_controlled_win_rate(scores.tolist(), delta.tolist(), users)
        return lc.lc_ci_low, lc.lc_ci_high, lc.lc_ci_method
    if stat == "soft_win_rate":
        linear = setting.effect + effect[:, 0] + SOFT_NOISE_SD * rng.standard_normal(n)
        soft = 0.5 * (expit(linear + POSITION) + expit(linear - POSITION))
        result = soft_win_rate(soft.tolist(), users)
        return result.soft_ci_low, result.soft_ci_high, result.soft_ci_method
    if stat == "agreement":
        agree = (rng.random(n) < expit(logit(setting.effect) + effect[:, 0])).astype(float)
        by_user: dict[str, list[float]] = {}
        for value, user in zip(agree.tolist(), users, strict=True):
            by_user.setdefault(user, []).append(value)
        interval = rate_interval(by_user)
        return interval.low, interval.high, interval.method
    chosen = first_choice_probabilities(STRENGTHS[setting.effect], effect)  # n × rotation × 3
    draws = np.minimum((rng.random((n, 3, 1)) > np.cumsum(chosen, axis=-1)).sum(axis=-1), 2)
    parsed = rng.random((n, 3)) >= 0.05
    parsed[~parsed.any(axis=1), 0] = True  # a sample keeps at least one vote
    choices = [
        [(SYSTEMS[draws[i, r]],) if parsed[i, r] else () for r in range(3)] for i in range(n)
    ]
    share = next(
        row
        for row in summarize_first_choice(choices, users, SYSTEMS).first_choice
        if row.system == "s0"
    )
    return share.ci_low, share.ci_high, share.ci_method


def run_cell(stat: str, setting: Setting, design: str, n_users: int, reps: int, seed: int) -> dict:
    """Coverage of one cell over `reps` simulated benchmarks."""
    rng = np.random.default_rng([seed, *map(ord, f"{stat}|{setting.name}|{design}|{n_users}")])
    target = truth(stat, setting, design)
    covered, widths, methods = 0, [], {}
    start = time.perf_counter()
    for _ in range(reps):
        low, high, method = interval_of(stat, setting, design, n_users, rng)
        covered += low <= target <= high
        widths.append(high - low)
        methods[method] = methods.get(method, 0) + 1
    return {
        "stat": stat,
        "setting": setting.name,
        "design": design,
        "users": n_users,
        "reps": reps,
        "truth": target,
        "coverage": covered / reps,
        "mean_width": float(np.mean(widths)),
        "methods": methods,
        "seconds": time.perf_counter() - start,
    }


# ------------------------------------------------------------------------------------- tables


def markdown(rows: list[dict], users: list[int]) -> str:
    """One table per statistic (cells below TARGET in bold) and a summary."""
    lines = []
    for stat in dict.fromkeys(row["stat"] for row in rows):
        own = [row for row in rows if row["stat"] == stat]
        lines += [f"\n**{stat}** (coverage; bold: below {TARGET})\n"]
        lines += ["| design | setting | " + " | ".join(f"G={g}" for g in users) + " |"]
        lines += ["|---|---|" + "---|" * len(users)]
        for design, setting in dict.fromkeys((row["design"], row["setting"]) for row in own):
            cells = []
            for g in users:
                match = [
                    r
                    for r in own
                    if (r["design"], r["setting"], r["users"]) == (design, setting, g)
                ]
                value = match[0]["coverage"] if match else None
                cells.append("–" if value is None else _bold(value))
            lines.append(f"| {design} | {setting} | " + " | ".join(cells) + " |")
    lines += ["\n**Summary**: lowest coverage (cells below 0.93 / cells) per statistic\n"]
    lines += ["| statistic | " + " | ".join(f"G={g}" for g in users) + " |"]
    lines += ["|---|" + "---|" * len(users)]
    for stat in dict.fromkeys(row["stat"] for row in rows):
        cells = []
        for g in users:
            match = [r["coverage"] for r in rows if r["stat"] == stat and r["users"] == g]
            low = sum(value < TARGET for value in match)
            cells.append(f"{min(match):.3f} ({low}/{len(match)})" if match else "–")
        lines.append(f"| {stat} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _bold(value: float) -> str:
    return f"**{value:.3f}**" if value < TARGET else f"{value:.3f}"


def main() -> None:
    """Parse the options, run every cell, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stats", default=",".join(SETTINGS))
    parser.add_argument("--designs", default="balanced,nb,heavy")
    parser.add_argument("--users", default=",".join(map(str, USERS)))
    parser.add_argument("--settings", default="", help="only these setting names")
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="", help="append one JSON line per cell")
    args = parser.parse_args()
    stats = args.stats.split(",")
    designs = args.designs.split(",")
    users = [int(g) for g in args.users.split(",")]
    chosen = set(args.settings.split(",")) - {""}
    for name in stats:
        if name not in SETTINGS:
            parser.error(f"unknown statistic {name!r}; choose from {list(SETTINGS)}")
    for name in designs:
        if name not in DESIGNS:
            parser.error(f"unknown design {name!r}; choose from {list(DESIGNS)}")
    rows = []
    for stat in stats:
        for setting in SETTINGS[stat]:
            if chosen and setting.name not in chosen:
                continue
            for design in designs:
                for g in users:
                    row = run_cell(stat, setting, design, g, args.reps, args.seed)
                    rows.append(row)
                    print(
                        f"{stat} {design} {setting.name} G={g}: {row['coverage']:.3f} "
                        f"({row['seconds']:.0f} s)",
                        flush=True,
                    )
                    if args.out:
                        with open(args.out, "a", encoding="utf-8") as out:
                            out.write(json.dumps(row) + "\n")
    print(markdown(rows, users))


if __name__ == "__main__":
    main()
