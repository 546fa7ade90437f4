"""The append-only answers database (human_eval/store.py)."""

import sqlite3
import threading
from pathlib import Path

import pytest

from prefbench.human_eval.store import AnnotationStore, Answer


@pytest.fixture
def store(tmp_path: Path):
    with AnnotationStore(tmp_path / "human" / "annotations.sqlite") as opened:
        yield opened


def test_latest_answer_wins_and_history_keeps_every_change(store: AnnotationStore):
    first = store.append("alice", "item-0001", 1)
    second = store.append("alice", "item-0001", 2)
    store.append("bob", "item-0001", 1)
    store.append("alice", "item-0002", 2)
    assert second > first
    latest = store.latest()
    assert {key: answer.choice for key, answer in latest.items()} == {
        ("alice", "item-0001"): 2,
        ("bob", "item-0001"): 1,
        ("alice", "item-0002"): 2,
    }
    assert latest[("alice", "item-0001")].answer_id == second
    history = store.history(annotator="alice", item_id="item-0001")
    assert [(a.answer_id, a.choice, a.source) for a in history] == [
        (first, 1, "app"),
        (second, 2, "app"),
    ]
    assert [a.annotator for a in store.history(item_id="item-0001")] == ["alice", "alice", "bob"]
    assert len(store.history()) == store.count() == 4
    assert all(isinstance(a, Answer) and a.answered_at.endswith("+00:00") for a in history)


def test_an_older_imported_answer_does_not_replace_a_newer_one(store: AnnotationStore):
    store.append("alice", "item-0001", 2, answered_at="2026-05-02T10:00:00.000+00:00")
    older = {"annotator": "alice", "item_id": "item-0001", "choice": 1}
    store.import_answers(
        [{**older, "answered_at": "2026-05-01T10:00:00.000+00:00"}], "sha-a", "import:a.csv"
    )
    assert store.latest()[("alice", "item-0001")].choice == 2
    newer = {**older, "answered_at": "2026-05-03T10:00:00.000+00:00"}
    store.import_answers([newer], "sha-b", "import:b.csv")
    assert store.latest()[("alice", "item-0001")].choice == 1
    assert [a.choice for a in store.history(annotator="alice")] == [2, 1, 1]


def test_update_and_delete_are_refused_by_the_database(store: AnnotationStore):
    store.append("alice", "item-0001", 1)
    raw = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("UPDATE answers SET choice = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("DELETE FROM answers")
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute(
            "INSERT INTO answers (annotator, item_id, choice, answered_at, source) "
            "VALUES ('x', 'item-0001', 3, 'now', 'app')"
        )
    raw.close()
    assert [a.choice for a in store.history()] == [1]


@pytest.mark.parametrize("choice", [0, 3, "1", True, None])
def test_a_choice_other_than_1_or_2_is_rejected(store: AnnotationStore, choice):
    with pytest.raises(ValueError, match="choice must be 1 or 2"):
        store.append("alice", "item-0001", choice)
    assert store.count() == 0


def test_answers_survive_reopening_and_the_database_uses_wal(tmp_path: Path):
    path = tmp_path / "annotations.sqlite"
    with AnnotationStore(path) as store:
        store.append("alice", "item-0001", 2, answered_at="2026-01-02T03:04:05+00:00")
    with AnnotationStore(path) as reopened:
        (answer,) = reopened.history()
        assert (answer.choice, answer.answered_at) == (2, "2026-01-02T03:04:05+00:00")
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_import_is_one_transaction_and_idempotent_by_sha256(store: AnnotationStore):
    answers = [
        {"annotator": "carol", "item_id": "item-0001", "choice": 1},
        {"annotator": "carol", "item_id": "item-0002", "choice": 2, "answered_at": "2026-01-01"},
    ]
    assert store.import_answers(answers, sha256="f" * 64, source="import:ls.json") == 2
    assert store.import_answers(answers, sha256="f" * 64, source="import:ls.json") == 0
    assert store.count() == 2
    assert {a.source for a in store.history()} == {"import:ls.json"}
    assert store.history(item_id="item-0002")[0].answered_at == "2026-01-01"
    # an Answer read back is a valid input too (its id is ignored)
    assert store.import_answers(store.history(), sha256="e" * 64, source="import:b.json") == 2
    assert store.count() == 4


def test_a_bad_row_in_an_import_appends_nothing_and_leaves_the_file_importable(
    store: AnnotationStore,
):
    bad = [
        {"annotator": "carol", "item_id": "item-0001", "choice": 1},
        {"annotator": "carol", "item_id": "item-0002", "choice": 7},
    ]
    with pytest.raises(ValueError):
        store.import_answers(bad, sha256="a" * 64, source="import:bad.json")
    assert store.count() == 0
    good = bad[:1]
    assert store.import_answers(good, sha256="a" * 64, source="import:bad.json") == 1


def test_threads_can_share_one_store(store: AnnotationStore):
    def annotate(name: str) -> None:
        for number in range(50):
            store.append(name, f"item-{number:04d}", 1 + number % 2)

    threads = [threading.Thread(target=annotate, args=(f"a{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [a.answer_id for a in store.history()]
    assert len(ids) == len(set(ids)) == 200
    assert len(store.latest()) == 200
