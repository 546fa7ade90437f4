"""Import human answers collected outside the run's own annotation app.

Readers turn a file into raw answers (annotator, item id, blinded choice 1 or 2, answered_at):

- another copy of the app's SQLite database (a study run on another machine): the whole
  history of its ``answers`` table;
- CSV (or TSV) and JSON lines, for studies run on Prolific, Google Forms or a spreadsheet:
  columns/keys ``annotator``, ``item_id``, ``choice`` (``1``/``2``, or ``candidate_1``/
  ``candidate_2``) and optionally ``answered_at`` (ISO-8601; UTC when no offset is given);
  an empty choice is a missing answer (counted, then dropped);
- Label Studio's JSON export of the project made from ``human/label_studio/``: per task
  ``data.item_id``, per annotation ``completed_by`` (an id → ``ls-<id>``, or a user object
  with an email → the whole email, so ``alice@a`` and ``alice@b`` stay apart), the
  ``choice`` result and ``updated_at`` (else
  ``created_at``); cancelled annotations are skipped.

:func:`import_files` validates every file against the bundle before it writes anything
(unknown item ids; annotators not in ``bundle.json`` unless ``add_annotators``; an
``answered_at`` later than the import, which would override every later answer), collapses
identical repeated rows, orders conflicting answers so that the latest (by answered_at, then
file order) is appended last and so becomes current, keeps a copy of each file in
``human/imports/`` and appends through ``AnnotationStore.import_answers``: a file imported
before (same content hash) appends nothing, and rows already in the database are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefbench.core.atomic import StagedFiles
from prefbench.core.bounded_input import check_regular_file, loads_json, read_regular_file
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.safe_names import safe_name, visible
from prefbench.human_eval.attach import AttachSummary, StagedAttachment, stage_human_scores
from prefbench.human_eval.bundle import Bundle, read_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.store import AnnotationStore

__all__ = [
    "FileImport",
    "ImportOutcome",
    "ParsedFile",
    "RawAnswer",
    "import_answers",
    "import_files",
    "parse_choice",
    "prepare_import",
    "read_answers_file",
    "read_csv_answers",
    "read_database_answers",
    "read_jsonl_answers",
    "read_label_studio_answers",
]

REQUIRED_FIELDS = ("annotator", "item_id", "choice")
OPTIONAL_FIELDS = ("answered_at",)
CHOICE_WORDS = {"1": 1, "2": 2, "candidate_1": 1, "candidate_2": 2}
SQLITE_MAGIC = b"SQLite format 3\x00"
DATABASE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
FORMATS_HINT = (
    "give a CSV/TSV (.csv, .tsv), JSON lines (.jsonl, .ndjson), Label Studio JSON export "
    "(.json) or an annotations database (.sqlite, .db)"
)
_LISTED = 10
CSV_FIELD_LIMIT = 128 * 1024
CLOCK_SKEW = timedelta(minutes=5)
"""How far an imported ``answered_at`` may lie in the future (clocks of other machines)."""
MAX_FILE_BYTES = 256 * 1024 * 1024
"""The largest CSV/TSV, JSON-lines or Label Studio file read (256 MiB)."""
MAX_DATABASE_BYTES = 1024 * 1024 * 1024
"""The largest annotations database read (1 GiB, its -wal file as much again)."""
SQLITE_SECONDS = 60.0
"""How long reading another annotations database may take before it is given up."""


@dataclass(frozen=True)
class RawAnswer:
    """One answer read from a file, before validation against the bundle.

    Attributes:
        annotator: The annotator's name.
        item_id: The blinded item's id.
        choice: 1 or 2: the candidate picked as shown (blinded).
        answered_at: ISO-8601 UTC, or None when the file has no time (the import time is used).
        where: The file and row/line/task it came from, for messages.
    """

    annotator: str
    item_id: str
    choice: int
    answered_at: str | None
    where: str


@dataclass(frozen=True)
class ParsedFile:
    """A file's answers as read, the bytes kept in ``human/imports/`` and their hash.

    Attributes:
        path: The file given.
        kind: ``"database"``, ``"csv"``, ``"jsonl"`` or ``"label-studio"``.
        answers: Raw answers in file order.
        blank: Rows or annotations without a choice (missing answers, dropped).
        content: The bytes to keep as the import's copy (a database is checkpointed first).
        sha256: Content hash that makes importing the same file twice a no-op (for a
            database: the hash of its answer rows, which a copy or checkpoint does not change).
    """

    path: Path
    kind: str
    answers: list[RawAnswer]
    blank: int
    content: bytes
    sha256: str


@dataclass(frozen=True)
class FileImport:
    """What importing one file did.

    Attributes:
        path: The file.
        kind: Its format (see :class:`ParsedFile`).
        read: Answers read from it (blank rows not counted).
        appended: Answers appended to the database.
        collapsed: Identical repeated rows collapsed into one.
        conflicts: Annotator × item pairs with differing answers (all kept; latest current).
        already_present: Answers the database already held (skipped).
        already_imported: True when this exact file had been imported before.
        blank: Rows without a choice (missing answers, dropped).
    """

    path: Path
    kind: str
    read: int
    appended: int
    collapsed: int
    conflicts: int
    already_present: int
    already_imported: bool
    blank: int


def _error(where: str, problem: str, fix: str) -> PrefbenchInputError:
    return PrefbenchInputError(f"{where}: {problem}; {fix}")


def parse_choice(value: Any, where: str) -> int | None:
    """A blinded choice: 1 or 2 (also ``"candidate_1"``/``"candidate_2"``); None when empty.

    Raises:
        PrefbenchInputError: Any other value, naming ``where``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value in (1, 2):
        return value
    if isinstance(value, str):
        word = "_".join(value.strip().lower().split())
        if word in CHOICE_WORDS:
            return CHOICE_WORDS[word]
    raise _error(
        where,
        f"choice {value!r} is not a candidate",
        "write 1 or 2 (or candidate_1 / candidate_2): the candidate picked as shown",
    )


