"""Typed report parts for tests that draw tables and figures from plain data.

Each factory fills every field of a `prefbench.harness.report.schema` model with a neutral
value (None for a missing measurement, as a report without that data has it), so a test
states only the fields it is about and the model still validates them.
"""

from typing import Any

from prefbench.harness.report.schema import (
    ComparisonRow,
    JudgeAudit,
    Rate,
    Report,
    SimilarityRow,
)


def rate(value: float | None = None, low: float | None = None, high: float | None = None,
         n: int = 0, **extra: Any) -> dict[str, Any]:  # fmt: skip
    """A judge-audit share as report.json holds it."""
    fields = {"rate": value, "n": n, "ci_low": low, "ci_high": high, "ci_method": "wilson"}
    return Rate.model_validate({"ci_guaranteed": None, **fields, **extra}).model_dump()


def user_rate(n: int = 0, win_rate: float | None = None) -> dict[str, Any]:
    """One user's row of `per_user`: its pairs and win rate, the rest empty."""
    empty = dict.fromkeys(("ci_low", "ci_high", "p_value", "position_consistency", "ci_method"))
    counts = {"wins": 0, "losses": 0, "ties": 0, "parse_failures": 0, "users": 1}
    return {"n": n, "win_rate": win_rate, "ci_guaranteed": None, **counts, **empty}


def comparison(**fields: Any) -> ComparisonRow:
    """A comparison row: A vs B under judge `llm` on dataset `d`, no pairs unless given."""
    empty = dict.fromkeys(
        ("win_rate", "ci_low", "ci_high", "p_value", "position_consistency", "ci_method"),
    )
    empty |= dict.fromkeys(
        ("lc_win_rate", "lc_ci_low", "lc_ci_high", "lc_ci_method", "length_coefficient")
    )
    defaults = {
        "dataset": "d",
        "system_a": "a",
        "system_b": "b",
        "judge": "llm",
        "tie_policy": "inconsistent_is_tie",
        "log": "judge.eval",
        "n": 0,
        "wins": 0,
        "losses": 0,
        "ties": 0,
        "parse_failures": 0,
        "users": 0,
        "ci_guaranteed": None,
        "lc_separation": None,
        "per_user": {},
        "identical_outputs": None,
        "compared_outputs": None,
        **empty,
    }
    return ComparisonRow.model_validate({**defaults, **fields})


def audit(judge: str = "llm", **fields: Any) -> JudgeAudit:
    """A judge audit with no verdicts unless given."""
    slope = {"coefficient": None, "ci_low": None, "ci_high": None, "ci_method": None, "n": 0}
    defaults = {
        "judge": judge,
        "judge_models": [],
        "order_blind": False,
        "n_pairs": 0,
        "first_slot_win_rate": rate(),
        "position_consistency": rate(),
        "longer_win_rate": rate(),
        "length_coefficient": {**slope, "separation": None},
        "length_bins": [],
        "verdict_sources": {"counts": {}, "n": 0, "fallback": 0, "fallback_rate": None},
        "self_preference": [],
        "quality_gate": {"flagged": False, "reasons": []},
    }
    return JudgeAudit.model_validate({**defaults, **fields})


def similarity_row(system: str, **fields: Any) -> dict[str, Any]:
    """A similarity row without measurements unless given."""
    empty = dict.fromkeys(
        ("bertscore_f1", "bertscore_f1_ci_low", "bertscore_f1_ci_high", "ci_method")
    )
    defaults = {"system": system, "dataset": "d", "n": 0, "ci_guaranteed": None, **empty}
    return SimilarityRow.model_validate({**defaults, **fields}).model_dump()


def report(**fields: Any) -> Report:
    """A report of profile `p`, reference `a`; its judges are those of `comparisons`."""
    comparisons = fields.pop("comparisons", {})
    judges = fields.pop("judges", list(comparisons) or ["llm"])
    defaults = {
        "run": "runs/test",
        "profile": "p",
        "reference_system": "a",
        "judges": judges,
        "comparisons": comparisons or {judge: [] for judge in judges},
        "aggregate": {},
        "ratings": {},
        "inputs_key": "test",
    }
    return Report.model_validate({**defaults, **fields})
