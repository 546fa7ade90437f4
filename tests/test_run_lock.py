"""The run-folder lock: one writing command per run folder; a dead holder's lock is taken over.

The holders are real child processes (a `prefbench run`, or a few lines holding the lock), so
the lock is the operating system's, as between two terminals.
"""

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from prefbench.core.run_lock import (
    HOLDER_FILE,
    LockHolder,
    RunFolderLocked,
    acquire_run_lock,
    run_lock,
)
from prefbench.harness.pipeline import run_benchmark
from prefbench.human_eval.bundle import read_bundle
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.store import AnnotationStore
from tests.helpers import run_cli, scripted_profile, scripted_run
from tests.report_models import report

REPORT = report()
"""A valid report.json for the folders whose lock another process holds."""

REPO = Path(__file__).resolve().parents[1]
PREFBENCH = [sys.executable, "-c", "from prefbench.harness.cli.app import main; main()"]
HOLD_UNTIL_STDIN_CLOSES = (
    "import sys; from pathlib import Path; from prefbench.core.run_lock import run_lock\n"
    "with run_lock(Path(sys.argv[1])):\n"
    "    print('held', flush=True); sys.stdin.read()\n"
)
TAKE_AND_DIE = (
    "import os, sys; from pathlib import Path\n"
    "from prefbench.core.run_lock import acquire_run_lock\n"
    "acquire_run_lock(Path(sys.argv[1])); os._exit(0)\n"
)
WRITING_COMMANDS = [
    ["run", "--profile", "{profile}", "--out", "{run}"],
    ["build", "small_zero_shot", "--run", "{run}"],
    ["generate", "--run", "{run}"],
    ["judge", "--run", "{run}"],
    ["report", "--run", "{run}", "--format", "md"],
    ["human", "export", "--run", "{run}", "--annotator", "ann"],
    ["human", "import", "--run", "{run}"],
    ["human", "agreement", "--run", "{run}"],
    ["human", "backup", "--run", "{run}"],
    ["human", "serve", "--run", "{run}", "--port", "1"],
]