def _timestamp(value: Any, where: str) -> str | None:
    """ISO-8601 text as UTC with milliseconds (the database's format); None when empty.

    A time in the future beyond `CLOCK_SKEW` is refused: as the latest answer it would
    override every answer given after the import. A time in the future within it (another
    machine's clock running ahead) becomes the import time, so an answer given on the page
    after the import is later, and current, on the page and in the statistics alike.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        moment = datetime.fromisoformat(str(value).strip())
    except ValueError as error:
        raise _error(
            where,
            f"answered_at {value!r} is not an ISO-8601 time",
            "write e.g. 2024-05-01T14:03:00Z, or leave answered_at empty",
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError as error:
        raise _error(
            where, f"answered_at {value!r} is out of range", "write a real time of the study"
        ) from error
    now = datetime.now(UTC)
    if moment > now + CLOCK_SKEW:
        raise _error(
            where,
            f"answered_at {value!r} is in the future (now is "
            f"{now.isoformat(timespec='seconds')}); it would override every later answer",
            "correct the time (give its UTC offset, e.g. 2024-05-01T14:03:00+02:00), or leave "
            "answered_at empty to use the import time",
        )
    return min(moment, now).isoformat(timespec="milliseconds")


def _text(value: Any, name: str, where: str) -> str:
    if isinstance(value, bool) or (value is not None and not isinstance(value, str | int)):
        raise _error(
            where, f"{name} {value!r} is not text", f"write the {name} as plain text (a name/id)"
        )
    text = "" if value is None else str(value).strip()
    if not text:
        raise _error(where, f"{name} is empty", f"fill in the {name} of every answer")
    return text


def _answer(record: dict[str, Any], where: str) -> RawAnswer | None:
    """A raw answer from a CSV row or JSON object; None for a blank choice."""
    choice = parse_choice(record.get("choice"), where)
    if choice is None:
        return None
    return RawAnswer(
        annotator=_text(record.get("annotator"), "annotator", where),
        item_id=_text(record.get("item_id"), "item_id", where),
        choice=choice,
        answered_at=_timestamp(record.get("answered_at"), where),
        where=where,
    )


def _json_problem(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"line {error.lineno}: {error.msg}"
    return str(error)


def _read_content(path: Path, hint: str) -> bytes:
    """The bytes of an answers file: a regular file (no link, FIFO, folder), size-bounded."""
    return read_regular_file(path, what="the answers file", fix=hint, limit=MAX_FILE_BYTES)


def _decoded(content: bytes, path: Path, hint: str) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _error(str(path), f"is not UTF-8 text ({error})", hint) from error


def _parsed(
    path: Path, kind: str, answers: list[RawAnswer], blank: int, content: bytes
) -> ParsedFile:
    return ParsedFile(path, kind, answers, blank, content, hashlib.sha256(content).hexdigest())


def _csv_header(row: list[str] | None, path: Path) -> list[str]:
    """The header's column names (lower case), checked: needed columns present, none twice."""
    found = [column.strip().lower() for column in row or []]
    absent = [name for name in REQUIRED_FIELDS if name not in found]
    if absent:
        raise _error(
            f"{path}, header",
            f"found columns {found}, needed {list(REQUIRED_FIELDS)} "
            f"(optional {list(OPTIONAL_FIELDS)}); missing {absent}",
            "rename the columns in the first row",
        )
    twice = sorted({name for name in found if name and found.count(name) > 1})
    if twice:
        raise _error(
            f"{path}, header",
            f"columns {twice} appear more than once (which one holds the answer is unclear)",
            "keep one column of each name in the first row",
        )
    return found


