"""Reading a run folder someone else made: `report` and the human server never unpickle its cache.

inspect's model-call cache (``runs/NAME/cache/``) holds pickles, and unpickling runs code.
`prefbench run` and the stage commands read it (README, "Trust"), but a results reader must
not: every cache file of a finished run is swapped here for a pickle that creates a file
when loaded, and rendering the report, exporting the bundle and answering in the annotation
server must leave that file uncreated.
"""

import pickle
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from prefbench.harness.pipeline import run_benchmark
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.server import create_app
from tests.helpers import run_cli, scripted_profile, scripted_run


class _CreatesFile:
    """Unpickling this object creates `marker` (as a real attack would run any code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


@pytest.fixture
def booby_trapped_run(tmp_path: Path) -> tuple[Path, Path]:
    """A finished scripted run whose every cache file is a malicious pickle; and its marker."""
    run_dir = tmp_path / "run"
    run_benchmark(scripted_run(run_dir, scripted_profile()))
    marker = tmp_path / "unpickled-the-cache"
    payload = pickle.dumps(_CreatesFile(marker))
    cache_files = [path for path in (run_dir / "cache").rglob("*") if path.is_file()]
    assert cache_files, "the run wrote no cache to booby-trap"
    for path in cache_files:
        path.write_bytes(payload)
    pickle.loads(payload)  # the trap works: loading it creates the marker...
    assert marker.exists()
    marker.unlink()  # ...which is removed before the readers run
    return run_dir, marker


def test_report_and_the_human_server_never_unpickle_the_cache(
    booby_trapped_run: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    run_dir, marker = booby_trapped_run
    for output_format in ("md", "html", "json"):
        code, output = run_cli(
            monkeypatch, capsys, "report", "--run", str(run_dir), "--format", output_format
        )
        assert code == 0, output
    assert not marker.exists(), "`prefbench report` unpickled the run's cache"

    bundle = export_bundle(run_dir, default_count=2, annotators=["alice"], announce=lambda _: None)
    client = TestClient(create_app(run_dir))
    token = bundle.manifest.annotators[0].token
    assert client.get(f"/?token={token}").status_code == 200
    assert client.get("/start", follow_redirects=True).status_code == 200
    assert client.get("/item/1").status_code == 200
    answered = client.post("/item/1", data={"item_id": bundle.items[0].item_id, "choice": "2"})
    assert answered.status_code == 200 and answered.url.path == "/item/2"
    assert not marker.exists(), "the human export or server unpickled the run's cache"
