"""The report's ``agreement`` section as rich tables, Markdown and an HTML fragment.

Three tables, the same in every format: per comparison the LLM judge's and the humans' win
rates and their agreement (the paper's Table 1), agreement between annotators, and
agreement of each annotator (and of the per-item majority) with the LLM judge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from rich import box
from rich.console import Group
from rich.table import Table

__all__ = [
    "AgreementTable",
    "agreement_html",
    "agreement_markdown",
    "agreement_table",
    "agreement_tables",
]

DASH = "–"


@dataclass(frozen=True)
class AgreementTable:
    """One table as plain text cells, rendered by each format."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    caption: str


def _percent(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}"


def _coefficient(value: float | None) -> str:
    return DASH if value is None else f"{value:.3f}"


def _interval(low: float | None, high: float | None, percent: bool = False) -> str:
    if low is None or high is None:
        return DASH
    show = _percent if percent else _coefficient
    return f"[{show(low)}, {show(high)}]"


def _comparisons_table(section: Mapping[str, Any]) -> AgreementTable:
    judge = section["human_llm"]["judge"]
    references = ", ".join(dict.fromkeys(row["system_a"] for row in section["comparisons"]))
    rows = [
        [
            row["system_b"],
            str(row["n"]),
            _percent(row["llm_win_rate"]),
            _interval(row["llm_ci_low"], row["llm_ci_high"], percent=True),
            _percent(row["human_win_rate"]),
            _interval(row["human_ci_low"], row["human_ci_high"], percent=True),
            _percent(row["agreement"]),
        ]
        for row in section["comparisons"]
    ]
    return AgreementTable(
        title=f"Win rate % of {references or 'system A'}: judge ({judge}) and humans",
        headers=["vs system", "n", "judge %", "95% CI", "human %", "95% CI", "agree %"],
        rows=rows,
        caption="n = answered items; human verdict = per-item majority (an even split "
        "counts as a tie); agree % = majority vs judge, judge ties count as disagreement",
    )


def _human_human_table(section: Mapping[str, Any]) -> AgreementTable:
    human = section["human_human"]
    rows = [
        [
            f"{pair['annotator_1']} – {pair['annotator_2']}",
            str(pair["n"]),
            _percent(pair["raw_agreement"]),
            f"Cohen's κ {_coefficient(pair['cohen_kappa'])}",
            _interval(pair["ci_low"], pair["ci_high"]),
        ]
        for pair in human["pairs"]
    ]
    raw = human["raw_agreement"]
    rows.append(
        [
            "all annotators",
            str(raw["n"]),
            _percent(raw["value"]),
            "raw agreement",
            _interval(raw["ci_low"], raw["ci_high"], percent=True),
        ]
    )
    for key, name in (("fleiss_kappa", "Fleiss' κ"), ("krippendorff_alpha", "Krippendorff's α")):
        stat = human[key]
        rows.append(
            [
                "all annotators",
                str(stat["n"]),
                DASH,
                f"{name} {_coefficient(stat['value'])}",
                _interval(stat["ci_low"], stat["ci_high"]),
            ]
        )
    return AgreementTable(
        title="Agreement between annotators",
        headers=["annotators", "n", "agree %", "coefficient", "95% CI"],
        rows=rows,
        caption="n = items both (all) answered; Fleiss' κ over items every annotator "
        "answered; α (nominal) over items with two or more answers",
    )


def _human_llm_table(section: Mapping[str, Any]) -> AgreementTable:
    human_llm = section["human_llm"]
    entries = [(row["annotator"], row) for row in human_llm["per_annotator"]]
    entries.append(("majority", human_llm["majority"]))
    rows = [
        [
            name,
            str(row["n"]),
            _percent(row["raw_agreement"]),
            _interval(row.get("raw_agreement_ci_low"), row.get("raw_agreement_ci_high"), True),
            _coefficient(row["cohen_kappa"]),
            _interval(row["ci_low"], row["ci_high"]),
            str(row.get("llm_ties", DASH)),
        ]
        for name, row in entries
    ]
    ties = human_llm["majority"].get("majority_ties", 0)
    return AgreementTable(
        title=f"Agreement with the LLM judge ({human_llm['judge']})",
        headers=["annotator", "n", "agree %", "95% CI", "Cohen's κ", "95% CI", "judge ties"],
        rows=rows,
        caption="a judge tie or parse failure never agrees with a human's choice; "
        f"majority: {ties} items with an even human split left out",
    )


def agreement_tables(section: Mapping[str, Any]) -> list[AgreementTable]:
    """The section's three tables as text cells; none when the section is empty."""
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


def agreement_table(section: Mapping[str, Any]) -> Group:
    """The section as rich tables (a printable group); empty when the section is."""
    tables = []
    for spec in agreement_tables(section):
        table = Table(title=spec.title, caption=spec.caption, box=box.SIMPLE_HEAD, pad_edge=False)
        for index, header in enumerate(spec.headers):
            first = index == 0
            table.add_column(
                header,
                justify="left" if first else "right",
                no_wrap=not first,
                min_width=len(header) if first else None,
            )
        for row in spec.rows:
            table.add_row(*row)
        tables.append(table)
    return Group(*tables)


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def agreement_markdown(section: Mapping[str, Any]) -> str:
    """The section for report.md: a summary line and three Markdown tables ("" when empty)."""
    if not section:
        return ""
    lines = ["## Human evaluation", "", _summary(section)]
    for spec in agreement_tables(section):
        lines += ["", f"### {spec.title}", "", _markdown_row(spec.headers)]
        lines.append("|" + "|".join("---" for _ in spec.headers) + "|")
        lines += [_markdown_row(row) for row in spec.rows]
        lines += ["", f"_{spec.caption}_"]
    return "\n".join(lines) + "\n"


def agreement_html(section: Mapping[str, Any]) -> str:
    """The section as an HTML fragment (every text escaped); "" when empty."""
    if not section:
        return ""
    parts = [
        Markup('<section class="agreement">\n<h2>Human evaluation</h2>\n'),
        Markup("<p>{}</p>\n").format(_summary(section)),
    ]
    for spec in agreement_tables(section):
        head = Markup("").join(Markup("<th>{}</th>").format(header) for header in spec.headers)
        body = Markup("").join(
            Markup("<tr>{}</tr>\n").format(
                Markup("").join(Markup("<td>{}</td>").format(cell) for cell in row)
            )
            for row in spec.rows
        )
        parts.append(
            Markup(
                "<h3>{}</h3>\n<table>\n<caption>{}</caption>\n<thead><tr>{}</tr></thead>\n"
                "<tbody>\n{}</tbody>\n</table>\n"
            ).format(spec.title, spec.caption, head, body)
        )
    parts.append(Markup("</section>\n"))
    return str(Markup("").join(parts))
