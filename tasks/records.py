"""The record every dataset loader produces; its JSON-lines reader and writer (docs/design.md §7).

A records file holds one JSON object per line, each a `Record`. Blank lines are skipped, and
so is a UTF-8 byte-order mark at the start. Reading a file that breaks the schema raises
`PrefbenchInputError` (exit code 2 in the command line) naming the file, the line, the record
id when known, what is wrong and how to fix it.
"""

import codecs
import json
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from prefbench.core.atomic import atomic_write_text
from prefbench.core.bounded_input import JsonLimitError, loads_json
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.fingerprint import fingerprint

Split = Literal["train", "test"]
SPLITS: tuple[Split, ...] = ("train", "test")

QUOTE_LIMIT = 80
"""The longest bad value an error message quotes (longer ones are cut, with their length)."""

REGENERATE_HINT = (
    "regenerate it with `prefbench data prepare {enron,new_yorker,demo} --source PATH --out DIR`"
)


class Record(BaseModel):
    """One text a user really wrote, with what a system may see when it writes it instead.

    `content` is the ground truth; `intent` is empty until the intents stage fills it.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    """Stable, unique, non-empty identifier, e.g. ``"demo-ava-003"``."""
    dataset: str
    """Which corpus the record comes from, e.g. ``"demo"``, ``"enron"``, ``"new_yorker"``."""
    user: str
    """The person whose style is personalized for."""
    split: Split
    """``"train"`` (the system may learn from it) or ``"test"`` (it is generated and judged)."""
    metadata: dict[str, str]
    """Emails: ``from``, ``to``, ``cc``, ``subject``, ``date``; articles: ``author``,
    ``title``, ``section``, ``date``."""
    previous_context: str = ""
    """The message this text replies to, or empty."""
    content: str
    """The ground truth: the text the user really wrote."""
    intent: str | None = None
    """What the text should say, filled by the intents stage."""
    source: str
    """The file and row the record came from."""

    @field_validator("id", "dataset", "user", "content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("id", "dataset", "user")
    @classmethod
    def _printable(cls, value: str) -> str:
        """Ids are shown in messages and pages: no NUL, line break or other control character.

        Any other text is allowed; where an id names a file or folder (a user's adapters),
        its safe name (`prefbench.core.safe_names.safe_name`) is used and the id kept as is.
        """
        control = next((char for char in value if unicodedata.category(char) == "Cc"), None)
        if control is not None:
            raise ValueError(
                f"must not contain control characters (found {control!r}); "
                "write the id on one line, as plain text"
            )
        return value


PLACE_FIELDS = frozenset({"source"})
"""Record fields that say where a text was read (a file and row, often a path on one machine),
not what it is: left out of stage keys and split fingerprints."""


def records_fingerprint(records: Iterable[Record]) -> str:
    """sha256 of records as stage keys see them: every field but `PLACE_FIELDS`, in order.

    The same records prepared from a corpus at another path key the same stages.
    """
    return fingerprint([record.model_dump(exclude=set(PLACE_FIELDS)) for record in records])


def read_records(path: Path) -> list[Record]:
    """Read a JSON-lines records file, one `Record` per non-blank line, in file order.

    Raises `PrefbenchInputError` when the file is missing or unreadable, or when a line is
    not valid JSON, misses a field, has an unknown field or a bad value (a split other than
    "train"/"test", an empty content), or repeats an id seen on an earlier line. The message
    names the file, the 1-based line number, the record id when known, and the fix.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PrefbenchInputError(
            f"{path}: records file not found; check the path or create it with "
            f"`prefbench data prepare {{enron,new_yorker,demo}} --source PATH --out DIR`"
        ) from None
    except OSError as error:
        raise PrefbenchInputError(
            f"{path}: cannot read the records file ({error.strerror or error}); "
            f"check the path and its permissions"
        ) from None

    records: list[Record] = []
    first_line_of_id: dict[str, int] = {}
    raw = raw.removeprefix(codecs.BOM_UTF8)
    for line_number, line_bytes in enumerate(raw.split(b"\n"), start=1):
        if not line_bytes.strip():
            continue
        where = f"{path}, line {line_number}"
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as error:
            raise PrefbenchInputError(
                f"{where}: not valid UTF-8 ({error.reason} at byte {error.start}); "
                f"save the file as UTF-8, or {REGENERATE_HINT}"
            ) from None
        fields = _parse_json_line(line, where)
        if not isinstance(fields, dict):
            raise PrefbenchInputError(
                f"{where}: expected a JSON object (one record per line), got "
                f"{type(fields).__name__}; fix or delete that line, or {REGENERATE_HINT}"
            )
        record_id = fields.get("id")
        if isinstance(record_id, str) and record_id.strip():
            where += f" (record {_quoted(record_id)})"
        try:
            record = Record.model_validate(fields)
        except ValidationError as error:
            raise PrefbenchInputError(
                f"{where}: {_describe(error)}; fix or delete that line, or {REGENERATE_HINT}"
            ) from None
        if record.id in first_line_of_id:
            raise PrefbenchInputError(
                f"{where}: duplicate id {_quoted(record.id)}, already used on line "
                f"{first_line_of_id[record.id]}; ids must be unique: delete or rename one of "
                f"lines {first_line_of_id[record.id]} and {line_number}, or {REGENERATE_HINT}"
            )
        first_line_of_id[record.id] = line_number
        records.append(record)
    return records


def _parse_json_line(line: str, where: str) -> object:
    r"""One line's JSON value; `PrefbenchInputError` for anything Python's parser refuses.

    Besides malformed JSON: nesting deeper than the parser's recursion, a number longer than
    Python's digit limit, and a ``\udXXX`` escape that is no UTF-16 pair (a text that
    could never be written back as UTF-8).
    """
    try:
        fields = loads_json(line)
    except json.JSONDecodeError as error:
        problem = f"invalid JSON ({error.msg} at column {error.colno})"
    except JsonLimitError as error:
        problem = f"JSON {error}"
    except ValueError as error:  # an integer over sys.get_int_max_str_digits()
        problem = f"a JSON number too long to read ({str(error).split(';')[0]})"
    else:
        if "\\ud" not in line.lower():
            return fields
        try:
            json.dumps(fields, ensure_ascii=False).encode("utf-8")
            return fields
        except UnicodeEncodeError:
            problem = "a \\udXXX escape that is half of a UTF-16 pair (not a character)"
    raise PrefbenchInputError(f"{where}: {problem}; fix or delete that line, or {REGENERATE_HINT}")


def _quoted(value: object) -> str:
    """`repr(value)`, cut to `QUOTE_LIMIT` characters with the full length said."""
    text = repr(value)
    if len(text) <= QUOTE_LIMIT:
        return text
    return f"{text[:QUOTE_LIMIT]}... ({len(text)} characters)"


def write_records(path: Path, records: Iterable[Record]) -> None:
    """Write records as JSON lines (UTF-8, non-ASCII kept as is), atomically.

    Raises `PrefbenchInputError` and leaves `path` untouched when two records share an id.
    A reader never sees a half-written file: the text goes to a temporary file beside `path`
    that is renamed over it.
    """
    path = Path(path)
    lines: list[str] = []
    position_of_id: dict[str, int] = {}
    for position, record in enumerate(records, start=1):
        if record.id in position_of_id:
            raise PrefbenchInputError(
                f"{path}: refusing to write duplicate id {record.id!r} (records "
                f"{position_of_id[record.id]} and {position}); give every record a unique id"
            )
        position_of_id[record.id] = position
        lines.append(json.dumps(record.model_dump(mode="json"), ensure_ascii=False) + "\n")
    atomic_write_text(path, "".join(lines))


def records_by_user(
    records: Iterable[Record], split: Split | None = None
) -> dict[str, list[Record]]:
    """Group records by user: keys sorted by user, each list in the input order.

    With `split` ("train" or "test") only the records of that split are kept; a user with
    none of them is left out. Raises `ValueError` for any other split value.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    grouped: dict[str, list[Record]] = {}
    for record in records:
        if split is None or record.split == split:
            grouped.setdefault(record.user, []).append(record)
    return {user: grouped[user] for user in sorted(grouped)}


def _describe(error: ValidationError) -> str:
    """Say in plain words what is wrong with a record, one clause per problem."""
    problems: list[str] = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"]) or "record"
        kind = detail["type"]
        if kind == "missing":
            problems.append(f"missing field {field!r}")
        elif kind == "extra_forbidden":
            allowed = ", ".join(Record.model_fields)
            problems.append(f"unknown field {field!r} (allowed fields: {allowed})")
        elif field == "split":
            problems.append(
                f"bad split value {_quoted(detail['input'])} (allowed: 'train', 'test')"
            )
        elif kind == "value_error":
            problems.append(f"field {field!r} {detail['msg'].removeprefix('Value error, ')}")
        else:
            problems.append(f"field {field!r}: {detail['msg']} (got {_quoted(detail['input'])})")
    return "; ".join(problems)
