"""The judge quality gate: when a judge's verdicts are artifacts, say so on every number it made.

A judge audit (:func:`prefbench.scorers.stats.judge_audit.audit_judge`) measures position bias
and where the verdicts came from. A judge fails the gate, and every leaderboard row, rating
and table it produced carries the reasons, when:

- **position**: its first-slot rate lies outside :data:`FIRST_SLOT_BAND` and its interval
  excludes 50 %. Each pair is shown in both orders, so the systems' strengths cancel and an
  unbiased judge picks candidate 1 half of the time. 35 % / 65 % is a position effect of
  |logit 0.65| = 0.62 logits: odds of 1.9 to 1 for whichever candidate comes first, as large
  as the whole advantage of a system that wins 65 % of its pairs, so the order, not the texts,
  decides a large share of the verdicts. The interval condition keeps a small sample's noise
  from tripping the gate.
- **consistency**: its position consistency (pairs whose two orders chose the same system)
  is below :data:`MIN_POSITION_CONSISTENCY`. A judge that ignores the texts and picks
  candidate 1 with any probability π agrees with itself on 2π(1 - π) ≤ 50 % of pairs, so
  under 60 % most of its pair verdicts are no better than order noise, and the win rates,
  where an inconsistent pair is a tie, collapse towards 50 % whatever the systems.
- **fallback**: more than :data:`MAX_FALLBACK_SHARE` of its parsed verdicts came from a
  fallback rather than its first answer read its own way (the follow-up retry, a repeated
  call, log-probabilities read in the follow-up, or the text of a log-probability judge whose
  provider returned none): the numbers then measure the fallback, not the judge as configured.

A judge that ignores the order of the candidates (the similarity judge: both orders give the
same verdict by construction) is not gated on position: its first-slot rate is 50 % and its
consistency 100 % by construction, not as findings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "FIRST_SLOT_BAND",
    "MAX_FALLBACK_SHARE",
    "MIN_POSITION_CONSISTENCY",
    "quality_gate",
]

FIRST_SLOT_BAND = (0.35, 0.65)
"""First-slot rates outside this band (with an interval that excludes 50 %) fail the gate."""

MIN_POSITION_CONSISTENCY = 0.6
"""Position consistency below this fails the gate."""

MAX_FALLBACK_SHARE = 0.5
"""A judge whose share of fallback verdicts exceeds this fails the gate."""


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def _position_reasons(audit: Mapping[str, Any]) -> list[str]:
    reasons = []
    first = audit.get("first_slot_win_rate") or {}
    rate, low, high = first.get("rate"), first.get("ci_low"), first.get("ci_high")
    low_end, high_end = FIRST_SLOT_BAND
    if rate is not None and not low_end <= rate <= high_end and not low <= 0.5 <= high:
        reasons.append(
            f"position bias: candidate 1 chosen in {_percent(rate)} of {first.get('n')} "
            f"verdicts [{_percent(low)}, {_percent(high)}], outside "
            f"{100 * low_end:.0f}–{100 * high_end:.0f} %"
        )
    consistency = audit.get("position_consistency") or {}
    rate = consistency.get("rate")
    if rate is not None and rate < MIN_POSITION_CONSISTENCY:
        reasons.append(
            f"position consistency: {_percent(rate)} of {consistency.get('n')} pairs, below "
            f"{100 * MIN_POSITION_CONSISTENCY:.0f} %"
        )
    return reasons


def _fallback_reason(audit: Mapping[str, Any]) -> list[str]:
    sources = audit.get("verdict_sources") or {}
    share = sources.get("fallback_rate")
    if share is None or share <= MAX_FALLBACK_SHARE:
        return []
    counts = ", ".join(f"{name} {count}" for name, count in (sources.get("counts") or {}).items())
    return [
        f"fallback verdicts: {sources.get('fallback')} of {sources.get('n')} parsed verdicts "
        f"({_percent(share)}) did not come from the first answer ({counts})"
    ]


def quality_gate(audit: Mapping[str, Any], order_blind: bool = False) -> dict[str, Any]:
    """Whether a judge passes the quality gate, and why not (module docstring).

    Args:
        audit: The judge's audit (report.json ``judge_audit`` row: ``first_slot_win_rate``,
            ``position_consistency``, ``verdict_sources``).
        order_blind: The judge ignores the candidates' order (no position test).

    Returns:
        ``{"flagged": bool, "reasons": [str, ...]}``; each reason names the measure, its value,
        its n and the threshold.
    """
    reasons = ([] if order_blind else _position_reasons(audit)) + _fallback_reason(audit)
    return {"flagged": bool(reasons), "reasons": reasons}
