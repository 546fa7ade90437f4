"""The one table model (core/tables.py): notes, escaping, and the same content in every medium."""

import io
import re
from html.parser import HTMLParser

import pytest
from rich.console import Console

from prefbench.core.tables import (
    Cell,
    Column,
    Section,
    Table,
    cells,
    columns,
    escape_markdown,
    html_section,
    html_table,
    markdown_section,
    markdown_table,
    rich_table,
)

HOSTILE = "<b>x</b> | *y* \\ [red]z[/red]"


def dry_run_like() -> Table:
    """The dry run's plan: stage/job/role/model/calls/tokens/$ with numbered notes per job."""
    headers = ("calls", "input tok", "output tok ≤", "USD")
    return Table(
        title="dry run of profile demo (nothing was run)",
        columns=[
            Column("stage", "left"),
            Column("job", "left", wrap=True),
            Column("role", "left"),
            Column("model", "left", wrap=True),
            *(Column(header) for header in headers),
        ],
        rows=[
            cells(
                "intents",
                Cell("intent per record", note="one call per test record"),
                "small",
                "hf/SmolLM2",
                "30",
                "9,000",
                "3,840",
                "$0.00",
            ),
            cells(
                "judge",
                Cell("few_shot vs zero_shot", note="two orders per pair"),
                "judge",
                "openai/gpt-4o",
                "60",
                "72,000",
                "1,920",
                "$0.20",
            ),
            cells(
                "judge",
                Cell("few_shot vs rules", note="two orders per pair"),
                "judge",
                "openai/gpt-4o",
                "60",
                "72,000",
                "1,920",
                Cell("$0.20", emphasis=True),
            ),
            cells(
                "build",
                Cell("rules", note="one call per user"),
                "large",
                "openai/gpt-4o",
                "3",
                "6,000",
                "768",
                "$0.02",
            ),
        ],
        caption="USD at list prices; local models cost 0.",
    )


def test_notes_are_numbered_once_in_reading_order_and_shown_in_their_cells():
    table = dry_run_like()
    assert table.notes == ["one call per test record", "two orders per pair", "one call per user"]
    assert [table.shown(row[1]) for row in table.rows] == [
        "intent per record [1]",
        "few_shot vs zero_shot [2]",
        "few_shot vs rules [2]",
        "rules [3]",
    ]
    assert table.footer[-1] == "USD at list prices; local models cost 0."
    assert table.footer[:3] == [
        "[1] one call per test record",
        "[2] two orders per pair",
        "[3] one call per user",
    ]


def test_a_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="table 't': row 1 has 1 cells for 2 columns"):
        Table(columns=columns("a", "b"), rows=[cells("1", "2"), cells("3")], title="t")
    with pytest.raises(ValueError, match="align 'centre'"):
        Column("a", "centre")  # type: ignore[arg-type]


def markdown_rows(markdown: str) -> list[list[str]]:
    """The cells of every Markdown table line, split on unescaped pipes."""
    return [
        [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        for line in markdown.splitlines()
        if line.startswith("|")
    ]


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.classes: list[list[str]] = []
        self.inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
            self.classes.append([])
        if tag in ("td", "th"):
            self.inside = True
            self.rows[-1].append("")
            self.classes[-1].append(dict(attrs).get("class") or "")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.rows[-1][-1] += data


def test_markdown_and_html_hold_the_same_cells_and_notes():
    table = dry_run_like()
    expected = [[column.header for column in table.columns]] + [
        [table.shown(cell) for cell in row] for row in table.rows
    ]
    markdown = markdown_table(table)
    rows = markdown_rows(markdown)
    assert rows[0] == expected[0] and rows[1][:4] == ["---"] * 4 and rows[1][4] == "---:"
    assert [[cell.strip("*") for cell in row] for row in rows[2:]] == expected[1:]
    assert "| **$0.20** |" in markdown
    assert markdown.startswith("**dry run of profile demo (nothing was run)**\n")
    assert "\n[2] two orders per pair\n" in markdown
    assert markdown.endswith("*USD at list prices; local models cost 0.*\n")

    parser = Cells()
    parser.feed(html_table(table))
    assert parser.rows == expected
    assert parser.classes[1][:4] == ["label"] * 4 and parser.classes[1][4] == ""
    assert parser.classes[3][-1] == "emphasis"
    assert '<p class="note">[3] one call per user</p>' in html_table(table)


def test_text_is_escaped_in_markdown_and_html_and_literal_in_the_terminal():
    table = Table(
        title=HOSTILE,
        columns=columns("name", HOSTILE),
        rows=[cells(HOSTILE, Cell("1", note=HOSTILE))],
        caption=HOSTILE,
    )
    escaped = escape_markdown(HOSTILE)
    assert escaped == "&lt;b&gt;x&lt;/b&gt; \\| \\*y\\* \\\\ [red]z[/red]"
    markdown = markdown_section(Section("k", HOSTILE, [HOSTILE, "two\nlines"], tables=[table]))
    assert "<b>" not in markdown and f"## {escaped}\n" in markdown
    assert "two lines" in markdown
    assert markdown_rows(markdown)[2] == [escaped, "1 [1]"]
    assert f"\n*{escaped}*\n" in markdown

    page = html_section(Section("k", HOSTILE, [HOSTILE], tables=[table]))
    # heading, paragraph, title, header, cell, note and caption: each escaped
    assert "<b>" not in page and page.count("&lt;b&gt;x&lt;/b&gt;") == 7

    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(rich_table(table))
    printed = console.export_text()
    assert printed.count("[red]z[/red]") == 4  # title, header, cell, caption: no markup read
    assert "1 [1]" in printed and f"[1] {HOSTILE}" in printed


def test_a_table_without_headers_prints_none():
    table = Table(columns=[Column("", "left"), Column("")], rows=[cells("users", "3")], title="t")
    assert not table.has_header
    console = Console(file=io.StringIO(), width=80, record=True)
    console.print(rich_table(table))
    lines = [line.strip() for line in console.export_text().splitlines() if line.strip()]
    assert lines == ["t", "users  3"]
    assert "<thead>" not in html_table(table)


def test_a_section_links_its_figure_only_when_drawn():
    section = Section("win_rates", "Win rates", figure="win_rates")
    assert "![Win rates](figures/win_rates.png)" in markdown_section(
        section, {"win_rates": "figures/win_rates.png"}
    )
    assert "![" not in markdown_section(section)
    assert '<img alt="Win rates" src="data:x">' in html_section(section, {"win_rates": "data:x"})
    assert "<img" not in html_section(section)
