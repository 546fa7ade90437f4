"""Inputs a mailbox source may hold that must be refused: links, FIFOs, huge messages, a BOM."""

import csv
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from prefbench.core.errors import PrefbenchInputError
from prefbench.tasks.corpora import enron_reader
from prefbench.tasks.corpora.enron_reader import iter_csv_export, iter_maildir, iter_tar
from prefbench.tasks.corpora.prepare import prepare_corpus
from tests.test_enron_readers import (
    SETTINGS,
    email,
    make_csv,
    make_maildir,
    make_tar,
    prepared,
    small_corpus,
)

SECRET = "TOP SECRET text from outside the corpus"


def problems(items) -> list[tuple[str, str]]:
    return [
        (Path(item.source).name, item.reason)
        for item in items
        if isinstance(item, enron_reader.SourceProblem)
    ]


def test_symlinked_files_and_folders_are_not_followed_and_are_counted(tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "src")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "1.").write_bytes(email(1, body=SECRET))
    sent = root / "maildir" / "doe-j" / "sent"
    (sent / "90.").symlink_to(outside / "1.")
    (sent / "archive").symlink_to(outside, target_is_directory=True)
    (sent / "91.").symlink_to(tmp_path / "missing")  # a dangling link
    assert sorted(problems(iter_maildir(root))) == [
        ("90.", "symlink"),
        ("91.", "symlink"),
        ("archive", "symlink"),
    ]
    summary = prepare_corpus("enron", root, tmp_path / "out", **SETTINGS, strict=False)
    assert summary.dropped["symlink"] == 3
    assert SECRET not in (tmp_path / "out" / "records.jsonl").read_text(encoding="utf-8")
    with pytest.raises(PrefbenchInputError, match="symlink"):
        prepare_corpus("enron", root, tmp_path / "strict", **SETTINGS, strict=True)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_skipped_not_waited_on(tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "src")
    os.mkfifo(root / "maildir" / "doe-j" / "sent" / "92.")
    found: list = []
    reader = threading.Thread(target=lambda: found.extend(iter_maildir(root)), daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "reading the maildir blocked on the FIFO"
    assert problems(found) == [("92.", "not_regular_file")]
    assert "FIFO" in next(item.detail for item in found if Path(item.source).name == "92.")


def test_oversized_messages_are_skipped_in_every_source_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(enron_reader, "MAX_MESSAGE_BYTES", 4000)
    root = small_corpus(tmp_path / "src")
    make_maildir(root, {"doe-j/sent/93.": email(93, body="word " * 2000)})
    assert problems(iter_maildir(root)) == [("93.", "oversized")]
    archive = make_tar(root, tmp_path / "enron.tar.gz")
    assert [reason for _, reason in problems(iter_tar(archive))] == ["oversized"]
    export = make_csv(root, tmp_path / "emails.csv")
    assert [reason for _, reason in problems(iter_csv_export(export))] == ["oversized"]
    summary = prepare_corpus("enron", root, tmp_path / "out", **SETTINGS, strict=False)
    assert summary.dropped["oversized"] == 1 and summary.kept == 6
    detail = next(e.detail for e in summary.dropped_examples if e.reason == "oversized")
    assert "4000 byte limit" in detail and "MAX_MESSAGE_BYTES" in detail


def test_links_inside_a_tar_are_not_followed(tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "src")
    archive = make_tar(root, tmp_path / "enron.tar.gz")
    linked = tmp_path / "linked.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(linked, "w:gz") as target:
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
        link = tarfile.TarInfo("maildir/doe-j/sent/94.")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        target.addfile(link)
        hard = tarfile.TarInfo("maildir/doe-j/sent/95.")
        hard.type, hard.linkname = tarfile.LNKTYPE, "maildir/doe-j/sent/1."
        target.addfile(hard)
        fifo = tarfile.TarInfo("maildir/doe-j/sent/96.")
        fifo.type = tarfile.FIFOTYPE
        target.addfile(fifo)
    assert problems(iter_tar(linked)) == [
        ("94.", "symlink"),
        ("95.", "symlink"),
        ("96.", "not_regular_file"),
    ]
    records = prepared(linked, tmp_path / "out")
    assert len(records) == 6


def test_csv_export_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "src")
    export = make_csv(root, tmp_path / "emails.csv")
    with_bom = tmp_path / "bom.csv"
    with_bom.write_bytes(b"\xef\xbb\xbf" + export.read_bytes())
    plain = prepared(export, tmp_path / "plain")
    from_bom = prepared(with_bom, tmp_path / "bom")
    assert len(from_bom) == 6
    assert [r["content"] for r in from_bom] == [r["content"] for r in plain]


def test_csv_header_mismatch_names_the_file_the_header_found_and_the_one_expected(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "emails.csv"
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["file\u200b", "message"], ["doe-j/sent/1.", "x"]])
    bad.write_text(buffer.getvalue(), encoding="utf-8")
    with pytest.raises(PrefbenchInputError) as caught:
        prepare_corpus("enron", bad, tmp_path / "out", **SETTINGS, strict=False)
    message = str(caught.value)
    assert str(bad) in message
    assert "found: 'file\\u200b', message" in message
    assert "needed: file, message" in message
