"""The append-only SQLite database of human answers (`human/annotations.sqlite`).

Every answer and every change of an answer is a new row; triggers abort any UPDATE or
DELETE on `answers`. :func:`current_answers` is the one rule for which row is an
annotator's current answer to an item; the page, ``attach``, the agreement statistics and
the report all go through it. :func:`backup_database` copies a live database safely.
"""

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
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


def answer_recency(answer: Answer) -> tuple[datetime, int]:
    """The sort key of the current-answer rule: ``answered_at`` as a time, then append order.

    A time without an offset is UTC; a time that is not ISO-8601 (only possible when written
    to the database by hand) counts as older than every other.
    """
    try:
        moment = datetime.fromisoformat(answer.answered_at)
    except (TypeError, ValueError):
        moment = datetime.min
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, answer.answer_id


def current_answers(answers: Iterable[Answer]) -> dict[tuple[str, str], Answer]:
    """The current answer per (annotator, item_id): latest ``answered_at``, then append order.

    This is the only rule for the current answer. An old answer imported after a newer one
    therefore never becomes current, whatever order the rows were appended in. The result is
    in order of the current answers' ``answer_id``.
    """
    current: dict[tuple[str, str], Answer] = {}
    for answer in answers:
        key = (answer.annotator, answer.item_id)
        held = current.get(key)
        if held is None or answer_recency(answer) > answer_recency(held):
            current[key] = answer
    return dict(sorted(current.items(), key=lambda entry: entry[1].answer_id))


def backup_database(source: Path, target: Path) -> int:
    """Copy the answers database `source` to a new file `target`; the answer rows copied.

    SQLite's online backup API makes the copy consistent while the app or an import writes.
    The copy is written beside `target` under a temporary name, checked with
    ``PRAGMA integrity_check`` and then renamed, so `target` is either absent or complete.

    Raises:
        FileNotFoundError: There is no database at `source`.
        FileExistsError: `target` exists already.
        sqlite3.DatabaseError: The copy fails its integrity check.
    """
    target = Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists already; choose another name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    if not Path(source).is_file():
        raise FileNotFoundError(f"{source} does not exist: nothing to back up")
    origin = sqlite3.connect(source, timeout=30)
    copy = sqlite3.connect(partial)
    try:
        origin.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")
        (check,) = copy.execute("PRAGMA integrity_check").fetchone()
        if check != "ok":
            raise sqlite3.DatabaseError(f"backup {target} failed its integrity check: {check}")
        (rows,) = copy.execute("SELECT COUNT(*) FROM answers").fetchone()
    except BaseException:
        copy.close()
        partial.unlink(missing_ok=True)
        raise
    finally:
        origin.close()
    copy.close()
    partial.replace(target)
    return int(rows)


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
        self._lock = threading.RLock()
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

    def latest(self, annotator: str | None = None) -> dict[tuple[str, str], Answer]:
        """The current answer per (annotator, item_id) (:func:`current_answers`).

        With `annotator`, only that annotator's answers.
        """
        return current_answers(self.history(annotator=annotator))

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

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the database's write lock for a block: committed at its end, else rolled back.

        Reads in the block (this store's methods) see its own uncommitted rows; other
        connections (the app in another process) wait for the end of the block.
        """
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def import_answers(self, answers: Iterable[Any], sha256: str, source: str) -> int:
        """Append imported answers in one transaction; 0 when this sha256 was imported before.

        Each answer is an object or mapping with `annotator`, `item_id`, `choice` and
        optionally `answered_at` (now when missing); every row gets `source`. Inside
        :meth:`transaction` the rows join that transaction (committed with it).
        """
        if self._connection.in_transaction:
            return self._insert_import(answers, sha256, source)
        with self.transaction():
            return self._insert_import(answers, sha256, source)

    def _insert_import(self, answers: Iterable[Any], sha256: str, source: str) -> int:
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
            if self.imported(sha256):
                return 0
            connection.executemany(
                "INSERT INTO answers (annotator, item_id, choice, answered_at, source) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            connection.execute(
                "INSERT INTO imports (sha256, source, imported_at, answers) VALUES (?, ?, ?, ?)",
                (sha256, source, now, len(rows)),
            )
        return len(rows)

    def imported(self, sha256: str) -> bool:
        """Whether a file of this content hash was imported before (in this transaction too)."""
        with self._lock:
            row = self._connection.execute(
                "SELECT 1 FROM imports WHERE sha256 = ?", (sha256,)
            ).fetchone()
        return row is not None

    def count(self) -> int:
        """How many answer rows (changes included) the database holds."""
        with self._lock:
            (total,) = self._connection.execute("SELECT COUNT(*) FROM answers").fetchone()
        return int(total)

    def _query(self, sql: str, parameters: tuple) -> list[Answer]:
        with self._lock:
            rows = self._connection.execute(sql, parameters).fetchall()
        return [Answer(*row) for row in rows]
