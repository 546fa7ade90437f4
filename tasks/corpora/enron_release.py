"""The preference-agents Enron-42k release: already-cleaned emails as JSON lines or parquet.

Each row has the fields ``from``, ``to``, ``subject``, ``date``, ``previous_context`` and
``content`` (``cc`` and ``id`` are used when present). `iter_release` yields one
`ReleaseEmail` per row and a `SourceProblem` for a row it cannot read. Parquet needs
`pandas` with `pyarrow` (or `fastparquet`) installed.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefbench.core.errors import PrefbenchInputError
from prefbench.tasks.corpora.enron_reader import SourceProblem

RELEASE_FIELDS = ("from", "to", "subject", "date", "previous_context", "content")
"""Fields each release row must have."""


@dataclass(frozen=True)
class ReleaseEmail:
    """One row of the release, its fields as strings."""

    row: int
    fields: dict[str, str]
    source: str


def iter_release(path: Path) -> Iterator[ReleaseEmail | SourceProblem]:
    """Stream a release file (``.jsonl``/``.json`` lines or ``.parquet``), row by row.

    A line that is not a JSON object, or a row missing a field of `RELEASE_FIELDS`, is a
    ``bad_row`` `SourceProblem`. Raises `PrefbenchInputError` for a missing file, and for
    parquet when no parquet engine is installed (saying which package to install).
    """
    path = Path(path)
    if not path.is_file():
        raise PrefbenchInputError(f"{path}: not found; pass the Enron-42k .jsonl or .parquet file")
    if path.suffix.lower() == ".parquet":
        yield from _iter_parquet(path)
        return
    with path.open("rb") as handle:
        for row, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:line {row}"
            try:
                fields = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                yield SourceProblem(where, "bad_row", f"not valid JSON ({error})")
                continue
            yield _release_row(row, fields, where)


def _iter_parquet(path: Path) -> Iterator[ReleaseEmail | SourceProblem]:
    try:
        import pandas
    except ImportError:
        pandas = None
    try:
        frame = pandas.read_parquet(path) if pandas is not None else None
    except ImportError:
        frame = None
    if frame is None:
        raise PrefbenchInputError(
            f"{path}: reading parquet needs pandas with pyarrow; run `pip install pyarrow`, or "
            f"convert the file to JSON lines and pass the .jsonl file"
        )
    for row, fields in enumerate(frame.to_dict(orient="records"), start=1):
        yield _release_row(row, fields, f"{path}:row {row}")


def _release_row(row: int, fields: Any, where: str) -> ReleaseEmail | SourceProblem:
    if not isinstance(fields, dict):
        return SourceProblem(
            where, "bad_row", f"expected a JSON object, got {type(fields).__name__}"
        )
    missing = [name for name in RELEASE_FIELDS if name not in fields]
    if missing:
        return SourceProblem(where, "missing_field", f"missing field(s) {', '.join(missing)}")
    text = {name: "" if value is None else str(value) for name, value in fields.items()}
    return ReleaseEmail(row, text, where)
