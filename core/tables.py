"""One table model, drawn three ways: in the terminal (rich), in Markdown and in HTML.

A `Table` is a title, typed `Column`s (header, alignment, whether the text may wrap), rows of
`Cell`s (text, emphasis, an optional note) and a caption. A cell's note is numbered under the
table and the cell shows the number ("judge [2]"), so a long note never widens a column; the
caption follows the notes. A `Section` puts paragraphs, a figure (by name) and tables under a
heading.

Markdown and HTML come from the Jinja templates in `core/table_templates/` (a page template
elsewhere may include them, see `template_environment`). HTML is autoescaped; in Markdown
every `{{ value }}` passes through `escape_markdown`, the one Markdown escaping rule.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from rich import box
from rich.console import Group
from rich.table import Table as RichTable
from rich.text import Text

__all__ = [
    "Cell",
    "Column",
    "Section",
    "Table",
    "cells",
    "columns",
    "escape_markdown",
    "html_section",
    "html_table",
    "markdown_section",
    "markdown_table",
    "render_html",
    "render_markdown",
    "rich_table",
    "rich_tables",
    "template_environment",
]

Align = Literal["left", "right"]
Medium = Literal["markdown", "html"]
TEMPLATES = Path(__file__).parent / "table_templates"


@dataclass(frozen=True)
class Column:
    """A column: its header, how its cells align, and whether their text may wrap."""

    header: str
    align: Align = "right"
    wrap: bool = False

    def __post_init__(self) -> None:
        if self.align not in ("left", "right"):
            raise ValueError(f"column '{self.header}': align '{self.align}'; use left or right")


@dataclass(frozen=True)
class Cell:
    """One cell's text; `emphasis` highlights it, `note` is numbered under the table."""

    text: str
    emphasis: bool = False
    note: str = ""


def columns(*headers: str, labels: int = 1) -> list[Column]:
    """Columns whose first `labels` are left-aligned labels and the rest right-aligned values."""
    return [
        Column(header, "left" if index < labels else "right")
        for index, header in enumerate(headers)
    ]


def cells(*values: Cell | str) -> list[Cell]:
    """A row: plain strings become plain cells."""
    return [value if isinstance(value, Cell) else Cell(value) for value in values]


@dataclass(frozen=True)
class Table:
    """A titled table of text cells, with numbered notes and a caption under it."""

    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]]
    title: str = ""
    caption: str = ""

    def __post_init__(self) -> None:
        for index, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"table '{self.title}': row {index} has {len(row)} cells for "
                    f"{len(self.columns)} columns"
                )

    @property
    def has_header(self) -> bool:
        """Whether any column has a header (a key–value table has none)."""
        return any(column.header for column in self.columns)

    @property
    def notes(self) -> list[str]:
        """The cells' distinct notes, in reading order; note `i` is numbered `i + 1`."""
        return list(dict.fromkeys(cell.note for row in self.rows for cell in row if cell.note))

    def shown(self, cell: Cell) -> str:
        """A cell's text as drawn: with its note's number, e.g. "judge [2]"."""
        return f"{cell.text} [{self.notes.index(cell.note) + 1}]" if cell.note else cell.text

    @property
    def footer(self) -> list[str]:
        """The lines under the table: "[1] first note", ..., then the caption."""
        numbered = [f"[{number}] {note}" for number, note in enumerate(self.notes, start=1)]
        return numbered + ([self.caption] if self.caption else [])


@dataclass(frozen=True)
class Section:
    """One titled part of a report: paragraphs, an optional figure (by name), tables."""

    key: str
    title: str
    paragraphs: Sequence[str] = ()
    figure: str | None = None
    tables: Sequence[Table] = ()


def rich_table(table: Table) -> RichTable:
    """The table for the terminal; every text is literal (no rich markup is read from it)."""
    drawn = RichTable(
        title=Text(table.title) if table.title else None,
        caption=Text("\n".join(table.footer)) if table.footer else None,
        caption_justify="left",
        show_header=table.has_header,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in table.columns:
        drawn.add_column(
            column.header,
            justify=column.align,
            no_wrap=not column.wrap,
            min_width=len(column.header) if column.wrap else None,
            overflow="fold" if column.wrap else "ellipsis",  # a long word breaks, never hides
        )
    for row in table.rows:
        drawn.add_row(
            *(Text(table.shown(cell), style="bold" if cell.emphasis else "") for cell in row)
        )
    return drawn


def rich_tables(tables: Iterable[Table]) -> Group:
    """Several tables, printable at once."""
    return Group(*(rich_table(table) for table in tables))


def escape_markdown(value: Any) -> str:
    """Text safe inside a Markdown paragraph or table cell: no HTML, no cell break, no emphasis."""
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("*", "\\*")
        .replace("\n", " ")
    )


@cache
def template_environment(medium: Medium, folder: Path | None = None) -> Environment:
    """Jinja for one medium: `folder`'s templates first, then the table templates.

    HTML autoescapes; Markdown escapes every printed value with `escape_markdown`. An undefined
    name is an error in both.
    """
    if medium not in ("markdown", "html"):
        raise ValueError(f"unknown medium '{medium}'; use markdown or html")
    folders = [TEMPLATES] if folder is None else [folder, TEMPLATES]
    options: dict[str, Any] = (
        {"autoescape": True}
        if medium == "html"
        else {"autoescape": False, "finalize": escape_markdown}
    )
    return Environment(
        loader=FileSystemLoader(folders),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        **options,
    )


def render_markdown(template: str, folder: Path | None = None, **context: Any) -> str:
    """A Markdown template rendered, with runs of blank lines made one and a final newline."""
    rendered = template_environment("markdown", folder).get_template(template).render(**context)
    return re.sub(r"\n{3,}", "\n\n", rendered).strip("\n") + "\n"


def render_html(template: str, folder: Path | None = None, **context: Any) -> str:
    """An HTML template rendered with autoescaping."""
    return template_environment("html", folder).get_template(template).render(**context)


def markdown_table(table: Table) -> str:
    """The table in Markdown: bold title, the table, numbered notes, italic caption."""
    return render_markdown("table.md.j2", table=table)


def html_table(table: Table) -> str:
    """The table as an HTML fragment (title as `<caption>`, notes and caption below)."""
    return render_html("table.html.j2", table=table)


def markdown_section(section: Section, figures: Mapping[str, str] | None = None) -> str:
    """The section in Markdown; `figures` maps figure names to image paths."""
    return render_markdown("section.md.j2", section=section, figures=figures or {})


def html_section(section: Section, figures: Mapping[str, str] | None = None) -> str:
    """The section as an HTML `<section>`; `figures` maps figure names to image URLs."""
    return render_html("section.html.j2", section=section, figures=figures or {})
