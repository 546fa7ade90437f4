"""A kill at any moment leaves the old state or the new one, never neither; a re-run completes.

Each test kills a forked child (SIGKILL) right before its 1st, 2nd, 3rd, … file-system call
(tests/faults.py), each time from a fresh copy of the starting state, until the action
finishes before the kill; after each kill it checks what is on disk, then re-runs the
action and checks the new state. Covered: the adapter + manifest install, report.json,
attach's judge-log rewrite, and the atomic file helpers themselves (fsync, umask).
"""

import errno
import json
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log

from prefbench.core.atomic import atomic_directory, atomic_file, atomic_version, atomic_write_text
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.harness.profile import parse_profile
from prefbench.harness.report.build import build_report, write_report
from prefbench.harness.report.file import read_report
from prefbench.human_eval.attach import attach_human_scores
from prefbench.human_eval.bundle import read_bundle
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.importers import import_files
from prefbench.human_eval.store import AnnotationStore
from prefbench.solvers.training.context import BuildContext
from prefbench.solvers.training.lora import LoraSettings, TrainingExample, TrainingResult
from prefbench.solvers.training.manifest import (
    ADAPTER_FOLDER,
    VERSIONS_FOLDER,
    AdapterManifest,
    read_manifest,
    user_artifacts,
    write_manifest,
)
from prefbench.solvers.training.training import ensure_user_adapter, training_input_hash
from tests.faults import kill_at_every_step
from tests.helpers import scripted_profile
from tests.human_fixtures import judged_run

SYSTEM, USER = "preference_agent", "ava"
SETTINGS = LoraSettings()


def examples(marker: str) -> list[TrainingExample]:
    return [TrainingExample(prompt=[{"role": "user", "content": "write"}], target=marker)]


HASHES = {
    marker: training_input_hash("fake-base", SETTINGS.to_dict(), examples(marker))
    for marker in ("old", "new")
}


def fake_train(
    base_dir, train_examples, settings, adapter_dir, on_step, checkpoints=None
) -> TrainingResult:
    """Save a small adapter that names the examples it was 'trained' on."""
    with atomic_directory(adapter_dir) as staging:
        (staging / "adapter_config.json").write_text(
            json.dumps({"marker": train_examples[0].target})
        )
        (staging / "adapter_model.safetensors").write_bytes(os.urandom(8192))
    return TrainingResult(losses=[1.0], steps=1, seconds=0.0, trainable_parameters=1)


@contextmanager
def no_progress(system: str, user: str) -> Iterator:
    yield lambda step, total, loss: None


def build_context(run_dir: Path) -> BuildContext:
    return BuildContext(
        run_dir=run_dir,
        train_records=[],
        base_model_dir=run_dir,
        base_model_id="fake-base",
        lora=SETTINGS,
        email_max_tokens=8,
        rules_max_tokens=8,
        run_eval=lambda stage, task, key: pytest.fail("no eval in these tests"),
        training_progress=no_progress,
        announce=lambda message: None,
        train_adapter=fake_train,
    )


def build(run_dir: Path, marker: str) -> bool:
    return ensure_user_adapter(build_context(run_dir), SYSTEM, USER, examples(marker))[1]


def installed_pair(run_dir: Path) -> str | None:
    """'old' or 'new' when a consistent pair is installed, None when none is; else fail."""
    manifest = read_manifest(run_dir, SYSTEM, USER)
    if manifest is None:
        return None
    adapter = user_artifacts(run_dir, SYSTEM, USER) / ADAPTER_FOLDER / "adapter_config.json"
    marker = json.loads(adapter.read_text())["marker"]
    assert manifest.input_hash == HASHES[marker], "the manifest is not the adapter's"
    return marker


def assert_tidy(run_dir: Path, links: bool = True) -> None:
    """One version left, the one the link names (or the plain folder); nothing else."""
    system_dir = run_dir / "artifacts" / SYSTEM
    link = system_dir / USER
    assert sorted(p.name for p in system_dir.iterdir()) == sorted([USER, VERSIONS_FOLDER])
    kept = list((system_dir / VERSIONS_FOLDER / USER).iterdir())
    if links:
        assert link.is_symlink() and [version.resolve() for version in kept] == [link.resolve()]
    else:
        assert link.is_dir() and not link.is_symlink() and kept == []