def python(code: str, *args: str, **popen: Any) -> subprocess.Popen:
    """`python -c CODE ARGS` in the repository, for a child that holds or leaves a lock."""
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, **popen)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen]]:
    """A run folder (scripted profile, a report.json) whose lock a child process holds."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "profile.yaml").write_text(yaml.safe_dump(scripted_profile()), encoding="utf-8")
    (run / "report.json").write_text(json.dumps(REPORT.dump()) + "\n", encoding="utf-8")
    child = python(
        HOLD_UNTIL_STDIN_CLOSES,
        str(run),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "held"
    yield run, child
    child.stdin.close()
    child.wait(timeout=30)


def test_second_prefbench_run_refuses_naming_the_holder_and_a_killed_ones_lock_is_taken_over(
    tmp_path, write_profile, monkeypatch, capsys
):
    profile = scripted_profile(call_log=tmp_path / "calls.log")
    profile["roles"]["large"]["model_args"]["delay_seconds"] = 0.2
    profile_path = write_profile(profile)
    run = tmp_path / "run"
    first = subprocess.Popen(
        [*PREFBENCH, "run", "--profile", str(profile_path), "--out", str(run), "--display", "none"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / HOLDER_FILE).exists() and time.monotonic() < deadline:
            assert first.poll() is None, first.stdout.read().decode()
            time.sleep(0.05)
        code, output = run_cli(
            monkeypatch, capsys, "run", "--profile", str(profile_path), "--out", str(run)
        )
        assert code == 2, output
        flat = " ".join(output.split())
        assert f"pid {first.pid} on host {socket.gethostname()}" in flat
        assert f"run --profile {profile_path} --out {run}" in flat
        assert "since" in flat
        assert first.poll() is None  # the first run goes on undisturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert LockHolder.read(run / HOLDER_FILE).pid == first.pid  # a kill releases nothing

    code, output = run_cli(
        monkeypatch,
        capsys,
        "run",
        "--profile",
        str(profile_path),
        "--out",
        str(run),
        "--display",
        "none",
    )
    assert code == 0, output
    assert "taking over the lock left by" in output and f"pid {first.pid}" in output
    assert (run / "report.json").exists()
    assert not (run / HOLDER_FILE).exists()  # released when the command ended


@pytest.mark.parametrize("command", WRITING_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_writing_command_refuses_a_locked_folder_and_writes_nothing(
    holder, command, tmp_path, write_profile, monkeypatch, capsys
):
    run, child = holder
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    profile = write_profile(scripted_profile(), name="other.yaml")
    args = [word.format(run=run, profile=profile) for word in command]
    code, output = run_cli(monkeypatch, capsys, *args)
    assert code == 2, output
    assert f"pid {child.pid}" in output and "in use by" in " ".join(output.split())
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


UPDATE_REPORT_SLOWLY = (
    "import json, sys; from pathlib import Path; from prefbench.core.run_lock import run_lock\n"
    "run = Path(sys.argv[1])\n"
    "with run_lock(run):\n"
    "    report = json.loads((run / 'report.json').read_text())\n"
    "    print('read', flush=True); sys.stdin.readline()\n"
    "    report['written_by_the_other_writer'] = True\n"
    "    (run / 'report.json').write_text(json.dumps(report))\n"
)


def test_report_json_updates_are_never_lost(tmp_path: Path, monkeypatch, capsys):
    """Another writer reads report.json, and `human agreement` runs before it writes back.

    Without the lock both succeed and the other writer's stale copy silently drops the
    agreement section; with it `agreement` refuses (exit 2), so every update that reported
    success is in the file.
    """
    run = tmp_path / "run"
    run_benchmark(scripted_run(run, scripted_profile()))
    export_bundle(run, annotators=["ann", "bob"], seed=3, announce=lambda note: None)
    with AnnotationStore(HumanFolder(run).database) as store:
        for number, item in enumerate(read_bundle(run).items):
            store.append("ann", item.item_id, 1)
            store.append("bob", item.item_id, 1 + number % 2)
    other = python(
        UPDATE_REPORT_SLOWLY, str(run), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert other.stdout.readline().strip() == "read"
    code, output = run_cli(monkeypatch, capsys, "human", "agreement", "--run", str(run))
    other.stdin.write("go on\n")
    other.stdin.close()
    assert other.wait(timeout=60) == 0
    final = json.loads((run / "report.json").read_text())
    assert final["written_by_the_other_writer"]
    assert code != 0 or final.get("agreement"), "agreement reported success but was lost"
    assert code == 2, output
    assert f"pid {other.pid}" in output


def test_reads_need_no_lock(holder, monkeypatch, capsys):
    run, _ = holder
    code, output = run_cli(monkeypatch, capsys, "report", "--run", str(run), "--format", "json")
    assert code == 0, output
    assert json.loads(output) == REPORT.dump()


def test_holds_nest_within_one_process_and_end_with_the_last(tmp_path: Path):
    run = tmp_path / "run"
    first = scripted_run(run, scripted_profile())
    second = scripted_run(run, scripted_profile())  # the same process: no waiting on itself
    probe = python(TAKE_AND_DIE, str(run), stderr=subprocess.PIPE, text=True)
    assert probe.wait(timeout=60) != 0 and "in use by" in probe.stderr.read()
    del first
    gc.collect()
    assert LockHolder.read(run / HOLDER_FILE).is_this_process()  # `second` still holds it
    del second
    gc.collect()
    assert not (run / HOLDER_FILE).exists()
    assert python(TAKE_AND_DIE, str(run)).wait(timeout=60) == 0


def test_a_finished_process_lock_is_taken_over_with_a_warning(tmp_path: Path):
    run = tmp_path / "run"
    dead = python(TAKE_AND_DIE, str(run))
    assert dead.wait(timeout=60) == 0
    assert LockHolder.read(run / HOLDER_FILE).pid == dead.pid
    warnings: list[str] = []
    with run_lock(run, warn=warnings.append):
        assert LockHolder.read(run / HOLDER_FILE).is_this_process()
    assert len(warnings) == 1 and f"pid {dead.pid}" in warnings[0]
    assert "no longer running" in warnings[0]


def test_a_holder_on_another_host_is_not_taken_over(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    other = LockHolder(pid=os.getpid(), host="gpu-box-7", command="prefbench run", since="x")
    (run / HOLDER_FILE).write_text(json.dumps(asdict(other)))
    with pytest.raises(RunFolderLocked) as refused:
        acquire_run_lock(run)
    message = str(refused.value)
    assert "gpu-box-7" in message and f"delete {(run / HOLDER_FILE).resolve()}" in message
    assert (run / HOLDER_FILE).exists()
    (run / HOLDER_FILE).unlink()  # what the message says to do
    with run_lock(run):
        pass
