"""Control checks: whether a judge sees personalization at this sample size.

Control systems bracket the method. Each declares the pair it is a control of
(`@generation_system(control=Control.beats(...))`, `prefbench.solvers.registry`), which gives
a `ControlCheck`; prefbench's two are

- ``positive``: `positive_control` (writes with the truth's rules) beats `large_zero_shot`;
- ``negative``: `preference_agent` (the user's own agent) beats `negative_control`
  (another user's agent).

A judge that can see personalization must rank each control pair in the expected order,
with a 95 % interval that excludes 50 %. `control_checks` reads them from report.json
comparison rows (the win rate, its clustered
interval and the per-user counts, already computed). When a check does not pass, it says
how large the sample would have to be for the interval to exclude 50 % with 80 % power,
if the observed effect were the true one (`required_sample`):

    h   = 2·asin(√p) − 2·asin(√0.5)                  (Cohen's h of the observed win rate p)
    n₀  = ((z₀.₉₇₅ + z₀.₈₀) / h)²                    (statsmodels NormalIndPower, ratio=0)
    D   = max(1, V_cluster / (p(1−p)/n))              (design effect of clustering by user)
    n*  = ⌈D · n₀⌉ scored pairs in all

V_cluster is the CR1 variance of the pooled win rate over users, G/(G−1)·Σ_g(s_g − p·n_g)²/n²
(s_g: user g's score total, n_g its pairs). n* is then spread as pairs per user at the
current number of users, and as users at the current pairs per user. With few users the
interval uses t quantiles with at most G−1 degrees of freedom, so n* is a lower bound there.

A check that fails is **diagnosed** (`diagnosis`): when the two systems wrote the same text
for most pairs (`identical_outputs` of `compared_outputs`, from the comparison row), the
systems do not differ, and no judge and no sample size can change that; otherwise the judge
does not see the difference at this sample size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "CONTROL_KINDS",
    "ControlCheck",
    "ControlOutcome",
    "RequiredSample",
    "control_checks",
    "control_pairs",
    "detects_personalization",
    "diagnose",
    "required_sample",
]

ALPHA = 0.05
"""The interval is a two-sided 95 % interval: its lower end above 50 % is a one-sided test at
α/2."""
POWER = 0.8


CONTROL_KINDS = ("positive", "negative")
"""A positive control must beat its other system; a negative control must lose to it."""


@dataclass(frozen=True)
class ControlCheck:
    """A control pair and the order a judge that sees personalization must give it.

    `name` is the control's kind (`CONTROL_KINDS`): a positive control is `better`, a
    negative one `worse`.
    """

    name: str
    better: str
    worse: str


def control_pairs(
    systems: Sequence[str], reference: str, checks: Sequence[ControlCheck]
) -> list[tuple[str, str]]:
    """The control pairs (better, worse) to judge besides the reference's pairs.

    A check's pair is judged when both its systems are in `systems`; it is left out when the
    reference already meets the other system (its comparison serves the check).
    """
    return [
        (check.better, check.worse)
        for check in checks
        if check.better in systems
        and check.worse in systems
        and reference not in (check.better, check.worse)
    ]


@dataclass(frozen=True)
class RequiredSample:
    """How large a sample the observed effect needs for the interval to exclude 50 %.

    Attributes:
        effect_size: Cohen's h of the observed win rate against 50 %.
        design_effect: the clustering factor D (≥ 1).
        pairs: n*, the scored pairs needed in all.
        pairs_per_user: n* spread over the current users (per user, rounded up).
        users: users needed at the current pairs per user.
    """

    effect_size: float
    design_effect: float
    pairs: int
    pairs_per_user: int
    users: int


@dataclass(frozen=True)
class ControlOutcome:
    """One control check of one judge on one dataset, oriented better-vs-worse.

    `win_rate`, `ci_low` and `ci_high` are the better system's; `expected_order` is True
    when the interval lies above 50 %; `required` is None when the check passed or the
    observed effect is zero or in the wrong direction (`note` says which).
    `identical_outputs` of `compared_outputs` pairs had the same text from both systems (None
    when not counted); `diagnosis` says why a failed check failed ("" when it passed).
    """

    check: str
    better: str
    worse: str
    judge: str
    dataset: str
    n: int
    users: int
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str | None
    expected_order: bool
    required: RequiredSample | None
    note: str
    identical_outputs: int | None = None
    compared_outputs: int | None = None
    diagnosis: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (report.json `controls`)."""
        return asdict(self)


def _cluster_design_effect(win_rate: float, per_user: Sequence[tuple[float, int]]) -> float:
    """max(1, CR1 variance of the pooled rate / its binomial variance); per_user: (score, n)."""
    total = sum(n for _, n in per_user)
    groups = len(per_user)
    binomial = win_rate * (1 - win_rate) / total
    if groups < 2 or binomial <= 0:
        return 1.0
    spread = sum((score - win_rate * n) ** 2 for score, n in per_user)
    clustered = groups / (groups - 1) * spread / total**2
    return max(1.0, clustered / binomial)