@pytest.fixture(params=["links", "no links"])
def links(request, monkeypatch) -> bool:
    """Run the test as is, then on a file system without symbolic links (os.symlink fails)."""
    if request.param == "no links":

        def no_symlink(*args, **kwargs) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "symlink", no_symlink)
    return request.param == "links"


def legacy_pair(run_dir: Path) -> None:
    """The plain-folder layout of run folders made before versions."""
    folder = run_dir / "artifacts" / SYSTEM / USER
    fake_train(None, examples("old"), SETTINGS, folder / ADAPTER_FOLDER, None)
    manifest = AdapterManifest(
        system=SYSTEM,
        user=USER,
        base_model="fake-base",
        input_hash=HASHES["old"],
        settings=SETTINGS.to_dict(),
        examples=1,
        losses=[1.0],
        steps=1,
        seconds=0.0,
    )
    write_manifest(folder, manifest)


STARTS = {
    "versioned": lambda run_dir: build(run_dir, "old"),
    "plain folder": legacy_pair,
    "nothing": lambda run_dir: None,
}


@pytest.mark.parametrize("start", STARTS)
def test_adapter_install_killed_at_every_step_leaves_the_old_or_the_new_pair(
    tmp_path: Path, start: str, links: bool
):
    if start == "versioned" and not links:
        pytest.skip("no versions behind links where there are no links")
    template = tmp_path / "template"
    template.mkdir()
    STARTS[start](template)
    before = installed_pair(template)
    seen: set[str | None] = set()

    def prepare(step: int) -> Path:
        run_dir = tmp_path / f"step-{step}"
        shutil.copytree(template, run_dir, symlinks=True)
        return run_dir

    def check(run_dir: Path) -> None:
        state = installed_pair(run_dir)
        assert state in (before, "new")
        seen.add(state)
        build(run_dir, "new")  # the re-run completes
        assert installed_pair(run_dir) == "new"
        assert_tidy(run_dir, links)
        shutil.rmtree(run_dir)

    steps = kill_at_every_step(prepare, lambda run_dir: build(run_dir, "new"), check)
    assert steps > 10
    assert seen == {before, "new"}  # kills struck before and after the switch


def test_an_unchanged_adapter_is_kept(tmp_path: Path, links: bool):
    assert build(tmp_path, "old") is True
    assert build(tmp_path, "old") is False
    assert build(tmp_path, "new") is True
    assert installed_pair(tmp_path) == "new"
    assert_tidy(tmp_path, links)


def test_a_failed_build_keeps_the_installed_pair(tmp_path: Path, monkeypatch):
    build(tmp_path, "old")

    def broken_train(*args, **kwargs) -> TrainingResult:
        fake_train(*args, **kwargs)
        raise RuntimeError("out of GPU memory")

    context = build_context(tmp_path)
    object.__setattr__(context, "train_adapter", broken_train)
    with pytest.raises(RuntimeError):
        ensure_user_adapter(context, SYSTEM, USER, examples("new"))
    assert installed_pair(tmp_path) == "old"
    assert_tidy(tmp_path)


def test_a_two_rename_swap_fails_this_check(tmp_path: Path):
    """The kill harness does find the window of replacing a folder by two renames."""
    template = tmp_path / "template"
    with atomic_directory(template / "folder") as staging:
        (staging / "which").write_text("old")
    states = []

    def prepare(step: int) -> Path:
        root = tmp_path / f"step-{step}"
        shutil.copytree(template, root)
        return root

    def replace(root: Path) -> None:
        with atomic_directory(root / "folder") as staging:
            (staging / "which").write_text("new")

    def check(root: Path) -> None:
        which = root / "folder" / "which"
        states.append(which.read_text() if which.exists() else None)

    kill_at_every_step(prepare, replace, check)
    assert None in states  # neither: what atomic_version exists to avoid


def test_atomic_version_killed_at_every_step(tmp_path: Path):
    template = tmp_path / "template"
    with atomic_version(template / "current", template / ".versions", root=template) as fresh:
        (fresh / "which").write_text("old")

    def prepare(step: int) -> Path:
        root = tmp_path / f"step-{step}"
        shutil.copytree(template, root, symlinks=True)
        return root

    def replace(root: Path) -> None:
        with atomic_version(root / "current", root / ".versions", root=root) as fresh:
            (fresh / "which").write_text("new")

    def check(root: Path) -> None:
        assert (root / "current" / "which").read_text() in ("old", "new")
        replace(root)
        assert (root / "current" / "which").read_text() == "new"
        assert len(list((root / ".versions").iterdir())) == 1

    assert kill_at_every_step(prepare, replace, check) > 5


