"""Enron sources (maildir, tar.gz, CSV export, Enron-42k release) through `prepare_corpus`."""

import csv
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from prefbench.core.errors import PrefbenchInputError
from prefbench.tasks.corpora.enron_reader import (
    RawMessage,
    SourceProblem,
    iter_csv_export,
    iter_maildir,
    iter_tar,
    split_message_path,
)
from prefbench.tasks.corpora.prepare import corpus_stats, prepare_corpus
from prefbench.tasks.records import read_records

SETTINGS = dict(users=None, min_records=1, seed=0, split="random", user_field="author")


def email(
    n: int, sender: str = "jane.doe@enron.com", body: str | None = None, date: str = ""
) -> bytes:
    text = body if body is not None else f"Message number {n}: the deal is done.\n\nJane"
    date = date or f"Mon, {n % 28 + 1} May 2001 10:02:00 -0700 (PDT)"
    return (
        f"Message-ID: <{n}@x>\nDate: {date}\n"
        f"From: {sender}\nTo: bob@x.com\nSubject: note {n}\n"
        f"Content-Type: text/plain; charset=us-ascii\n\n{text}\n"
    ).encode()


def make_maildir(root: Path, files: dict[str, bytes]) -> Path:
    for relative, raw in files.items():
        path = root / "maildir" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    return root


def small_corpus(root: Path, count: int = 6) -> Path:
    files = {f"doe-j/sent/{n}.": email(n) for n in range(1, count + 1)}
    files["doe-j/inbox/1."] = email(99, sender="bob@x.com")
    return make_maildir(root, files)


def make_tar(maildir_parent: Path, archive: Path, *, reverse: bool = False) -> Path:
    paths = sorted(p for p in (maildir_parent / "maildir").rglob("*") if p.is_file())
    if reverse:
        paths.reverse()
    with tarfile.open(archive, "w:gz") as tar:
        for path in paths:
            tar.add(path, arcname=str(path.relative_to(maildir_parent)))
    return archive


def make_csv(maildir_parent: Path, path: Path, *, extra_rows: list[list[str]] = ()) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "message"])
        for file in sorted((maildir_parent / "maildir").rglob("*")):
            if file.is_file():
                relative = file.relative_to(maildir_parent / "maildir").as_posix()
                writer.writerow([relative, file.read_bytes().decode("utf-8", "surrogateescape")])
        for row in extra_rows:
            writer.writerow(row)
    return path


def prepared(source: Path, out: Path, **overrides) -> list[dict]:
    prepare_corpus("enron", source, out, **{**SETTINGS, "strict": False, **overrides})
    return [record.model_dump() for record in read_records(out / "records.jsonl")]


def without_source(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "source"} for record in records]


def report(out: Path) -> dict:
    return json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))


# --- the shared sample: maildir, tar.gz and CSV give the same records -----------------------


@pytest.fixture
def sample_subset(shared_data: Path, tmp_path: Path) -> Path:
    """Three real mailboxes, 60 messages each, copied into tmp_path."""
    root = tmp_path / "sample"
    source = shared_data / "enron-sample" / "maildir"
    for mailbox in ("bass-e", "dasovich-j", "perlingiere-d"):
        folder = next(path for path in (source / mailbox).iterdir() if path.is_dir())
        target = root / "maildir" / mailbox / folder.name
        target.mkdir(parents=True)
        for file in sorted(folder.iterdir())[:60]:
            shutil.copy(file, target / file.name)
    return root


