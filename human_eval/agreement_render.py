"""The report's ``agreement`` section as `core.tables` models, drawn like every other table.

Three tables: per comparison the LLM judge's and the humans' win rates and their agreement
(the paper's Table 1), agreement between annotators, and agreement of each annotator (and of
the per-item majority) with the LLM judge. `prefbench.core.tables` draws them in the terminal, in
report.md and in report.html.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefbench.core.display import MISSING, interval, number, percent
from prefbench.core.tables import Column, Section, Table, cells, columns

__all__ = ["agreement_report_section", "agreement_tables"]


def _coefficient(value: float | None) -> str:
    return number(None if value is None else float(value))


def _coefficients(low: float | None, high: float | None) -> str:
    return interval(low, high, as_percent=False)


def _first_column_wraps(table_columns: list[Column]) -> list[Column]:
    """The first column (names of annotators or systems) may wrap in a narrow terminal."""
    first, *rest = table_columns
    return [Column(first.header, first.align, wrap=True), *rest]


def _comparisons_table(section: Mapping[str, Any]) -> Table:
    judge = section["human_llm"]["judge"]
    references = ", ".join(dict.fromkeys(row["system_a"] for row in section["comparisons"]))
    rows = [
        cells(
            row["system_b"],
            str(row["n"]),
            percent(row["llm_win_rate"]),
            interval(row["llm_ci_low"], row["llm_ci_high"]),
            percent(row["human_win_rate"]),
            interval(row["human_ci_low"], row["human_ci_high"]),
            percent(row["agreement"]),
        )
        for row in section["comparisons"]
    ]
    headers = ["vs system", "n", "judge %", "95% CI", "human %", "95% CI", "agree %"]
    return Table(
        title=f"Win rate % of {references or 'system A'}: judge ({judge}) and humans",
        columns=_first_column_wraps(columns(*headers)),
        rows=rows,
        caption="n = answered items; human verdict = per-item majority (an even split "
        "counts as a tie); agree % = majority vs judge, judge ties count as disagreement",
    )


def _human_human_table(section: Mapping[str, Any]) -> Table:
    human = section["human_human"]
    rows = [
        cells(
            f"{pair['annotator_1']} – {pair['annotator_2']}",
            str(pair["n"]),
            percent(pair["raw_agreement"]),
            f"Cohen's κ {_coefficient(pair['cohen_kappa'])}",
            _coefficients(pair["ci_low"], pair["ci_high"]),
        )
        for pair in human["pairs"]
    ]
    raw = human["raw_agreement"]
    rows.append(
        cells(
            "all annotators",
            str(raw["n"]),
            percent(raw["value"]),
            "raw agreement",
            interval(raw["ci_low"], raw["ci_high"]),
        )
    )
    for key, name in (("fleiss_kappa", "Fleiss' κ"), ("krippendorff_alpha", "Krippendorff's α")):
        stat = human[key]
        rows.append(
            cells(
                "all annotators",
                str(stat["n"]),
                MISSING,
                f"{name} {_coefficient(stat['value'])}",
                _coefficients(stat["ci_low"], stat["ci_high"]),
            )
        )
    return Table(
        title="Agreement between annotators",
        columns=_first_column_wraps(columns("annotators", "n", "agree %", "coefficient", "95% CI")),
        rows=rows,
        caption="n = items both (all) answered; Fleiss' κ over items every annotator "
        "answered; α (nominal) over items with two or more answers",
    )


def _human_llm_table(section: Mapping[str, Any]) -> Table:
    human_llm = section["human_llm"]
    entries = [(row["annotator"], row) for row in human_llm["per_annotator"]]
    entries.append(("majority", human_llm["majority"]))
    rows = [
        cells(
            name,
            str(row["n"]),
            percent(row["raw_agreement"]),
            interval(row.get("raw_agreement_ci_low"), row.get("raw_agreement_ci_high")),
            _coefficient(row["cohen_kappa"]),
            _coefficients(row["ci_low"], row["ci_high"]),
            str(row.get("llm_ties", MISSING)),
        )
        for name, row in entries
    ]
    ties = human_llm["majority"].get("majority_ties", 0)
    headers = ["annotator", "n", "agree %", "95% CI", "Cohen's κ", "95% CI", "judge ties"]
    return Table(
        title=f"Agreement with the LLM judge ({human_llm['judge']})",
        columns=_first_column_wraps(columns(*headers)),
        rows=rows,
        caption="a judge tie or parse failure never agrees with a human's choice; "
        f"majority: {ties} items with an even human split left out",
    )


def agreement_tables(section: Mapping[str, Any]) -> list[Table]:
    """The section's three tables; none when the section is empty."""
    if not section:
        return []
    return [_comparisons_table(section), _human_human_table(section), _human_llm_table(section)]


def _summary(section: Mapping[str, Any]) -> str:
    return (
        f"{len(section['annotators'])} annotators ({', '.join(section['annotators'])}), "
        f"{section['items']} items, {section['answers']} answers; {section['missing']} "
        "item × annotator pairs without an answer were left out. Intervals: 95 % bootstrap "
        "over items (win rates: over users)."
    )


def agreement_report_section(section: Mapping[str, Any]) -> Section:
    """The report's "Human evaluation" section: a summary and the three tables."""
    return Section(
        key="agreement",
        title="Human evaluation",
        paragraphs=[_summary(section)] if section else [],
        tables=agreement_tables(section),
    )
