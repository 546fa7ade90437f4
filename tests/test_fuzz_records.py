"""Property-based fuzzing (hypothesis) of the records reader: whatever a records file holds,
`read_records` returns records or raises a PrefbenchInputError naming the file and the line,
never a traceback. Example counts are bounded so the suite stays fast."""

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefbench.core.errors import PrefbenchInputError
from prefbench.tasks.records import Record, read_records

FUZZ = settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
VALID = {
    "id": "demo-ava-001",
    "dataset": "demo",
    "user": "ava",
    "split": "train",
    "metadata": {"subject": "hi"},
    "previous_context": "",
    "content": "See you Friday.",
    "source": "demo",
}
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["train", "test", " ", "", "\ud800"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
HOSTILE_LINES = st.sampled_from(
    [
        "[" * 50_000,  # nesting deeper than the JSON parser's recursion
        '{"a":' * 50_000,
        "1" * 5_000,  # an integer longer than Python's digit limit
        json.dumps({**VALID, "id": "x"})[:-1] + ', "n": ' + "9" * 5_000 + "}",
        "\ufeff" + json.dumps(VALID),
        "NaN",
        '"\\ud800"',
        "\x00\x01",
    ]
)


def mutated_record(data: st.DataObject) -> str:
    """A valid record with some fields dropped, replaced or added."""
    record = dict(VALID)
    record["id"] = data.draw(st.text(min_size=1, max_size=6), label="id")
    for name in data.draw(st.lists(st.sampled_from(sorted(VALID)), max_size=3), label="drop"):
        record.pop(name, None)
    for name in data.draw(st.lists(st.sampled_from([*VALID, "intent", "x"]), max_size=2)):
        record[name] = data.draw(JSON_VALUES, label=name)
    return json.dumps(record)


LINES = st.one_of(
    st.just(json.dumps(VALID)),
    HOSTILE_LINES,
    st.text(max_size=40),
    JSON_VALUES.map(json.dumps),
)


def assert_reads_or_names_file_and_line(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "records.jsonl"
        path.write_bytes(raw)
        try:
            records = read_records(path)
        except PrefbenchInputError as error:
            message = str(error)
            assert message.startswith(f"{path}, line "), message
            assert re.match(rf"{re.escape(str(path))}, line \d+", message)
            assert len(message) < 2_000, "the message quotes too much of the file"
            return
        assert all(isinstance(record, Record) for record in records)


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    assert_reads_or_names_file_and_line(raw)


@FUZZ
@given(st.data())
def test_lines_of_records_and_json(data: st.DataObject) -> None:
    lines = data.draw(st.lists(st.one_of(LINES, st.builds(mutated_record, st.data())), max_size=5))
    assert_reads_or_names_file_and_line("\n".join(lines).encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    "line",
    ["[" * 50_000, '{"a":' * 50_000, "1" * 5_000, "\x00\x01", '"\\ud800"', "NaN"],
)
def test_hostile_lines_are_input_errors(tmp_path: Path, line: str) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(VALID) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(PrefbenchInputError, match=f"{re.escape(str(path))}, line 2"):
        read_records(path)


def test_a_utf8_bom_before_the_first_record_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(VALID).encode() + b"\n")
    assert [record.id for record in read_records(path)] == [VALID["id"]]


def test_a_lone_surrogate_in_a_field_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps({**VALID, "content": "\ud800"}) + "\n", encoding="utf-8")
    with pytest.raises(PrefbenchInputError, match="line 1"):
        read_records(path)
