"""A run folder keeps its split: another split is refused before anything is written.

With `--allow-new-split` the records and the report change together (no new records beside
an old report, even when interrupted); `data/split.json` and every log's metadata carry the
split's fingerprint, and report.json its provenance. On the offline scripted model.
"""

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from prefbench.core.run_folder import RunFolder
from prefbench.harness.pipeline import PipelineContext, open_run, run_benchmark
from prefbench.harness.profile import parse_profile
from prefbench.harness.report.file import read_report
from prefbench.harness.split import read_split, split_info
from prefbench.harness.stage_runner import SPLIT_FIELD
from prefbench.harness.stages.records import limited_records
from prefbench.tasks.records import read_records, write_records
from tests.helpers import run_cli, scripted_profile, scripted_run

LOCK_FILES = (".lock", ".lock.json")


def parsed(profile: dict):
    return parse_profile(profile, Path("<test profile>"))


def opened(run_dir: Path, profile: dict, allow_new_split: bool = False) -> PipelineContext:
    """`scripted_run` with the split guard's flag."""
    console = Console(file=io.StringIO(), width=200)
    return open_run(
        run_dir, parsed(profile), console, display="none", allow_new_split=allow_new_split
    )


def folder_state(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under `root` (but the lock): size, modification time, content hash."""
    return {
        str(path.relative_to(root)): (
            path.stat().st_size,
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in LOCK_FILES
    }


def log_splits(run_dir: Path) -> set[str | None]:
    """The split fingerprint in the metadata of every log of the run folder."""
    from prefbench.harness.log_reads import log_header

    return {
        (log_header(path).eval.metadata or {}).get(SPLIT_FIELD)
        for path in (run_dir / "logs").rglob("*.eval")
    }


@pytest.fixture(scope="module")
def scripted_finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished scripted run folder (once per module; tests change copies of it)."""
    run_dir = tmp_path_factory.mktemp("split") / "run"
    run_benchmark(scripted_run(run_dir, scripted_profile()))
    return run_dir


@pytest.fixture
def finished(scripted_finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished scripted run folder, for one test to change."""
    run_dir = tmp_path / "run"
    shutil.copytree(scripted_finished, run_dir, symlinks=True)
    return run_dir


def test_the_split_is_recorded_in_the_folder_every_log_and_the_report(finished):
    run_dir = finished
    split = read_split(RunFolder(run_dir))
    assert split is not None and (split.records, len(split.users)) == (10, 2)
    records = read_records(run_dir / "data" / "records.jsonl")
    assert all(record.intent for record in records)
    # intents (added by a stage) are not part of the split
    assert split_info(parsed(scripted_profile()), records) == split
    assert log_splits(run_dir) == {split.fingerprint}
    provenance = json.loads((run_dir / "report.json").read_text())["provenance"]
    assert provenance["split"]["fingerprint"] == split.fingerprint
    assert provenance["prefbench"] and provenance["libraries"]["inspect-ai"]
    assert provenance["judge"]["kind"] == "llm"
    assert provenance["models"]["large"]["model"] == "prefbench-mock/large"


def test_another_split_is_refused_before_anything_is_written(
    finished, write_profile, monkeypatch, capsys
):
    run_dir = finished
    before = folder_state(run_dir)
    changed = scripted_profile()
    changed["dataset"] = {**changed["dataset"], "test_fraction": 0.4}
    path = write_profile(changed, "changed.yaml")
    code, output = run_cli(
        monkeypatch, capsys, "run", "--profile", str(path), "--out", str(run_dir)
    )
    flat = " ".join(output.split())
    assert code == 2, output
    assert "dataset.test_fraction: 0.2 → 0.4" in flat
    assert "--out runs/NEW" in flat and "--allow-new-split" in flat
    assert folder_state(run_dir) == before  # not even profile.yaml


def test_a_folder_from_before_split_json_is_guarded_by_its_profile(
    finished, write_profile, monkeypatch, capsys
):
    run_dir = finished
    (run_dir / "data" / "split.json").unlink()
    before = folder_state(run_dir)
    path = write_profile(scripted_profile(seed=5), "seeded.yaml")
    code, output = run_cli(
        monkeypatch, capsys, "run", "--profile", str(path), "--out", str(run_dir)
    )
    assert code == 2 and "seed: 0 → 5" in " ".join(output.split()), output
    assert folder_state(run_dir) == before


def test_changed_records_under_the_same_profile_are_refused(tmp_path: Path, write_profile):
    records_file = tmp_path / "data" / "records.jsonl"
    write_records(records_file, limited_records(parsed(scripted_profile()))[0])
    profile = scripted_profile(dataset={"kind": "records", "path": str(records_file)})
    run_dir = tmp_path / "run"
    run_benchmark(scripted_run(run_dir, profile))
    before = folder_state(run_dir)

    original = read_records(records_file)
    write_records(records_file, original[:-1])  # the file was prepared again, one record less
    with pytest.raises(Exception) as caught:
        run_benchmark(scripted_run(run_dir, profile))
    message = " ".join(str(caught.value).split())
    assert type(caught.value).__name__ == "SplitChanged"
    assert "record ids: 0 added, 1 removed" in message, message
    assert folder_state(run_dir) == before

    # the same records prepared on another machine: another file, from a corpus elsewhere
    moved = tmp_path / "elsewhere" / "records.jsonl"
    elsewhere = [
        record.model_copy(update={"source": f"tar:/mnt/other/corpus.tgz:{record.id}"})
        for record in original
    ]
    write_records(moved, elsewhere)
    moved_profile = scripted_profile(dataset={"kind": "records", "path": str(moved)})
    context = scripted_run(run_dir, moved_profile)
    run_benchmark(context)
    assert context.recomputed_nothing


def test_a_new_split_replaces_records_and_report_together(
    finished, write_profile, monkeypatch, capsys
):
    run_dir = finished
    old_split = read_split(RunFolder(run_dir))
    changed = scripted_profile()
    changed["dataset"] = {**changed["dataset"], "test_fraction": 0.4}
    path = write_profile(changed, "changed.yaml")
    args = ("run", "--profile", str(path), "--out", str(run_dir), "--allow-new-split")
    code, output = run_cli(monkeypatch, capsys, *args)
    assert code == 0, output
    new_split = read_split(RunFolder(run_dir))
    assert new_split is not None and old_split is not None
    assert new_split.fingerprint != old_split.fingerprint and new_split.test > old_split.test
    records = read_records(run_dir / "data" / "records.jsonl")
    assert sum(record.split == "test" for record in records) == new_split.test
    report = read_report(RunFolder(run_dir))
    assert report.provenance is not None and report.provenance.split is not None
    assert report.provenance.split.fingerprint == new_split.fingerprint
    assert new_split.fingerprint in log_splits(run_dir)  # the old split's logs stay
    code, output = run_cli(
        monkeypatch, capsys, "run", "--profile", str(path), "--out", str(run_dir)
    )
    assert code == 0 and "Nothing changed" in output, output


@pytest.mark.parametrize("stop_in", ["records", "build"])
def test_an_interrupted_new_split_leaves_no_new_records_beside_the_old_report(
    finished, monkeypatch, stop_in
):
    run_dir = finished
    old_records = (run_dir / "data" / "records.jsonl").read_text()
    changed = scripted_profile()
    changed["dataset"] = {**changed["dataset"], "test_fraction": 0.4}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    target = {
        "records": "prefbench.harness.stages.records.write_records",
        "build": "prefbench.harness.stages.build.BuildStage.run",
    }[stop_in]
    monkeypatch.setattr(target, interrupted)
    context = opened(run_dir, changed, allow_new_split=True)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(context)
    records_changed = (run_dir / "data" / "records.jsonl").read_text() != old_records
    assert records_changed == (stop_in == "build")
    assert not (run_dir / "report.json").exists()
    assert not (run_dir / "report.md").exists() and not (run_dir / "figures").exists()


def test_a_run_of_several_datasets_checks_each_before_writing(tmp_path: Path):
    from prefbench.harness.pipeline import run_datasets
    from prefbench.harness.profile import dataset_profiles
    from prefbench.harness.split import write_split
    from prefbench.harness.split_guard import SplitChanged

    profile = scripted_profile()
    del profile["dataset"]
    profile["datasets"] = {
        "mails": {"kind": "demo", "personas": 2, "records_per_persona": 5},
        "more": {"kind": "demo", "personas": 3, "records_per_persona": 5},
    }
    run_dir = tmp_path / "run"
    for name, each in dataset_profiles(parsed(profile)).items():  # as a finished run left them
        write_split(RunFolder(run_dir / name), split_info(each, limited_records(each)[0]))
    profile["datasets"]["more"]["test_fraction"] = 0.5
    console = Console(file=io.StringIO(), width=200)
    with pytest.raises(SplitChanged, match=r"dataset.test_fraction: 0.2 → 0.5"):
        run_datasets(run_dir, parsed(profile), console, display="none")
    assert not (run_dir / "profile.yaml").exists()
    assert sorted(path.name for path in (run_dir / "more").rglob("*")) == ["data", "split.json"]
