"""The append-only SQLite database of human answers (`human/annotations.sqlite`).

Every answer and every change of an answer is a new row; triggers abort any UPDATE or
DELETE on `answers`. The latest row per (annotator, item_id) is the current answer.
"""

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
  answer_id INTEGER PRIMARY KEY AUTOINCREMENT,
  annotator TEXT NOT NULL,
  item_id TEXT NOT NULL,
  choice INTEGER NOT NULL CHECK (choice IN (1, 2)),
  answered_at TEXT NOT NULL,
  source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_annotator_item ON answers (annotator, item_id);
CREATE TABLE IF NOT EXISTS imports (
  sha256 TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  imported_at TEXT NOT NULL,
  answers INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS answers_no_update BEFORE UPDATE ON answers
BEGIN SELECT RAISE(ABORT, 'answers are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER IF NOT EXISTS answers_no_delete BEFORE DELETE ON answers
BEGIN SELECT RAISE(ABORT, 'answers are append-only: DELETE is not allowed'); END;
"""

CHOICES = (1, 2)
COLUMNS = "answer_id, annotator, item_id, choice, answered_at, source"


@dataclass(frozen=True)
class Answer:
    """One stored answer: `choice` is candidate 1 or 2 as shown to the annotator (blinded)."""

    answer_id: int
    annotator: str
    item_id: str
    choice: int
    answered_at: str
    source: str


def utc_now() -> str:
    """The current time as ISO-8601 UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _check_choice(choice: object) -> int:
    if isinstance(choice, bool) or choice not in CHOICES:
        raise ValueError(f"choice must be 1 or 2 (candidate 1 or candidate 2), got {choice!r}")
    return int(choice)  # type: ignore[call-overload]


def _field(answer: Any, name: str) -> Any:
    if isinstance(answer, Mapping):
        return answer.get(name)
    return getattr(answer, name, None)


class AnnotationStore:
    """The answers database at `path`, created with its schema when new.

    One connection guarded by a lock, so the web app's worker threads can share a store;
    WAL mode lets an import in another process run while the app serves.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.executescript(SCHEMA)

    def __enter__(self) -> "AnnotationStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._connection.close()

    def append(
        self,
        annotator: str,
        item_id: str,
        choice: int,
        source: str = "app",
        answered_at: str | None = None,
    ) -> int:
        """Append one answer (a new row, also when it changes an earlier one); its answer_id."""
        row = (annotator, item_id, _check_choice(choice), answered_at or utc_now(), source)
        with self._lock:
            cursor = self._connection.execute(
                "INSERT INTO answers (annotator, item_id, choice, answered_at, source) "
                "VALUES (?, ?, ?, ?, ?)",
                row,
            )
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def latest(self) -> dict[tuple[str, str], Answer]:
        """The current answer per (annotator, item_id): the latest by `answered_at`.

        Times are ISO-8601 UTC with milliseconds everywhere (app and imports), so their text
        order is time order; rows with the same time go by append order. An old answer
        imported after a newer one therefore never becomes current.
        """
        rows = self._query(
            f"SELECT {COLUMNS} FROM (SELECT {COLUMNS}, ROW_NUMBER() OVER (PARTITION BY "
            "annotator, item_id ORDER BY answered_at DESC, answer_id DESC) AS recency "
            "FROM answers) WHERE recency = 1 ORDER BY answer_id",
            (),
        )
        return {(answer.annotator, answer.item_id): answer for answer in rows}

    def history(self, annotator: str | None = None, item_id: str | None = None) -> list[Answer]:
        """Every stored answer (changes included), ordered by answer_id, optionally filtered."""
        clauses, parameters = [], []
        for column, value in (("annotator", annotator), ("item_id", item_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                parameters.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._query(
            f"SELECT {COLUMNS} FROM answers{where} ORDER BY answer_id", tuple(parameters)
        )

    def import_answers(self, answers: Iterable[Any], sha256: str, source: str) -> int:
        """Append imported answers in one transaction; 0 when this sha256 was imported before.

        Each answer is an object or mapping with `annotator`, `item_id`, `choice` and
        optionally `answered_at` (now when missing); every row gets `source`.
        """
        now = utc_now()
        rows = [
            (
                str(_field(answer, "annotator")),
                str(_field(answer, "item_id")),
                _check_choice(_field(answer, "choice")),
                _field(answer, "answered_at") or now,
                source,
            )
            for answer in answers
        ]
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                seen = connection.execute(
                    "SELECT 1 FROM imports WHERE sha256 = ?", (sha256,)
                ).fetchone()
                if seen is not None:
                    connection.execute("ROLLBACK")
                    return 0
                connection.executemany(
                    "INSERT INTO answers (annotator, item_id, choice, answered_at, source) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                connection.execute(
                    "INSERT INTO imports (sha256, source, imported_at, answers) "
                    "VALUES (?, ?, ?, ?)",
                    (sha256, source, now, len(rows)),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return len(rows)

    def count(self) -> int:
        """How many answer rows (changes included) the database holds."""
        with self._lock:
            (total,) = self._connection.execute("SELECT COUNT(*) FROM answers").fetchone()
        return int(total)

    def _query(self, sql: str, parameters: tuple) -> list[Answer]:
        with self._lock:
            rows = self._connection.execute(sql, parameters).fetchall()
        return [Answer(*row) for row in rows]