def required_sample(
    win_rate: float, per_user: Sequence[tuple[float, int]]
) -> RequiredSample | None:
    """The sample the observed `win_rate` needs (module docstring); None if it is ≤ 50 %.

    Args:
        win_rate: the better system's observed win rate.
        per_user: each user's (score total, scored pairs), score total = wins + ties / 2.
    """
    if win_rate <= 0.5 or not per_user:
        return None
    from statsmodels.stats.power import NormalIndPower  # ~1 s: only when used
    from statsmodels.stats.proportion import proportion_effectsize

    effect = float(proportion_effectsize(win_rate, 0.5))
    base = NormalIndPower().solve_power(
        effect_size=effect, alpha=ALPHA / 2, power=POWER, ratio=0, alternative="larger"
    )
    design = _cluster_design_effect(win_rate, per_user)
    pairs = math.ceil(design * float(base))
    users = len(per_user)
    per_user_now = sum(n for _, n in per_user) / users
    return RequiredSample(
        effect_size=effect,
        design_effect=design,
        pairs=pairs,
        pairs_per_user=math.ceil(pairs / users),
        users=math.ceil(pairs / per_user_now),
    )


MOSTLY_IDENTICAL = 0.5
"""A failed check whose share of identical outputs exceeds this is blamed on the systems."""


def diagnose(passed: bool, identical: int | None, compared: int | None) -> str:
    """Why a control check failed ("" when it passed): see the module docstring.

    The systems do not differ when more than :data:`MOSTLY_IDENTICAL` of the compared outputs
    were identical; otherwise the judge did not see the difference at this sample size.
    """
    if passed:
        return ""
    if identical is not None and compared and identical / compared > MOSTLY_IDENTICAL:
        return (
            f"the systems do not differ: {identical} of {compared} outputs identical, so no "
            "judge can tell them apart"
        )
    counted = f" ({identical} of {compared} outputs identical)" if compared else ""
    return f"the judge does not see the difference at this sample size{counted}"


def _oriented(row: Mapping[str, Any], check: ControlCheck) -> dict[str, Any] | None:
    """The row's numbers as the better system's, or None when the row is not the check's."""
    pair = (row.get("system_a"), row.get("system_b"))
    if pair == (check.better, check.worse):
        flip = False
    elif pair == (check.worse, check.better):
        flip = True
    else:
        return None
    win_rate, low, high = row.get("win_rate"), row.get("ci_low"), row.get("ci_high")
    per_user = []
    for user_row in (row.get("per_user") or {}).values():
        n, rate = int(user_row.get("n") or 0), user_row.get("win_rate")
        if n and rate is not None:
            per_user.append(((1 - rate if flip else rate) * n, n))
    if flip and win_rate is not None:
        win_rate, low, high = 1 - win_rate, 1 - high, 1 - low
    return {"win_rate": win_rate, "ci_low": low, "ci_high": high, "per_user": per_user}


def control_checks(
    rows: Iterable[Mapping[str, Any]], checks: Sequence[ControlCheck]
) -> list[ControlOutcome]:
    """Each of `checks` found in report.json comparison rows (either order of the pair)."""
    outcomes = []
    for row in rows:
        for check in checks:
            oriented = _oriented(row, check)
            if oriented is None:
                continue
            win_rate, low = oriented["win_rate"], oriented["ci_low"]
            passed = low is not None and low > 0.5
            required = None
            if passed:
                note = "the interval lies above 50 %"
            elif win_rate is None:
                note = "no scored pair"
            elif win_rate <= 0.5:
                note = "the observed effect is zero or reversed: no sample size is predicted"
            else:
                required = required_sample(win_rate, oriented["per_user"])
                note = "the interval includes 50 %: see the required sample"
            outcomes.append(
                ControlOutcome(
                    check=check.name,
                    better=check.better,
                    worse=check.worse,
                    judge=str(row.get("judge")),
                    dataset=str(row.get("dataset")),
                    n=int(row.get("n") or 0),
                    users=len(oriented["per_user"]),
                    win_rate=win_rate,
                    ci_low=low,
                    ci_high=oriented["ci_high"],
                    ci_method=row.get("ci_method"),
                    expected_order=passed,
                    required=required,
                    note=note,
                    identical_outputs=row.get("identical_outputs"),
                    compared_outputs=row.get("compared_outputs"),
                    diagnosis=diagnose(
                        passed, row.get("identical_outputs"), row.get("compared_outputs")
                    ),
                )
            )
    return outcomes


def detects_personalization(outcomes: Sequence[ControlOutcome]) -> bool | None:
    """True when all checks passed; False when one failed; None when a kind is missing.

    A judge detects personalization when at least one positive and one negative check ran
    and every check passed. `outcomes` are one judge's.
    """
    if any(not outcome.expected_order for outcome in outcomes):
        return False
    kinds = {outcome.check for outcome in outcomes}
    if not kinds >= set(CONTROL_KINDS):
        return None
    return True
