"""Fault injection on the annotation server (loopback only, bounded): a SIGKILL in a burst of
answers, and the server and `prefbench human import` writing at once."""

import csv
import itertools
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from prefbench.human_eval.bundle import read_bundle
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.store import AnnotationStore
from tests.human_fixtures import judged_run
from tests.human_server_process import REPO, Annotator, running_server

NAMES = ["ann", "bea", "cal", "dot"]


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = judged_run(tmp_path / "run", {"naive_finetune": 10, "small_zero_shot": 10})
    export_bundle(run, annotators=NAMES, item_order="shuffled", seed=4)
    return run


def stored_rows(run: Path) -> list[tuple[str, str, int, str]]:
    connection = sqlite3.connect(HumanFolder(run).database, timeout=30)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return connection.execute(
            "SELECT annotator, item_id, choice, source FROM answers ORDER BY answer_id"
        ).fetchall()
    finally:
        connection.close()


def keep_answering(annotator: Annotator, stop: threading.Event) -> None:
    """Answer item after item (changing answers on later rounds) until stopped or refused."""
    total = len(annotator.order)
    try:
        with closing(annotator.client()) as client:
            for turn in itertools.count():
                if stop.is_set():
                    return
                annotator.answer(client, turn % total + 1, 1 + (turn // total) % 2)
    except httpx.TransportError:
        return  # the server is gone


def test_sigkill_in_a_burst_loses_no_acknowledged_answer(run: Path):
    bundle = read_bundle(run)
    stop = threading.Event()
    with running_server(run) as server:
        annotators = [Annotator.of(bundle, name, server.base) for name in NAMES]
        threads = [threading.Thread(target=keep_answering, args=(a, stop)) for a in annotators]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while sum(len(a.acknowledged) for a in annotators) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()  # in the middle of the burst
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    acknowledged = Counter(row for a in annotators for row in a.acknowledged)
    assert sum(acknowledged.values()) >= 60
    assert not [f for a in annotators for f in a.failures]

    with running_server(run) as restarted:  # a restart recovers the WAL
        rows = Counter(row[:3] for row in stored_rows(run))
        assert not acknowledged - rows, "answers that got their redirect are missing"
        # at most one answer per client was in flight when the server died
        assert sum(rows.values()) - sum(acknowledged.values()) <= len(NAMES)
        ann = Annotator.of(bundle, "ann", restarted.base)
        with closing(ann.client()) as client:
            page = client.get("/missing").text
        with AnnotationStore(HumanFolder(run).database) as store:
            answered = len(store.latest("ann"))
        assert f"{answered} of {len(bundle.items)} answered" in page


def write_answers_csv(path: Path, rows: list[tuple[str, str, int, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["annotator", "item_id", "choice", "answered_at"])
        writer.writerows(rows)
    return path


def test_server_and_import_write_at_once_without_lock_errors_or_lost_rows(
    run: Path, tmp_path: Path
):
    bundle = read_bundle(run)
    items = [item.item_id for item in bundle.items]
    files = [
        write_answers_csv(
            tmp_path / f"sheet-{number}.csv",
            [
                (NAMES[3], item, 1 + (number + k) % 2, f"2025-0{number + 1}-01T10:{k:02d}:00Z")
                for k, item in enumerate(items)
            ],
        )
        for number in range(3)
    ]
    imported_rows = len(files) * len(items)
    stop = threading.Event()
    with running_server(run) as server:
        annotators = [Annotator.of(bundle, name, server.base) for name in NAMES[:3]]
        threads = [threading.Thread(target=keep_answering, args=(a, stop)) for a in annotators]
        for thread in threads:
            thread.start()
        try:
            importer = subprocess.run(
                [sys.executable, "-c", "from prefbench.harness.cli.app import main; main()"]
                + ["human", "import", "--run", str(run), *map(str, files)],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=300,
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
    output = importer.stdout + importer.stderr
    assert importer.returncode == 0, output
    assert "locked" not in output.lower() and "Traceback" not in output
    assert not [f for a in annotators for f in a.failures]
    acknowledged = Counter(row for a in annotators for row in a.acknowledged)
    assert sum(acknowledged.values()) > 0
    rows = stored_rows(run)
    app_rows = Counter(row[:3] for row in rows if row[3] == "app")
    assert app_rows == acknowledged
    assert sum(1 for row in rows if row[3].startswith("import:")) == imported_rows