def test_maildir_tar_and_csv_give_identical_records(sample_subset: Path, tmp_path: Path) -> None:
    from_maildir = prepared(sample_subset, tmp_path / "a", min_records=20)
    archive = make_tar(sample_subset, tmp_path / "enron_mail_test.tar.gz", reverse=True)
    from_tar = prepared(archive, tmp_path / "b", min_records=20)
    export = make_csv(sample_subset, tmp_path / "emails.csv")
    from_csv = prepared(export, tmp_path / "c", min_records=20)
    assert len(from_maildir) > 100
    assert {record["user"] for record in from_maildir} == {"bass-e", "dasovich-j", "perlingiere-d"}
    assert without_source(from_tar) == without_source(from_maildir)
    assert without_source(from_csv) == without_source(from_maildir)
    assert from_tar[0]["source"].startswith(f"tar:{archive}:maildir/")
    assert from_csv[0]["source"].startswith(f"csv:{export}:row ")
    assert from_maildir[0]["source"].endswith(from_maildir[0]["id"].rsplit("-", 1)[1] + ".")
    assert report(tmp_path / "a")["dropped"] == report(tmp_path / "b")["dropped"]


def test_real_sample_ids_splits_and_report(sample_subset: Path, tmp_path: Path) -> None:
    records = prepared(sample_subset, tmp_path / "out", min_records=20, seed=3)
    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids))
    assert "enron-perlingiere-d-sent-1000" in ids
    for user in {record["user"] for record in records}:
        splits = [record["split"] for record in records if record["user"] == user]
        assert abs(splits.count("test") - round(0.2 * len(splits))) <= 1
    first = next(record for record in records if record["id"] == "enron-perlingiere-d-sent-1000")
    assert first["metadata"]["from"] == "debra.perlingiere@enron.com"
    assert set(first["metadata"]) == {"from", "to", "cc", "subject", "date"}
    stats = corpus_stats(tmp_path / "out")
    assert stats.users == 3
    assert sum(stats.records_per_split.values()) == len(records)
    assert stats.dropped == report(tmp_path / "out")["dropped"]
    assert stats.content_words["all"]["p10"] <= stats.content_words["all"]["p50"]


# --- readers -------------------------------------------------------------------------------


def test_split_message_path() -> None:
    assert split_message_path("maildir/bass-e/_sent_mail/12.") == ("bass-e", "_sent_mail", "12.")
    assert split_message_path("allen-p/inbox/projects/3.") == ("allen-p", "inbox/projects", "3.")
    assert split_message_path("maildir/bass-e/") is None


def test_maildir_order_is_numeric_and_other_folders_are_not_read(tmp_path: Path) -> None:
    root = make_maildir(
        tmp_path, {"a-b/sent/10.": email(10), "a-b/sent/2.": email(2), "a-b/inbox/1.": email(1)}
    )
    items = list(iter_maildir(root))
    assert [(item.folder, item.name) for item in items] == [
        ("inbox", "1."),
        ("sent", "2."),
        ("sent", "10."),
    ]
    assert items[0].raw_bytes is None and items[1].raw_bytes == email(2)