def read_csv_answers(path: Path) -> ParsedFile:
    """Answers from a CSV file (a TSV when the name ends in ``.tsv``) with a header row.

    Rows are numbered as in a spreadsheet: the header is row 1. Extra columns are ignored;
    a quoted field may span lines; an empty row is skipped.

    Raises:
        PrefbenchInputError: Not UTF-8, a header without the needed columns or with a
            column twice, a row with more or fewer fields than the header, a field over
            128 KiB or an unterminated quote, an empty annotator or item id, a bad choice
            or time (the message names the row).
    """
    content = _read_content(path, "save the sheet as UTF-8 CSV")
    text = _decoded(content, path, "save the sheet as UTF-8 CSV")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    answers, blank, number = [], 0, 1
    previous_limit = csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        found = _csv_header(next(reader, None), path)
        for row in reader:
            number += 1
            where = f"{path}, row {number}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(found):
                raise _error(
                    where,
                    f"{len(row)} fields but the header has {len(found)}",
                    "give every row one field per column (quote fields that contain the "
                    "delimiter; leave a field empty rather than out)",
                )
            answer = _answer(dict(zip(found, row, strict=True)), where)
            if answer is None:
                blank += 1
            else:
                answers.append(answer)
    except csv.Error as error:
        raise _error(
            f"{path}, row {number + 1} (line {reader.line_num})",
            f"is not readable CSV ({error}; a field may hold at most {CSV_FIELD_LIMIT} bytes)",
            "close every quoted field and keep fields short (answers need only annotator, "
            "item_id, choice and answered_at)",
        ) from error
    finally:
        csv.field_size_limit(previous_limit)
    return _parsed(path, "csv", answers, blank, content)


