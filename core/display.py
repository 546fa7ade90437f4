"""Numbers as table text: percentages, counts, intervals and p-values, "–" when missing.

Every table of the report (`prefbench.harness.report.tables`,
`prefbench.human_eval.agreement_render`) formats its values with these functions, so the same value
reads the same in every table.
"""

from typing import Any

__all__ = ["MISSING", "interval", "number", "p_value", "percent", "text"]

MISSING = "–"


def percent(value: Any) -> str:
    """A share as a percentage with one decimal, or "–"."""
    return MISSING if not isinstance(value, int | float) else f"{100 * value:.1f}"


def text(value: Any) -> str:
    """A value as text, "–" for None."""
    return MISSING if value is None else str(value)


def number(value: Any, digits: int = 3) -> str:
    """A count as is, a float rounded to `digits` decimals, anything else as text ("–" for None)."""
    if value is None:
        return MISSING
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def interval(low: Any, high: Any, as_percent: bool = True, digits: int = 3) -> str:
    """The interval as "[low, high]" in percent (or plain numbers); "–" when an end is missing."""
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        return MISSING
    if as_percent:
        return f"[{percent(low)}, {percent(high)}]"
    return f"[{number(float(low), digits)}, {number(float(high), digits)}]"


def p_value(value: Any) -> str:
    """A p-value with two significant digits, or "–"."""
    return MISSING if not isinstance(value, int | float) else f"{value:.2g}"
