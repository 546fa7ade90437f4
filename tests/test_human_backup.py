"""Backups of the answers database (human_eval/backup.py) and the restores docs/human_eval.md
describes."""

import shutil
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.cli.human import human_app
from prefbench.human_eval.backup import backup_answers
from prefbench.human_eval.bundle import read_bundle
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.importers import import_files
from prefbench.human_eval.server import serve
from prefbench.human_eval.store import AnnotationStore
from tests.human_fixtures import judged_run


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = judged_run(tmp_path / "run", {"naive_finetune": 4})
    export_bundle(run, annotators=["alice", "bob"], seed=5)
    return run


def answer_everything(run: Path) -> list[tuple[str, str, int]]:
    rows = []
    with AnnotationStore(HumanFolder(run).database) as store:
        for number, item in enumerate(read_bundle(run).items):
            for name in ("alice", "bob"):
                store.append(name, item.item_id, 1 + number % 2)
                rows.append((name, item.item_id, 1 + number % 2))
    return rows


def rows_of(database: Path) -> list[tuple]:
    connection = sqlite3.connect(database)
    try:
        return connection.execute(
            "SELECT annotator, item_id, choice, answered_at FROM answers ORDER BY answer_id"
        ).fetchall()
    finally:
        connection.close()


def integrity(database: Path) -> str:
    connection = sqlite3.connect(database)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def test_a_backup_is_a_complete_timestamped_copy(run: Path):
    answer_everything(run)
    moment = datetime(2026, 5, 1, 14, 3, tzinfo=UTC)
    first = backup_answers(run, now=moment)
    second = backup_answers(run, now=moment)
    backups = HumanFolder(run).backups_dir
    assert first.path == backups / "annotations-20260501T140300Z-manual.sqlite"
    assert second.path == backups / "annotations-20260501T140300Z-manual-2.sqlite"
    assert first.answers == 8 and integrity(first.path) == "ok"
    assert rows_of(first.path) == rows_of(HumanFolder(run).database)
    assert {p.name for p in backups.iterdir()} == {first.path.name, second.path.name}


def test_a_backup_taken_while_answers_are_written_is_consistent(run: Path):
    database = HumanFolder(run).database
    item_id = read_bundle(run).items[0].item_id
    stop = threading.Event()
    with AnnotationStore(database) as store:
        store.append("alice", item_id, 1)

        def write() -> None:
            while not stop.is_set():
                store.append("alice", item_id, 2)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            backups = [backup_answers(run, reason=f"busy{n}") for n in range(5)]
        finally:
            stop.set()
            writer.join()
        final = store.count()
    for backup in backups:
        assert integrity(backup.path) == "ok"
        assert 1 <= backup.answers <= final == len(rows_of(database))
        assert rows_of(backup.path) == rows_of(database)[: backup.answers]


def test_cli_backup_and_nothing_to_back_up(run: Path):
    result = CliRunner().invoke(human_app, ["backup", "--run", str(run)])
    assert isinstance(result.exception, PrefbenchInputError)
    assert "nothing to back up" in str(result.exception)
    answer_everything(run)
    result = CliRunner().invoke(human_app, ["backup", "--run", str(run)])
    assert result.exit_code == 0, result.output
    assert "8 answers backed up to" in result.output and "human/backups/annotations-" in (
        result.output.replace("\n", "")
    )


def test_serve_takes_a_snapshot_first(run: Path, monkeypatch):
    monkeypatch.setattr("uvicorn.Server.run", lambda server: None)
    serve(run, announce=lambda _: None)  # a fresh study: nothing to snapshot
    assert not HumanFolder(run).backups_dir.exists()
    answer_everything(run)
    lines: list[str] = []
    serve(run, announce=lines.append)
    [snapshot] = HumanFolder(run).backups_dir.glob("annotations-*-serve.sqlite")
    assert lines[0] == f"Snapshot of 8 answers: {snapshot}"
    assert rows_of(snapshot) == rows_of(HumanFolder(run).database)


def test_restore_by_replacing_the_database(run: Path):
    """docs/human_eval.md, "Restore", way 1: the server stopped, the backup copied back."""
    expected = answer_everything(run)
    backup = backup_answers(run)
    database = HumanFolder(run).database
    with AnnotationStore(database) as store:
        store.append("alice", read_bundle(run).items[0].item_id, 2)  # a later, unwanted change
    kept = rows_of(backup.path)
    aside = database.with_name("annotations.broken")
    aside.mkdir()
    for suffix in ("", "-wal", "-shm"):
        part = database.with_name(database.name + suffix)
        if part.exists():
            part.rename(aside / part.name)
    shutil.copy2(backup.path, database)
    assert rows_of(database) == kept and [r[:3] for r in kept] == expected
    with AnnotationStore(database) as store:  # the restored database works as before
        store.append("bob", read_bundle(run).items[0].item_id, 1)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            sqlite3.connect(database).execute("DELETE FROM answers")


def test_restore_by_importing_the_backup_into_a_lost_database(run: Path):
    """docs/human_eval.md, "Restore", way 2: the backup's answers imported (keeps new ones)."""
    expected = answer_everything(run)
    backup = backup_answers(run)
    database = HumanFolder(run).database
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    [result] = import_files(run, [backup.path])
    assert result.appended == 8
    assert [r[:3] for r in rows_of(database)] == expected
    assert [r[3] for r in rows_of(database)] == [r[3] for r in rows_of(backup.path)]
