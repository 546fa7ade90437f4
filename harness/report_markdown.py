"""report.md: the report's sections (`harness.report_tables`) as Markdown.

Figures are linked by their path relative to the run folder (`figures/win_rates.png`).
Text taken from report.json is escaped, so a name with `|` or `<` cannot break a table
or inject HTML into a Markdown viewer.
"""

from collections.abc import Mapping
from typing import Any

from harness.report_tables import (
    ReportSection,
    TextTable,
    appendix_sections,
    result_sections,
    text,
)


def escape(value: str) -> str:
    """Text safe inside a Markdown paragraph or table cell."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("\n", " ")
    )


def markdown_table(table: TextTable) -> list[str]:
    """A `TextTable` as Markdown lines (title in bold above, caption in italics below)."""
    lines = [f"**{escape(table.title)}**", ""] if table.title else []
    lines.append("| " + " | ".join(escape(header) for header in table.headers) + " |")
    lines.append(
        "|"
        + "|".join("---" if i < table.label_columns else "---:" for i in range(len(table.headers)))
        + "|"
    )
    for r, row in enumerate(table.rows):
        cells = [
            f"**{escape(cell)}**" if (r, c) in table.emphasis else escape(cell)
            for c, cell in enumerate(row)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if table.caption:
        lines += ["", f"*{escape(table.caption)}*"]
    return lines + [""]


def markdown_section(section: ReportSection, figures: Mapping[str, str]) -> list[str]:
    """One section: heading, paragraphs, its figure (when drawn) and its tables."""
    lines = [f"## {escape(section.title)}", ""]
    for paragraph in section.paragraphs:
        lines += [escape(paragraph), ""]
    if section.figure in figures:
        lines += [f"![{escape(section.title)}]({figures[section.figure]})", ""]
    for table in section.tables:
        lines += markdown_table(table)
    return lines


def agreement_section(section: Mapping[str, Any]) -> list[str]:
    """The human–judge agreement section, rendered by `human_eval.agreement_render`."""
    if not section:
        return []
    from human_eval.agreement_render import agreement_markdown

    return [agreement_markdown(section).rstrip("\n"), ""]


def report_markdown(report: Mapping[str, Any], figures: Mapping[str, str] | None = None) -> str:
    """report.md of a report.json object; `figures` maps figure names to relative paths."""
    figures = figures or {}
    lines = [
        f"# prefbench report: {escape(text(report.get('profile')))}",
        "",
        f"Run folder: {escape(text(report.get('run')))}. Reference system: "
        f"**{escape(text(report.get('reference_system')))}**.",
        "",
    ]
    for section in result_sections(report):
        lines += markdown_section(section, figures)
    lines += agreement_section(report.get("agreement") or {})
    for section in appendix_sections(report):
        lines += markdown_section(section, figures)
    return "\n".join(lines).rstrip("\n") + "\n"
