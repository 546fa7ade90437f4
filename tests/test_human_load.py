"""A small load test of the annotation server: 20 simulated annotators answer 50 items each
at once over loopback; latency and throughput are printed, and no answer is lost or doubled."""

import statistics
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from prefbench.human_eval.bundle import read_bundle
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.store import AnnotationStore
from tests.human_fixtures import judged_run
from tests.human_server_process import Annotator, running_server

ANNOTATORS = 20
ITEMS = 50


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = judged_run(
        tmp_path / "run", {"naive_finetune": ITEMS // 2, "small_zero_shot": ITEMS // 2}
    )
    names = [f"annotator-{number:02d}" for number in range(ANNOTATORS)]
    export_bundle(run, annotators=names, item_order="shuffled", seed=9)
    return run


def answer_all(annotator: Annotator, start: threading.Barrier) -> None:
    with closing(annotator.client()) as client:
        start.wait()
        for position in range(1, len(annotator.order) + 1):
            annotator.answer(client, position, 1 + position % 2)


def test_twenty_annotators_answer_fifty_items_each(run: Path, capsys):
    bundle = read_bundle(run)
    assert len(bundle.items) == ITEMS
    start = threading.Barrier(ANNOTATORS + 1)
    with running_server(run) as server:
        annotators = [Annotator.of(bundle, name, server.base) for name in bundle.annotator_names]
        threads = [threading.Thread(target=answer_all, args=(a, start)) for a in annotators]
        for thread in threads:
            thread.start()
        start.wait(timeout=120)
        began = time.perf_counter()
        for thread in threads:
            thread.join(timeout=120)
        elapsed = time.perf_counter() - began

    latencies = sorted(latency for a in annotators for latency in a.latencies)
    requests = len(latencies)
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(0.95 * (requests - 1))] * 1000
    with capsys.disabled():
        print(
            f"\nannotation server load: {ANNOTATORS} annotators x {ITEMS} items, "
            f"{requests} answers in {elapsed:.1f} s: {requests / elapsed:.0f} requests/s, "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"
        )

    assert not [failure for a in annotators for failure in a.failures]
    assert requests == ANNOTATORS * ITEMS
    with AnnotationStore(HumanFolder(run).database) as store:
        rows = store.history()
    assert len(rows) == ANNOTATORS * ITEMS  # nothing lost, nothing doubled
    assert {(a.annotator, a.item_id, a.choice) for a in rows} == {
        row for a in annotators for row in a.acknowledged
    }
    for annotator in annotators:
        assert sorted(item for _, item, _ in annotator.acknowledged) == sorted(annotator.order)
