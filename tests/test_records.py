import json
from pathlib import Path

import pytest

from prefbench.core.errors import PrefbenchInputError
from prefbench.tasks.records import Record, read_records, records_by_user, write_records


def make_record(record_id: str = "r-1", user: str = "ava", split: str = "train", **extra):
    fields = {
        "id": record_id,
        "dataset": "demo",
        "user": user,
        "split": split,
        "metadata": {"from": "a@x.example", "to": "b@x.example", "cc": "", "subject": "Hi"},
        "content": "Dear Bo, the report is attached.",
        "source": "test:row=1",
    }
    fields.update(extra)
    return Record(**fields)


def record_line(**overrides) -> str:
    fields = make_record().model_dump(mode="json")
    fields.update(overrides)
    return json.dumps(fields)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_error(path: Path) -> str:
    with pytest.raises(PrefbenchInputError) as caught:
        read_records(path)
    return str(caught.value)


def test_round_trip_keeps_every_field_and_unicode(tmp_path):
    records = [
        make_record("r-1", previous_context="Salut — ça va ?", intent="ask for a review"),
        make_record("r-2", user="bo", split="test", content="héllo 👋 wörld"),
    ]
    path = tmp_path / "data" / "records.jsonl"
    write_records(path, records)
    assert read_records(path) == records
    text = path.read_text(encoding="utf-8")
    assert "ça va" in text and "👋" in text  # ensure_ascii=False
    assert len(text.splitlines()) == 2
    assert all(json.loads(line)["id"] for line in text.splitlines())


def test_blank_lines_are_skipped(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", ["", record_line(), "   ", record_line(id="r-2"), ""])
    assert [record.id for record in read_records(path)] == ["r-1", "r-2"]


def test_write_leaves_no_temporary_file(tmp_path):
    write_records(tmp_path / "records.jsonl", [make_record()])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.jsonl"]


def test_write_refuses_duplicate_ids_and_keeps_existing_file(tmp_path):
    path = tmp_path / "records.jsonl"
    write_records(path, [make_record("keep-me")])
    before = path.read_bytes()
    with pytest.raises(PrefbenchInputError, match="duplicate id 'dup'"):
        write_records(path, [make_record("dup"), make_record("other"), make_record("dup")])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.jsonl"]


def test_write_is_deterministic(tmp_path):
    records = [make_record("r-1"), make_record("r-2")]
    write_records(tmp_path / "a.jsonl", records)
    write_records(tmp_path / "b.jsonl", records)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "records.jsonl"
    message = read_error(path)
    assert str(path) in message and "not found" in message


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (record_line(split="validation"), "bad split value 'validation'"),
        (record_line(content="   \n "), "'content' must not be empty"),
        (record_line(id=""), "'id' must not be empty"),
        (record_line(user=""), "'user' must not be empty"),
        (record_line(extra_field=1), "unknown field 'extra_field'"),
        (record_line(metadata={"from": 3}), "metadata.from"),
    ],
)
def test_bad_line_names_file_line_problem_and_fix(tmp_path, bad_line, expected):
    path = write_lines(tmp_path / "records.jsonl", [record_line(id="ok-1"), "", bad_line])
    message = read_error(path)
    assert "records.jsonl" in message
    assert "line 3" in message
    assert expected in message
    assert "fix or delete that line" in message and "prefbench data prepare" in message


def test_missing_field_is_named_with_the_record_id(tmp_path):
    fields = json.loads(record_line(id="r-7"))
    del fields["content"]
    path = write_lines(tmp_path / "records.jsonl", [json.dumps(fields)])
    message = read_error(path)
    assert "line 1" in message and "'r-7'" in message and "missing field 'content'" in message


def test_duplicate_id_names_both_lines(tmp_path):
    lines = [record_line(id="a"), record_line(id="b"), record_line(id="a")]
    message = read_error(write_lines(tmp_path / "records.jsonl", lines))
    assert "records.jsonl" in message and "line 3" in message and "line 1" in message
    assert "duplicate id 'a'" in message


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_bytes(record_line().encode() + b"\n\xff\xfe\n")
    message = read_error(path)
    assert "records.jsonl" in message and "line 2" in message and "UTF-8" in message


def test_records_by_user_sorts_users_and_keeps_order():
    records = [
        make_record("1", user="cruz"),
        make_record("2", user="ava", split="test"),
        make_record("3", user="cruz", split="test"),
        make_record("4", user="ava"),
    ]
    grouped = records_by_user(records)
    assert list(grouped) == ["ava", "cruz"]
    assert [r.id for r in grouped["ava"]] == ["2", "4"]
    assert [r.id for r in grouped["cruz"]] == ["1", "3"]
    tests = records_by_user(records, split="test")
    assert {user: [r.id for r in rs] for user, rs in tests.items()} == {"ava": ["2"], "cruz": ["3"]}
    with pytest.raises(ValueError, match="split"):
        records_by_user(records, split="dev")
