"""The New Yorker corpus, registered as ``new_yorker``: articles from All the News 2.0.

The CSV has the columns ``date, year, month, day, author, title, article, url, section,
publication`` (one row per article, articles can be megabytes long). `iter_articles` reads it
row by row and yields an `Article` for every row of any publication and a `SourceProblem`
for a row it cannot read; the registered reader (`read_new_yorker`) keeps
``publication == "The New Yorker"`` and makes each article a text of its author (or, with
the option ``user_field="publication"``, of the publication as a whole).
"""

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from prefbench.core.errors import PrefbenchInputError
from prefbench.tasks.corpora.email_cleaning import normalize_whitespace
from prefbench.tasks.corpora.enron_reader import (
    SourceProblem,
    iter_csv_rows,
    raise_field_size_limit,
    read_csv_header,
)
from prefbench.tasks.corpora.registry import CorpusText, SkippedText, corpus

NEW_YORKER = "The New Yorker"
"""The `publication` value of New Yorker rows."""

REQUIRED_COLUMNS = ("date", "author", "title", "article", "section", "publication")
"""Columns the CSV must have (``year``, ``month``, ``day``, ``url`` are used when present)."""


@dataclass(frozen=True)
class Article:
    """One row of the CSV; `date` is None when no date column parses."""

    row: int
    publication: str
    author: str
    title: str
    section: str
    date: datetime | None
    url: str
    text: str
    source: str


def iter_articles(path: Path) -> Iterator[Article | SourceProblem]:
    """Stream the rows of an All the News 2.0 CSV as `Article`s, in file order.

    Raises `PrefbenchInputError` when the file is missing or the header lacks a required
    column (naming the columns found and needed). A row with too few fields is a ``bad_row``
    `SourceProblem`; a file that ends inside a quoted field is a ``truncated`` one, after
    which the stream stops (the rows before it are kept).
    """
    path = Path(path)
    if not path.is_file():
        raise PrefbenchInputError(
            f"{path}: not found; pass the All the News 2.0 CSV (all-the-news-2-1.csv) as --source"
        )
    raise_field_size_limit()
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        header, columns = read_csv_header(path, reader, REQUIRED_COLUMNS)
        optional = {
            name.strip().lower(): index
            for index, name in enumerate(header)
            if name.strip().lower() in ("year", "month", "day", "url")
        }
        for item in iter_csv_rows(path, reader, len(header), skip_blank=True):
            if isinstance(item, SourceProblem):
                yield item
                continue
            row_number, where, row = item

            def value(name: str, row: list[str] = row) -> str:
                index = columns.get(name, optional.get(name))
                return row[index].strip() if index is not None else ""

            yield Article(
                row=row_number,
                publication=value("publication"),
                author=value("author"),
                title=value("title"),
                section=value("section"),
                date=parse_article_date(value("date"), value("year"), value("month"), value("day")),
                url=value("url"),
                text=row[columns["article"]],
                source=where,
            )


def parse_article_date(
    date: str, year: str = "", month: str = "", day: str = ""
) -> datetime | None:
    """Parse ``2016-12-09 18:31:00`` (or ``2016-12-09``); else the year/month/day columns."""
    try:
        return datetime.fromisoformat(date.strip())
    except ValueError:
        pass
    try:
        return datetime(int(float(year)), int(float(month)), int(float(day or 1)))
    except ValueError:
        return None


class NewYorkerOptions(BaseModel):
    """The options of the ``new_yorker`` corpus."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_field: Literal["author", "publication"] = Field(
        "author", description="whose articles form a user"
    )


@corpus(
    name="new_yorker",
    text_kind="article",
    source="All the News 2.0 CSV (all-the-news-2-1.csv)",
    test_fraction=0.5,
    options=NewYorkerOptions,
)
def read_new_yorker(source: Path, options: NewYorkerOptions) -> Iterator[CorpusText | SkippedText]:
    """New Yorker articles; one user per author (or the publication as a whole)."""
    for item in iter_articles(source):
        if isinstance(item, SourceProblem):
            yield SkippedText(item.reason, item.source, item.detail)
        elif item.publication != NEW_YORKER:
            yield SkippedText("not_new_yorker", item.source, item.publication)
        else:
            yield _article_text(item, options.user_field)


def _article_text(article: Article, user_field: str) -> CorpusText | SkippedText:
    user = article.author if user_field == "author" else article.publication
    if not user:
        return SkippedText("missing_author", article.source, "empty author")
    if article.date is None:
        return SkippedText("bad_date", article.source, "no date, year/month/day that parses")
    content = normalize_whitespace(article.text)
    if not content.strip():
        return SkippedText("empty_body", article.source, "empty article")
    key = article.url or f"{article.title}|{article.date.isoformat()}|{article.author}"
    date = article.date if article.date.tzinfo else article.date.replace(tzinfo=UTC)
    return CorpusText(
        user=user,
        id=f"new_yorker-{hashlib.sha1(key.encode()).hexdigest()[:16]}",
        order=(f"{article.row:012d}", ""),
        timestamp=date.timestamp(),
        sender=user,
        metadata={
            "author": article.author,
            "title": article.title,
            "section": article.section,
            "date": article.date.isoformat(),
        },
        content=content,
        source=article.source,
    )
