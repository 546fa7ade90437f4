"""`jsonl_articles`: a corpus in one module, articles as JSON lines.

Each line is an object with ``id``, ``date`` (ISO 8601), ``text``, an optional ``title``
and the field that names the user (``user``, or the one the option ``user_key`` names).
Registered through the package's `[project.entry-points.prefbench]` only; it imports nothing
from prefbench but `prefbench.plugin`.
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from prefbench.plugin import CorpusText, PrefbenchInputError, SkippedText, corpus


class JsonlOptions(BaseModel):
    """The options of the ``jsonl_articles`` corpus."""

    user_key: str = Field("user", description="the JSON field that names the user")


@corpus(
    name="jsonl_articles",
    text_kind="article",
    source="a .jsonl file, one {id, date, text, user} object per line",
    test_fraction=0.25,
    options=JsonlOptions,
    default_users=None,
)
def read_jsonl_articles(source: Path, options: JsonlOptions) -> Iterator[CorpusText | SkippedText]:
    """Articles from JSON lines; one user per value of the `user_key` field."""
    if not source.is_file():
        raise PrefbenchInputError(f"{source}: not found; pass a .jsonl file as --source")
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            where = f"{source}:line {number}"
            try:
                row = json.loads(line)
                date = datetime.fromisoformat(row["date"]).replace(tzinfo=UTC)
                user, text = str(row.get(options.user_key, "")).strip(), row["text"]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                yield SkippedText("bad_row", where, f"{type(error).__name__}: {error}")
                continue
            if not user:
                yield SkippedText("no_user", where, f"no {options.user_key!r} field")
                continue
            yield CorpusText(
                user=user,
                id=f"jsonl-{row['id']}",
                content=text,
                timestamp=date.timestamp(),
                metadata={"title": row.get("title", ""), "date": date.isoformat()},
                source=where,
                order=(f"{number:09d}",),
            )