def test_truncated_tar_keeps_what_was_read_and_counts_it(tmp_path: Path) -> None:
    root = tmp_path / "src"
    files = {f"doe-j/sent/{n}.": email(n, body="x" * 20000 + f" {n}") for n in range(1, 30)}
    make_maildir(root, files)
    archive = make_tar(root, tmp_path / "full.tar.gz")
    data = archive.read_bytes()
    truncated = tmp_path / "cut.tar.gz"
    for cut in range(20, len(data) - 1, max(1, len(data) // 40)):
        truncated.write_bytes(data[:cut])
        items = list(iter_tar(truncated))
        assert isinstance(items[-1], SourceProblem), cut
        assert items[-1].reason == "truncated"
        assert all(isinstance(item, RawMessage) for item in items[:-1])
    truncated.write_bytes(data[: len(data) // 2])
    records = prepared(truncated, tmp_path / "out")
    assert 0 < len(records) < 29
    assert report(tmp_path / "out")["dropped"]["truncated"] == 1
    with pytest.raises(PrefbenchInputError, match="truncated"):
        prepare_corpus("enron", truncated, tmp_path / "strict", **SETTINGS, strict=True)
    assert not (tmp_path / "strict" / "records.jsonl").exists()


def test_garbage_tar_is_truncated(tmp_path: Path) -> None:
    archive = tmp_path / "enron.tar.gz"
    archive.write_bytes(b"this is not gzip at all")
    assert [item.reason for item in iter_tar(archive)] == ["truncated"]


def test_truncated_csv_keeps_the_complete_rows(tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "src")
    export = make_csv(root, tmp_path / "emails.csv")
    text = export.read_text(encoding="utf-8")
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: text.rindex("Message number 6")], encoding="utf-8")
    items = list(iter_csv_export(cut))
    assert isinstance(items[-1], SourceProblem) and items[-1].reason == "truncated"
    records = prepared(cut, tmp_path / "out")
    assert sorted(record["id"] for record in records) == [
        f"enron-doe-j-sent-{n}" for n in range(1, 6)
    ]
    counts = report(tmp_path / "out")["dropped"]
    assert counts["truncated"] == 1 and counts["not_sent_folder"] == 1


def test_csv_without_needed_columns_names_found_and_needed(tmp_path: Path) -> None:
    bad = tmp_path / "emails.csv"
    bad.write_text("path,body\nx/sent/1.,hello\n", encoding="utf-8")
    with pytest.raises(PrefbenchInputError) as caught:
        prepare_corpus("enron", bad, tmp_path / "out", **SETTINGS, strict=False)
    message = str(caught.value)
    assert "file, message" in message and "found: path, body" in message
    assert str(bad) in message
    assert not (tmp_path / "out").exists()


def test_csv_bad_rows_are_counted(tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "src")
    export = make_csv(root, tmp_path / "emails.csv", extra_rows=[["only-one-field"], ["", ""]])
    prepared(export, tmp_path / "out")
    assert report(tmp_path / "out")["dropped"]["bad_row"] == 2


def test_bad_files_are_skipped_counted_and_listed(tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "src")
    bad = {
        "doe-j/sent/50.": b"\x00\x01\x02\x89PNG binary",
        "doe-j/sent/51.": b"Subject: no sender\n\nhello\n",
        "doe-j/sent/52.": email(52, date="Someday soon"),
        "doe-j/sent/53.": email(53).replace(b"charset=us-ascii", b"charset=utf-8")
        + b"\xff\xfe\xc3(\n",
        "doe-j/sent/54.": email(54, body="   "),
        "doe-j/sent/55.": email(55, sender="assistant.smith@enron.com", body="Sent for Jane."),
        "doe-j/sent/56.": email(56, body="Message number 1: the deal is done.\n\nJane"),
    }
    make_maildir(root, bad)
    (root / "maildir" / "doe-j" / "sent" / "57.").mkdir()  # a folder where a file should be
    summary = prepare_corpus("enron", root, tmp_path / "out", **SETTINGS, strict=False)
    counts = summary.dropped
    assert counts == {
        "bad_date": 1,
        "duplicate": 1,
        "empty_body": 1,
        "missing_header": 1,
        "not_owner": 1,
        "not_sent_folder": 1,
        "undecodable": 1,
        "unreadable": 1,
    }
    assert summary.kept == 6 and summary.users == ["doe-j"]
    listed = {example.reason: example.source for example in summary.dropped_examples}
    assert listed["unreadable"].endswith("sent/50.")
    assert listed["duplicate"].endswith("sent/56.")
    assert report(tmp_path / "out")["dropped_total"] == 8


def test_strict_mode_raises_on_the_first_bad_record_and_writes_nothing(tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "src")
    make_maildir(root, {"doe-j/sent/7.": b"Subject: no sender\n\nhello\n"})
    out = tmp_path / "out"
    with pytest.raises(PrefbenchInputError) as caught:
        prepare_corpus("enron", root, out, **SETTINGS, strict=True)
    message = str(caught.value)
    assert "sent/7." in message and "missing header" in message
    assert "without --strict" in message
    assert not (out / "records.jsonl").exists()
    assert not (out / "prepare_report.json").exists()


def test_strict_mode_ignores_corpus_filters(tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "src")  # has an inbox message: not_sent_folder
    summary = prepare_corpus("enron", root, tmp_path / "out", **SETTINGS, strict=True)
    assert summary.dropped == {"not_sent_folder": 1}


def test_duplicate_ids_in_a_csv_are_counted(tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "src")
    again = ["doe-j/sent/3.", email(3, body="a different text").decode()]
    export = make_csv(root, tmp_path / "emails.csv", extra_rows=[again])
    records = prepared(export, tmp_path / "out")
    assert len(records) == 6
    assert report(tmp_path / "out")["dropped"]["duplicate_id"] == 1
    with pytest.raises(PrefbenchInputError, match="duplicate id"):
        prepare_corpus("enron", export, tmp_path / "strict", **SETTINGS, strict=True)


def test_failed_run_leaves_previous_outputs_untouched(tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "src")
    out = tmp_path / "out"
    prepare_corpus("enron", root, out, **SETTINGS, strict=False)
    before = (out / "records.jsonl").read_bytes()
    make_maildir(root, {"doe-j/sent/8.": b"\x00binary"})
    with pytest.raises(PrefbenchInputError):
        prepare_corpus("enron", root, out, **SETTINGS, strict=True)
    assert (out / "records.jsonl").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_missing_source_and_too_few_records(tmp_path: Path) -> None:
    with pytest.raises(PrefbenchInputError, match="not found"):
        prepare_corpus(
            "enron", tmp_path / "nope.tar.gz", tmp_path / "out", **SETTINGS, strict=False
        )
    root = small_corpus(tmp_path / "src")
    with pytest.raises(PrefbenchInputError, match="lower --min-records"):
        prepare_corpus(
            "enron", root, tmp_path / "out", **{**SETTINGS, "min_records": 50}, strict=False
        )
    assert not (tmp_path / "out").exists()


# --- the Enron-42k release ------------------------------------------------------------------


def test_release_jsonl(tmp_path: Path) -> None:
    rows = [{**row, "content": row["content"] + "\r\n"} for row in release_rows()]
    lines = [json.dumps(row) for row in rows]
    lines += ["not json", json.dumps({"from": "x@y.com"}), json.dumps(rows[0])]
    path = tmp_path / "enron42k.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = prepare_corpus("enron", path, tmp_path / "out", **SETTINGS, strict=False)
    assert summary.users == ["ann@enron.com", "ben@enron.com"]
    assert summary.dropped == {"bad_row": 1, "duplicate": 1, "missing_field": 1}
    records = read_records(tmp_path / "out" / "records.jsonl")
    assert records[0].content == "text 0 from ann" and records[0].previous_context == "earlier mail"
    assert records[0].id == "enron-release-1"


def release_rows() -> list[dict[str, str]]:
    return [
        {
            "from": f"{name}@enron.com",
            "to": "bob@x.com",
            "subject": f"s{n}",
            "date": f"2001-05-{n + 1:02d} 10:00:00",
            "previous_context": "" if n % 2 else "earlier mail",
            "content": f"text {n} from {name}",
        }
        for name in ("ann", "ben")
        for n in range(5)
    ]


def test_release_parquet_gives_the_same_records_as_jsonl(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    rows = release_rows()
    parquet = tmp_path / "enron42k.parquet"
    pandas.DataFrame(rows).to_parquet(parquet)
    jsonl = tmp_path / "enron42k.jsonl"
    jsonl.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    from_parquet = prepare_corpus("enron", parquet, tmp_path / "p", **SETTINGS, strict=False)
    from_jsonl = prepare_corpus("enron", jsonl, tmp_path / "j", **SETTINGS, strict=False)
    assert from_parquet.users == from_jsonl.users == ["ann@enron.com", "ben@enron.com"]
    parquet_records = read_records(tmp_path / "p" / "records.jsonl")
    jsonl_records = read_records(tmp_path / "j" / "records.jsonl")
    strip = lambda records: [r.model_copy(update={"source": ""}) for r in records]  # noqa: E731
    assert strip(parquet_records) == strip(jsonl_records)