@pytest.fixture
def judged(tmp_path: Path) -> Path:
    return judged_run(tmp_path / "judged", {"naive_finetune": 3, "few_shot": 2})


def test_report_json_killed_at_every_step(judged: Path, tmp_path: Path):
    run = RunFolder(judged)
    profile = parse_profile(scripted_profile(), Path("<test profile>"))
    old = build_report(run, profile, sorted(run.logs("judge").glob("*.eval")), {}, "key")
    write_report(run, old)
    new = old.model_copy(update={"profile": "renamed"})

    def prepare(step: int) -> RunFolder:
        folder = RunFolder(tmp_path / f"step-{step}")
        shutil.copytree(judged, folder.root)
        return folder

    def check(folder: RunFolder) -> None:
        assert read_report(folder).profile in ("scripted", "renamed")
        killed_temporaries = set(folder.root.glob(".report.json.*.tmp"))
        write_report(folder, new)
        assert read_report(folder) == new
        assert set(folder.root.glob(".report.json.*")) == killed_temporaries  # none of its own
        shutil.rmtree(folder.root)

    assert kill_at_every_step(prepare, lambda folder: write_report(folder, new), check) > 3


def human_scores(run_dir: Path) -> list[dict]:
    return [
        sample.scores["human"].value
        for path in sorted((run_dir / "logs" / "judge").glob("*.eval"))
        for sample in read_eval_log(str(path)).samples or []
        if sample.scores and "human" in sample.scores
    ]


def test_attach_killed_at_every_step(judged: Path, tmp_path: Path):
    bundle = export_bundle(judged, annotators=["alice"], seed=1, announce=lambda note: None)
    attach_human_scores(judged)  # the old state: scores without answers
    with AnnotationStore(HumanFolder(judged).database) as store:  # answers given on the page
        for item in bundle.key:
            store.append("alice", item, 1)
    old = human_scores(judged)
    assert old and all(value == {} for value in old)

    def prepare(step: int) -> Path:
        run_dir = tmp_path / f"step-{step}"
        shutil.copytree(judged, run_dir)
        return run_dir

    def check(run_dir: Path) -> None:
        scores = human_scores(run_dir)  # every log readable, each one old or new
        assert len(scores) == len(old)
        assert all(value == {} or set(value) == {"alice"} for value in scores)
        attach_human_scores(run_dir)
        assert all(set(value) == {"alice"} for value in human_scores(run_dir))
        shutil.rmtree(run_dir)

    assert kill_at_every_step(prepare, attach_human_scores, check) > 3


def test_import_killed_at_every_step_commits_answers_only_with_their_attachment(
    judged: Path, tmp_path: Path
):
    """Before the commit a kill leaves no new row and the old logs; after it, the answers
    are in and attaching again (idempotent) brings every log up to date."""
    bundle = export_bundle(judged, annotators=["alice"], seed=1, announce=lambda note: None)
    attach_human_scores(judged)
    answers = tmp_path / "answers.csv"
    answers.write_text(
        "annotator,item_id,choice,answered_at\n"
        + "".join(f"alice,{item},1,2026-01-02T00:00:00Z\n" for item in bundle.key)
    )
    old = human_scores(judged)
    assert old and all(value == {} for value in old)

    def prepare(step: int) -> Path:
        run_dir = tmp_path / f"step-{step}"
        shutil.copytree(judged, run_dir)
        return run_dir

    def check(run_dir: Path) -> None:
        database = HumanFolder(run_dir).database
        rows = 0
        if database.exists():
            with AnnotationStore(database) as store:
                rows = store.count()
        scores = human_scores(run_dir)
        assert rows in (0, len(bundle.key))
        if rows == 0:  # not committed: nothing of the import anywhere
            assert scores == old
            assert not list((run_dir / "human").glob("imports/*"))
        attach_human_scores(run_dir)
        wanted = (
            (lambda value: value == {}) if rows == 0 else (lambda value: set(value) == {"alice"})
        )
        assert all(wanted(value) for value in human_scores(run_dir))
        shutil.rmtree(run_dir)

    assert kill_at_every_step(prepare, lambda run_dir: import_files(run_dir, [answers]), check) > 5