def read_jsonl_answers(path: Path) -> ParsedFile:
    """Answers from a JSON-lines file: one object per line with the CSV's keys.

    Raises:
        PrefbenchInputError: A line that is not a JSON object, lacks a needed key, or holds
            a bad value (the message names the line).
    """
    content = _read_content(path, "save the file as UTF-8")
    text = _decoded(content, path, "save the file as UTF-8")
    answers, blank = [], 0
    for number, line in enumerate(text.split("\n"), start=1):
        where = f"{path}, line {number}"
        if not line.strip():
            continue
        try:
            record = loads_json(line)
        except ValueError as error:  # JSONDecodeError, too deep, a number of over 4300 digits
            raise _error(
                where, f"not valid JSON ({_json_problem(error)})", "write one JSON object per line"
            ) from error
        if not isinstance(record, dict):
            raise _error(where, "not a JSON object", "write one JSON object per line")
        absent = [name for name in REQUIRED_FIELDS if name not in record]
        if absent:
            raise _error(
                where,
                f"found keys {sorted(record)}, missing {absent}",
                f"give every line the keys {list(REQUIRED_FIELDS)}",
            )
        answer = _answer(record, where)
        if answer is None:
            blank += 1
        else:
            answers.append(answer)
    return _parsed(path, "jsonl", answers, blank, content)


def _label_studio_annotator(completed_by: Any, where: str) -> str:
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and "@" in email:
            return email.strip()
        completed_by = completed_by.get("id")
    if isinstance(completed_by, int | str) and str(completed_by).strip():
        return f"ls-{str(completed_by).strip()}"
    raise _error(
        where,
        f"completed_by {completed_by!r} names no annotator",
        "export from Label Studio again (JSON format), with annotator details",
    )


def _label_studio_choice(result: Any, where: str) -> int | None:
    if not isinstance(result, list):
        raise _error(where, "result is not a list", "export from Label Studio in JSON format")
    found = [r for r in result if isinstance(r, dict) and r.get("from_name") == "choice"]
    if not found:
        return None
    value = found[-1].get("value")
    choices = value.get("choices") if isinstance(value, dict) else None
    if not isinstance(choices, list) or len(choices) != 1:
        raise _error(
            where,
            f"choice result {choices!r} is not exactly one choice",
            "use the project config human/label_studio/config.xml (a single choice 1 or 2)",
        )
    return parse_choice(choices[0], where)


def read_label_studio_answers(path: Path) -> ParsedFile:
    """Answers from a Label Studio JSON export (a list of tasks with their annotations).

    Raises:
        PrefbenchInputError: Not a JSON list of tasks, a task without ``data.item_id``, an
            annotation without annotator, or a choice that is not 1 or 2 (the message names
            the task).
    """
    content = _read_content(path, "export from Label Studio again")
    text = _decoded(content, path, "export from Label Studio again")
    try:
        tasks = loads_json(text)
    except ValueError as error:  # JSONDecodeError, too deep, a number of over 4300 digits
        raise _error(
            str(path),
            f"not valid JSON ({_json_problem(error)})",
            "export from Label Studio again in JSON format (one answer per line: use .jsonl)",
        ) from error
    if not isinstance(tasks, list):
        raise _error(
            str(path),
            "is not a Label Studio export (a JSON list of tasks)",
            "export the project in Label Studio's JSON format, or write answers one per "
            "line to a .jsonl file",
        )
    answers, blank = [], 0
    for index, task in enumerate(tasks, start=1):
        task_id = task.get("id") if isinstance(task, dict) else None
        where = f"{path}, task {index}" + (f" (id {task_id})" if task_id is not None else "")
        data = task.get("data") if isinstance(task, dict) else None
        item_id = data.get("item_id") if isinstance(data, dict) else None
        if not isinstance(item_id, str | int) or not str(item_id).strip():
            raise _error(
                where,
                "has no data.item_id",
                "create the Label Studio project from human/label_studio/tasks.json, "
                "whose tasks carry item_id",
            )
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            raise _error(
                where, "annotations is not a list", "export from Label Studio in JSON format"
            )
        for number, annotation in enumerate(annotations, start=1):
            at = f"{where}, annotation {number}"
            if not isinstance(annotation, dict):
                raise _error(at, "is not an object", "export from Label Studio in JSON format")
            if annotation.get("was_cancelled"):
                continue
            choice = _label_studio_choice(annotation.get("result", []), at)
            if choice is None:
                blank += 1
                continue
            answers.append(
                RawAnswer(
                    annotator=_label_studio_annotator(annotation.get("completed_by"), at),
                    item_id=str(item_id).strip(),
                    choice=choice,
                    answered_at=_timestamp(
                        annotation.get("updated_at") or annotation.get("created_at"), at
                    ),
                    where=at,
                )
            )
    return _parsed(path, "label-studio", answers, blank, content)


