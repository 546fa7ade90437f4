"""Interrupt `prefbench run` (Ctrl-C or kill) mid-stage; the next run finishes the work
without repeating any finished model call, and gives the same results as an
uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from prefbench.core.run_folder import RunFolder
from prefbench.harness.report.file import read_report
from tests.helpers import scripted_profile

PREFBENCH = [sys.executable, "-c", "from prefbench.harness.cli.app import main; main()"]


def write_profile(tmp_path: Path, call_log: Path) -> Path:
    profile = scripted_profile(call_log=call_log)
    profile["roles"]["large"]["model_args"]["delay_seconds"] = 0.2
    profile["generation"] = {"max_samples": 2}
    path = tmp_path / f"{call_log.stem}.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def prefbench_run(profile: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*PREFBENCH, "run", "--profile", str(profile), "--out", str(out), "--display", "none"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
        # Ctrl-C as in a terminal, whatever signal disposition the test process inherited
        # (a child inherits an ignored SIGINT, and Python then never raises KeyboardInterrupt)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def calls(call_log: Path) -> list[str]:
    return call_log.read_text().splitlines() if call_log.exists() else []


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[list[str], dict]:
    tmp_path = tmp_path_factory.mktemp("reference")
    call_log = tmp_path / "reference.log"
    process = prefbench_run(write_profile(tmp_path, call_log), tmp_path / "run")
    output = process.communicate(timeout=300)[0].decode()
    assert process.returncode == 0, output
    return calls(call_log), read_report(RunFolder(tmp_path / "run"))


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_interrupted_run_resumes_without_repeating_calls(tmp_path, reference, stop_signal):
    reference_calls, reference_report = reference
    call_log = tmp_path / "calls.log"
    profile = write_profile(tmp_path, call_log)
    process = prefbench_run(profile, tmp_path / "run")
    deadline = time.monotonic() + 120
    # stop it during the intents stage, after some calls have finished
    while len(calls(call_log)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(stop_signal)
    output = process.communicate(timeout=120)[0].decode()
    assert process.returncode in (130, -signal.SIGKILL), output
    interrupted_calls = calls(call_log)
    assert 0 < len(interrupted_calls) < len(reference_calls)
    assert not (tmp_path / "run" / "report.json").exists()
    assert not list((tmp_path / "run").rglob("*.tmp"))

    process = prefbench_run(profile, tmp_path / "run")
    output = process.communicate(timeout=300)[0].decode()
    assert process.returncode == 0, output
    # every call of the uninterrupted run happened exactly once over both runs, give or
    # take calls in flight at the moment of the interruption (answered but not yet cached)
    total = calls(call_log)
    in_flight = len(total) - len(reference_calls)
    assert 0 <= in_flight <= 2
    assert sorted(set(total)) == sorted(set(reference_calls))
    report = read_report(RunFolder(tmp_path / "run"))
    strip = lambda r: [row.model_copy(update={"log": ""}) for row in r.rows()]  # noqa: E731
    assert strip(report) == strip(reference_report)