BUNDLE_FILES = ("key.json", "items.jsonl")


def test_bundle_overwrite_killed_at_every_step_never_reads_a_mixed_bundle(
    judged: Path, tmp_path: Path
):
    """An old key with new items (or the reverse) would un-blind answers wrongly."""

    def export(run_dir: Path, seed: int) -> None:
        export_bundle(
            run_dir, annotators=["alice"], seed=seed, overwrite=True, announce=lambda n: None
        )

    export(judged, 1)
    old = {name: (judged / "human" / name).read_bytes() for name in BUNDLE_FILES}
    newer = tmp_path / "newer"
    shutil.copytree(judged, newer)
    export(newer, 2)
    new = {name: (newer / "human" / name).read_bytes() for name in BUNDLE_FILES}
    assert old != new
    outcomes = set()

    def prepare(step: int) -> Path:
        run_dir = tmp_path / f"step-{step}"
        shutil.copytree(judged, run_dir)
        return run_dir

    def check(run_dir: Path) -> None:
        try:
            read_bundle(run_dir)
        except PrefbenchInputError as error:
            assert "prefbench human export" in str(error)
            outcomes.add("no bundle")
        else:
            files = {name: (run_dir / "human" / name).read_bytes() for name in BUNDLE_FILES}
            assert files in (old, new), "a bundle that reads must be one whole bundle"
            outcomes.add("old" if files == old else "new")
        export(run_dir, 2)  # the re-run completes
        assert {name: (run_dir / "human" / name).read_bytes() for name in BUNDLE_FILES} == new
        shutil.rmtree(run_dir)

    assert kill_at_every_step(prepare, lambda run_dir: export(run_dir, 2), check) > 3
    assert "old" in outcomes and "new" in outcomes


def flushed(monkeypatch) -> list[tuple[int, int]]:
    """Record the (device, inode) of everything passed to os.fsync."""
    seen: list[tuple[int, int]] = []
    original = os.fsync

    def recording(fd: int) -> None:
        info = os.fstat(fd)
        seen.append((info.st_dev, info.st_ino))
        original(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return seen


def identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def test_atomic_writes_flush_the_file_then_its_folder(tmp_path: Path, monkeypatch):
    seen = flushed(monkeypatch)
    target = tmp_path / "new" / "report.json"
    atomic_write_text(target, "{}\n")
    assert seen.index(identity(target)) < seen.index(identity(target.parent))
    assert identity(tmp_path) in seen  # the folder it created is recorded in its parent

    seen.clear()
    with atomic_file(tmp_path / "log.eval") as temporary:
        temporary.write_bytes(b"zip")
    assert identity(tmp_path / "log.eval") in seen and identity(tmp_path) in seen

    seen.clear()
    with atomic_version(tmp_path / "current", tmp_path / ".versions", root=tmp_path) as fresh:
        (fresh / "adapter").mkdir()
        (fresh / "adapter" / "weights").write_bytes(b"w")
    weights = tmp_path / "current" / "adapter" / "weights"
    for path in (weights, weights.parent, weights.parent.parent, tmp_path):
        assert identity(path) in seen, path


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_and_folders_get_the_users_umask(tmp_path: Path, umask: int):
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "sub" / "report.json", "{}\n")
        with atomic_file(tmp_path / "log.eval") as temporary:
            temporary.write_bytes(b"zip")
        with atomic_directory(tmp_path / "model") as staging:
            (staging / "config.json").write_text("{}")
        with atomic_version(tmp_path / "current", tmp_path / ".versions", root=tmp_path) as fresh:
            (fresh / "manifest.json").write_text("{}")
    finally:
        os.umask(previous)

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    for path in (tmp_path / "sub" / "report.json", tmp_path / "log.eval"):
        assert mode(path) == 0o666 & ~umask, path
    for path in (tmp_path / "sub", tmp_path / "model", tmp_path / "current"):
        assert mode(path) == 0o777 & ~umask, path


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch):
    target = tmp_path / "records.jsonl"
    target.write_text("old\n")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as error:
        atomic_write_text(target, "new\n")
    assert error.value.errno == 28 and error.value.filename == str(target)
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["records.jsonl"]
