"""SIGTERM and Ctrl-C end `prefbench run` and its dry run within 5 s in every stage.

Issue 25: a dry run stopped by SIGTERM (`timeout 300`, as a batch scheduler stops a job) printed
"coroutine ... was never awaited" and then slept 10 minutes in `epoll_wait` until SIGKILL. Here
real `prefbench run` processes on the demo profile (at the reduced size of
`tests.conftest.tiny_demo_profile`, every stage and system of the demo, SmolLM2 on the CPU) are
signalled inside each stage in turn,
alternating SIGTERM and SIGINT, in one run folder: each interrupted run is resumed by the next,
which finishes the stage the last one left and is signalled in the next. The stage is read from
the run's progress lines (and, for a stage with an eval, its log file appearing), never from a
sleep. Each must exit with 128 + the signal within 5 s and leave no child process behind.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty, Queue

import psutil
import pytest

from prefbench.harness.stages import PIPELINE
from tests.conftest import tiny_demo_profile

EXIT_WITHIN = 5.0
STARTUP_TIMEOUT = 1800.0
"""How long a stage may take to be reached (the demo's adapters train on two cores)."""
LOG_KINDS = {
    "records": "intents",
    "build": "build",
    "generation": "gen",
    "similarity": "metrics",
    "cross_user": "cross",
    "pairwise_judge": "judge",
    "multi_candidate": "multi",
}
"""The log folder of each stage's evals: a new file there means its eval is running."""
PREFBENCH = [sys.executable, "-c", "from prefbench.harness.cli.app import main; main()"]


class Run:
    """A `prefbench` process whose output lines are read in the background."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [*PREFBENCH, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: Queue[str] = Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float) -> bool:
        """Wait until a line holds `text`; False when the process ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in self.lines.get(timeout=1.0):
                    return True
            except Empty:
                if self.process.poll() is not None:
                    return False
        raise AssertionError(f"no '{text}' within {timeout} s:\n{''.join(self.output)}")

    def interrupt(self, signum: int) -> tuple[int, float, list[int]]:
        """Send `signum`; the exit code, the seconds it took and the children it had."""
        children = [child.pid for child in psutil.Process(self.process.pid).children(True)]
        sent = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"still running 60 s after signal {signum}") from None
        return code, time.monotonic() - sent, children


def eval_running(folder: Path, before: set[Path], run: Run, next_stage: str) -> None:
    """Wait until the stage's eval has written its log file, or the next stage began."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and run.process.poll() is None:
        if set(folder.glob("*.eval")) - before:
            return
        try:
            if run.lines.get(timeout=0.05).startswith(next_stage):
                return  # the stage reused its evals: signal in the next one
        except Empty:
            pass


def assert_ended(code: int, seconds: float, children: list[int], signum: int, where: str) -> None:
    assert code == 128 + signum, f"{where}: exit {code}"
    assert seconds <= EXIT_WITHIN, f"{where}: took {seconds:.1f} s"
    alive = [pid for pid in children if psutil.pid_exists(pid)]
    assert not alive, f"{where}: child processes {alive} outlived the run"


@pytest.mark.integration
def test_signals_end_a_run_in_every_stage_and_a_dry_run(tmp_path: Path, write_profile) -> None:
    profile = str(write_profile(tiny_demo_profile()))
    out = tmp_path / "run"
    signals = [signal.SIGTERM, signal.SIGINT]
    for index, stage in enumerate(PIPELINE):
        signum = signals[index % 2]
        run = Run("run", "--profile", profile, "--out", str(out), "--display", "plain")
        kind = LOG_KINDS.get(stage.name)
        folder = out / "logs" / kind if kind else out
        before = set(folder.glob("*.eval")) if kind else set()
        assert run.wait_for(f"stage {index + 1}/{len(PIPELINE)} {stage.name}", STARTUP_TIMEOUT)
        if kind is not None:
            eval_running(folder, before, run, f"stage {index + 2}/")
        code, seconds, children = run.interrupt(signum)
        assert_ended(code, seconds, children, signum, f"stage {stage.name}")

    dry = Run("run", "--profile", "demo", "--out", str(tmp_path / "fresh"), "--dry-run")
    assert dry.wait_for("planning stage 3/", 600)
    code, seconds, children = dry.interrupt(signal.SIGTERM)
    assert_ended(code, seconds, children, signal.SIGTERM, "the dry run")
    assert "never awaited" not in "".join(run.output + dry.output)


HANGS_AFTER_A_SIGNAL = """
import subprocess, sys, threading, time
from prefbench.harness import interrupts

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(child.pid, flush=True)
with interrupts.ended_by_signals(deadline=1.0):
    try:
        print("ready", flush=True)
        time.sleep(600)
    finally:  # cleanup that never ends: a thread an interrupted eval left behind
        threading.Event().wait()
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_hanging_cleanup_still_ends_the_process_and_its_children(signum: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", HANGS_AFTER_A_SIGNAL], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    child = int(process.stdout.readline())
    assert process.stdout.readline().strip() == "ready"
    sent = time.monotonic()
    process.send_signal(signum)
    code = process.wait(timeout=30)
    assert code == 128 + signum
    assert time.monotonic() - sent < 1.0 + EXIT_WITHIN / 2  # the deadline, not the hang
    psutil.wait_procs([psutil.Process(child)] if psutil.pid_exists(child) else [], timeout=2)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie"