def read_database_answers(path: Path) -> ParsedFile:
    """Every row of another annotations database's ``answers`` table, in answer_id order.

    The file (and its ``-wal`` file, if any) is read from a temporary copy, so nothing is
    written beside it; the copy, checkpointed into one file, is what gets kept. Only a
    table is read: an ``answers`` that is a view is refused (a recursive view would never
    end), untrusted schema code is off (``PRAGMA trusted_schema``), and the whole read is
    given up after `SQLITE_SECONDS`.

    Raises:
        PrefbenchInputError: Not an SQLite database, a damaged or truncated one, one whose
            ``answers`` is not a table, or one that takes too long to read.
    """
    fix = "copy the database again from the machine that ran the study (with its -wal file)"
    limits = {"what": "the annotations database", "fix": fix, "limit": MAX_DATABASE_BYTES}
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "answers.sqlite"
        copy.write_bytes(read_regular_file(path, **limits))
        wal = path.with_name(path.name + "-wal")
        if wal.exists() or wal.is_symlink():
            copy.with_name(copy.name + "-wal").write_bytes(read_regular_file(wal, **limits))
        deadline = time.monotonic() + SQLITE_SECONDS
        try:
            connection = sqlite3.connect(copy)
            connection.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
            try:
                rows = _answer_rows(connection, path)
            finally:
                connection.close()
        except sqlite3.Error as error:
            if time.monotonic() > deadline:
                raise _error(
                    str(path),
                    f"took over {SQLITE_SECONDS:g} seconds to read; given up",
                    "give the annotations.sqlite of the study's run folder (human/), or "
                    "export its answers to CSV",
                ) from error
            raise _error(str(path), f"is not a readable SQLite database ({error})", fix) from error
        content = copy.read_bytes()
    answers = []
    for answer_id, annotator, item_id, choice, answered_at in rows:
        where = f"{path}, answer_id {answer_id}"
        parsed = parse_choice(choice, where)
        if parsed is None:
            raise _error(where, "has no choice", fix)
        answers.append(
            RawAnswer(
                _text(annotator, "annotator", where),
                _text(item_id, "item_id", where),
                parsed,
                _timestamp(answered_at, where),
                where,
            )
        )
    canonical = json.dumps([[a.annotator, a.item_id, a.choice, a.answered_at] for a in answers])
    sha256 = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return ParsedFile(path, "database", answers, 0, content, sha256)


def _answer_rows(connection: sqlite3.Connection, path: Path) -> list[tuple]:
    """The ``answers`` table's rows of an open copy, after checking it; then checkpointed."""
    connection.execute("PRAGMA trusted_schema=OFF")
    check = connection.execute("PRAGMA quick_check").fetchone()
    if check is None or check[0] != "ok":
        raise sqlite3.DatabaseError(f"integrity check: {check}")
    kinds = dict(connection.execute("SELECT name, type FROM sqlite_master WHERE name = 'answers'"))
    if kinds.get("answers") != "table":
        found = f"a {kinds['answers']}" if "answers" in kinds else "nothing"
        raise _error(
            str(path),
            f"has no answers table ('answers' is {found}): not a prefbench annotations database",
            "give the annotations.sqlite of the study's run folder (human/)",
        )
    rows = connection.execute(
        "SELECT answer_id, annotator, item_id, choice, answered_at FROM answers ORDER BY answer_id"
    ).fetchall()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("PRAGMA journal_mode=DELETE")
    return rows


