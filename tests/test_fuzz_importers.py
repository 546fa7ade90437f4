"""Property-based fuzzing (hypothesis) of the four answer importers and the verdict parser:
whatever the input, a parsed file, a counted skip or a clear PrefbenchInputError, never a
traceback. Example counts are bounded so the suite stays fast."""

import csv
import io
import json
import sqlite3
import tempfile
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefbench.core.errors import PrefbenchInputError
from prefbench.human_eval.importers import (
    SQLITE_MAGIC,
    ParsedFile,
    read_csv_answers,
    read_database_answers,
    read_jsonl_answers,
    read_label_studio_answers,
)
from prefbench.scorers.verdict import parse_winner

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FIELDS = ["annotator", "item_id", "choice", "answered_at", "Choice", "extra", ""]
CELLS = st.one_of(
    st.sampled_from(
        [
            "1",
            "2",
            "candidate_1",
            "Candidate 2",
            "3",
            "",
            " ",
            "alice",
            "item-0001",
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:00:00+05:00",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "2999-01-01",
            "yesterday",
        ]
    ),
    st.text(max_size=30),
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    CELLS,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), children, max_size=5
        ),
    ),
    max_leaves=15,
)


def check(read, suffix: str, content: bytes) -> None:
    """`read` of a file holding `content`: a valid ParsedFile or a PrefbenchInputError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"answers{suffix}"
        path.write_bytes(content)
        try:
            parsed = read(path)
        except PrefbenchInputError as error:
            assert str(path) in str(error) and "; " in str(error)  # the file, then the fix
            return
    assert isinstance(parsed, ParsedFile) and parsed.blank >= 0
    for answer in parsed.answers:
        assert answer.choice in (1, 2)
        assert isinstance(answer.annotator, str) and answer.annotator.strip()
        assert isinstance(answer.item_id, str) and answer.item_id.strip()
        if answer.answered_at is not None:
            datetime.fromisoformat(answer.answered_at)


def csv_text(rows: list[list[str]], delimiter: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode("utf-8")


@FUZZ
@given(
    header=st.lists(st.sampled_from(FIELDS), min_size=0, max_size=6),
    rows=st.lists(st.lists(CELLS, max_size=6), max_size=6),
    tsv=st.booleans(),
)
def test_csv_importer_on_structured_sheets(header, rows, tsv):
    delimiter = "\t" if tsv else ","
    check(read_csv_answers, ".tsv" if tsv else ".csv", csv_text([header, *rows], delimiter))


@FUZZ
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_csv_importer_on_raw_bytes(content):
    check(read_csv_answers, ".csv", b"annotator,item_id,choice\n" + content)
    check(read_csv_answers, ".csv", content)


@FUZZ
@given(lines=st.lists(st.one_of(JSON_VALUES.map(json.dumps), st.text(max_size=40)), max_size=6))
def test_jsonl_importer(lines):
    check(read_jsonl_answers, ".jsonl", "\n".join(lines).encode("utf-8", "surrogatepass"))


ITEM_IDS = st.one_of(st.sampled_from(["item-0001", "item-0002", 7]), JSON_SCALARS)
CHOICE_VALUE = st.one_of(
    st.fixed_dictionaries({"choices": st.lists(JSON_SCALARS, min_size=1, max_size=2)}),
    JSON_VALUES,
)
WELL_SHAPED_ANNOTATION = st.fixed_dictionaries(
    {
        "completed_by": st.one_of(
            st.fixed_dictionaries({"email": CELLS}, optional={"id": JSON_SCALARS}),
            JSON_VALUES,
        ),
        "result": st.lists(
            st.fixed_dictionaries({"from_name": st.just("choice"), "value": CHOICE_VALUE}),
            min_size=1,
            max_size=2,
        ),
    },
    optional={"was_cancelled": st.booleans(), "created_at": CELLS, "updated_at": JSON_SCALARS},
)
WELL_SHAPED_TASK = st.fixed_dictionaries(
    {
        "data": st.fixed_dictionaries({"item_id": ITEM_IDS}),
        "annotations": st.one_of(st.lists(WELL_SHAPED_ANNOTATION, max_size=3), JSON_SCALARS),
    },
    optional={"id": JSON_SCALARS},
)


@FUZZ
@given(export=st.lists(WELL_SHAPED_TASK, min_size=1, max_size=3))
def test_label_studio_importer_on_well_shaped_exports(export):
    check(read_label_studio_answers, ".json", json.dumps(export).encode("utf-8", "surrogatepass"))


@FUZZ
@given(export=st.one_of(st.lists(JSON_VALUES, max_size=4), JSON_VALUES))
def test_label_studio_importer_on_any_json(export):
    check(read_label_studio_answers, ".json", json.dumps(export).encode("utf-8", "surrogatepass"))


@FUZZ
@given(raw=st.binary(max_size=40))
def test_label_studio_importer_on_raw_bytes(raw):
    check(read_label_studio_answers, ".json", raw)


SQL_VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    CELLS,
    st.binary(max_size=8),
)


def database_bytes(rows: list[tuple], columns: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "other.sqlite"
        connection = sqlite3.connect(path)
        connection.execute(f"CREATE TABLE answers ({columns})")
        width = len(columns.split(","))
        connection.executemany(
            f"INSERT INTO answers VALUES ({', '.join('?' * width)})",
            [row[:width] for row in rows],
        )
        connection.commit()
        connection.close()
        return path.read_bytes()


@FUZZ
@given(
    rows=st.lists(st.tuples(*[SQL_VALUES] * 5), max_size=5),
    columns=st.sampled_from(
        [
            "answer_id, annotator, item_id, choice, answered_at",
            "answer_id INTEGER PRIMARY KEY, annotator, item_id, choice, answered_at",
            "annotator, item_id, choice",
        ]
    ),
)
def test_database_importer(rows, columns):
    if "PRIMARY KEY" in columns:
        rows = [(number, *row[1:]) for number, row in enumerate(rows, start=1)]
    check(read_database_answers, ".sqlite", database_bytes(rows, columns))


@FUZZ
@given(tail=st.binary(max_size=600))
def test_database_importer_on_damaged_files(tail):
    check(read_database_answers, ".sqlite", SQLITE_MAGIC + tail)


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda before, content, after: f"{before}<winner>{content}</winner>{after}",
            st.text(max_size=30),
            st.one_of(
                st.text(max_size=30), st.from_regex(r"\s*#?\s*[+-]?\d{1,5000}\.?", fullmatch=True)
            ),
            st.sampled_from(["", "<thinking>", "</thinking>", "<winner>", "<winner>2</winner>"]),
        ),
    ),
    candidates=st.integers(min_value=1, max_value=12),
)
def test_verdict_parser_never_raises(text, candidates):
    winner = parse_winner(text, candidates)
    assert winner is None or 1 <= winner <= candidates


def test_verdict_parser_on_a_number_too_long_for_int():
    assert parse_winner("<winner>" + "9" * 5000 + "</winner>") is None
    assert parse_winner("<winner>0002</winner>") == 2


def test_a_json_number_too_long_for_int_is_a_clear_error():
    huge = "9" * 5000
    check(read_jsonl_answers, ".jsonl", f'{{"annotator": "a", "choice": {huge}}}'.encode())
    check(read_label_studio_answers, ".json", f"[{huge}]".encode())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "huge.jsonl"
        path.write_text(f'{{"choice": {huge}}}\n', encoding="utf-8")
        try:
            read_jsonl_answers(path)
        except PrefbenchInputError as error:
            assert f"{path}, line 1: not valid JSON" in str(error)
        else:
            raise AssertionError("a 5000-digit number was accepted")