def _is_database(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def read_answers_file(path: Path) -> ParsedFile:
    """Read a file of answers with the reader its name (or SQLite header) calls for.

    Only a regular file is read: a symbolic link (never followed, so its target's content
    never reaches a message), a folder, a FIFO or a device is refused by name.

    Raises:
        PrefbenchInputError: The file is missing, not a regular file, too large, of an
            unknown kind, or malformed.
    """
    path = Path(path)
    check_regular_file(path, what="the answers file", fix=FORMATS_HINT, limit=MAX_DATABASE_BYTES)
    suffix = path.suffix.lower()
    if suffix in DATABASE_SUFFIXES or _is_database(path):
        return read_database_answers(path)
    if suffix in (".csv", ".tsv"):
        return read_csv_answers(path)
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl_answers(path)
    if suffix == ".json":
        return read_label_studio_answers(path)
    raise PrefbenchInputError(f"{path}: unknown kind of answers file; {FORMATS_HINT}")


def _listed(names: Iterable[str]) -> str:
    names = sorted({visible(name) for name in names})
    shown = ", ".join(names[:_LISTED])
    return shown + (f" … ({len(names)} in all)" if len(names) > _LISTED else "")


@dataclass(frozen=True)
class PreparedImport:
    """A validated file: its answers deduplicated and ordered so the latest is appended last."""

    parsed: ParsedFile
    answers: list[RawAnswer]
    collapsed: int
    conflicts: int


def prepare_import(parsed: ParsedFile, bundle: Bundle, add_annotators: bool) -> PreparedImport:
    """Check a parsed file against the bundle, collapse repeats and order conflicts.

    Identical rows (annotator, item, choice, time) collapse into one. Rows of one annotator
    and item that differ are all kept: sorted by answered_at, rows without a time last (they
    get the import time), then file order, so the latest becomes the current answer.

    Raises:
        PrefbenchInputError: Item ids the bundle does not have, or annotators not in
            ``bundle.json`` (unless ``add_annotators``), listing the offenders.
    """
    unknown_items = [a for a in parsed.answers if a.item_id not in bundle.key]
    if unknown_items:
        raise PrefbenchInputError(
            f"{parsed.path}: item ids not in this run's bundle: "
            f"{_listed(a.item_id for a in unknown_items)} (first at {unknown_items[0].where}); "
            "import answers to the items of human/items.jsonl (was the study run on another "
            "export?)"
        )
    known = set(bundle.annotator_names)
    unknown = [a for a in parsed.answers if a.annotator not in known]
    if unknown and not add_annotators:
        raise PrefbenchInputError(
            f"{parsed.path}: annotators not in human/bundle.json: "
            f"{_listed(a.annotator for a in unknown)} (first at {unknown[0].where}; bundle "
            f"annotators: {', '.join(sorted(known)) or 'none'}); fix the names, or pass "
            "--add-annotators to accept them"
        )
    unique: dict[tuple[str, str, int, str | None], RawAnswer] = {}
    for answer in parsed.answers:
        unique.setdefault(
            (answer.annotator, answer.item_id, answer.choice, answer.answered_at), answer
        )
    ordered = sorted(
        unique.values(),
        key=lambda a: (a.answered_at is None, a.answered_at or ""),
    )
    choices: dict[tuple[str, str], set[int]] = {}
    for answer in ordered:
        choices.setdefault((answer.annotator, answer.item_id), set()).add(answer.choice)
    return PreparedImport(
        parsed=parsed,
        answers=ordered,
        collapsed=len(parsed.answers) - len(unique),
        conflicts=sum(len(picked) > 1 for picked in choices.values()),
    )


def _stage_copy(folder: HumanFolder, parsed: ParsedFile, files: StagedFiles) -> None:
    """Stage the imported content as ``human/imports/<hash>-<name>`` (once per content)."""
    target = folder.imports_dir / f"{parsed.sha256[:12]}-{safe_name(parsed.path.name)}"
    if not target.exists():
        files.new(target).write_bytes(parsed.content)


def _identity(answer: Any) -> tuple[str, str, int, str | None]:
    return (answer.annotator, answer.item_id, answer.choice, answer.answered_at)


def _append(
    store: AnnotationStore,
    item: PreparedImport,
    present: set[tuple[str, str, int, str | None]],
) -> FileImport:
    """Append one validated file's answers that the database lacks; `present` is updated."""
    parsed = item.parsed
    seen_before = store.imported(parsed.sha256)
    fresh = [] if seen_before else [a for a in item.answers if _identity(a) not in present]
    appended = 0
    if not seen_before:
        rows = [
            {
                "annotator": a.annotator,
                "item_id": a.item_id,
                "choice": a.choice,
                "answered_at": a.answered_at,
            }
            for a in fresh
        ]
        appended = store.import_answers(
            rows, sha256=parsed.sha256, source=f"import:{parsed.path.name}"
        )
        present.update(_identity(a) for a in fresh)
    return FileImport(
        path=parsed.path,
        kind=parsed.kind,
        read=len(parsed.answers),
        appended=appended,
        collapsed=item.collapsed,
        conflicts=item.conflicts,
        already_present=0 if seen_before else len(item.answers) - len(fresh),
        already_imported=seen_before,
        blank=parsed.blank,
    )


@dataclass(frozen=True)
class ImportOutcome:
    """What :func:`import_answers` did: each file's import, then the attachment to the logs."""

    files: list[FileImport]
    attached: AttachSummary


def import_answers(
    run_dir: Path,
    files: Sequence[Path],
    add_annotators: bool = False,
    announce: Callable[[str], None] = print,
) -> ImportOutcome:
    """Import answer files and attach every answer to the judge logs, all or nothing.

    Every file is read and validated first. Then, in one database transaction, the new
    answers are appended and the judge logs rewritten with them aside
    (`prefbench.human_eval.attach.stage_human_scores`); only when both succeed is the
    transaction committed and the logs renamed into place (and each file's copy kept in
    ``human/imports/``). A failure anywhere before (a corrupt judge log, a full disk) rolls
    the transaction back: the database and the logs stay as they were.

    Args:
        run_dir: The run folder (its bundle says which items and annotators exist).
        files: Answer files of any supported kind (see the module docstring).
        add_annotators: Accept annotators that are not in ``bundle.json``.
        announce: Receives warnings (a corrupt judge log moved aside, a re-linked bundle).

    Raises:
        PrefbenchInputError: A missing bundle, any file that is unreadable, malformed or
            names unknown items or annotators, or a judge log that cannot be attached to;
            nothing is written then.
    """
    run_dir = Path(run_dir)
    bundle = read_bundle(run_dir)
    prepared = [prepare_import(read_answers_file(p), bundle, add_annotators) for p in files]
    folder = HumanFolder(run_dir)
    with AnnotationStore(folder.database) as store:
        staged: StagedAttachment | None = None
        try:
            with store.transaction():
                present = {_identity(answer) for answer in store.history()}
                results = [_append(store, item, present) for item in prepared]
                staged = stage_human_scores(run_dir, store.history(), announce)
                for item, result in zip(prepared, results, strict=True):
                    if not result.already_imported:
                        _stage_copy(folder, item.parsed, staged.files)
        except BaseException:
            if staged is not None:
                staged.discard()
            raise
    try:
        staged.install()
    except OSError as error:
        raise PrefbenchInputError(
            f"the answers are in {folder.database}, but writing {error.filename} failed "
            f"({error.strerror or error}): free space, then attach them with `prefbench human "
            f"import --run {run_dir}` (no file)"
        ) from error
    return ImportOutcome(results, staged.summary)


def import_files(
    run_dir: Path, files: Sequence[Path], add_annotators: bool = False
) -> list[FileImport]:
    """Import answer files and attach them to the judge logs (:func:`import_answers`).

    Returns:
        One :class:`FileImport` per file, in the order given.
    """
    return import_answers(run_dir, files, add_annotators).files
