"""Roles on OpenAI-compatible servers, through inspect's real providers over loopback HTTP.

`large` runs on `openai-api/`, `judge` on `openai/` and `small` on `vllm/`, all pointed at
a running server (`base_url`): `tests.openai_test_server`, which records every request.
These tests would have caught the crash at the end of the first stage (inspect refuses a
synchronous close for its async clients), decoding left to the server's defaults, a
resumed run that repeats finished calls because the server came back on another port, and
a SIGTERM that skips the cleanup.
"""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from inspect_ai.log import read_eval_log

from prefbench.core.run_folder import RunFolder
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.report.file import read_report
from tests.helpers import scripted_run
from tests.openai_test_server import OpenAITestServer, RecordedRequest, read_recorded
from tests.server_profiles import KEY_VARIABLE, endpoint_profile

PREFBENCH = [sys.executable, "-c", "from prefbench.harness.cli.app import main; main()"]
INTENT_TEMPERATURES = {0.7, 1.0, 1.2}
DATASET = {"kind": "demo", "personas": 2, "records_per_persona": 8, "test_fraction": 0.5}
"""Eight test emails per system: a run can be stopped in the middle of one."""


@pytest.fixture(autouse=True)
def server_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "test-key")


def request_identity(request: RecordedRequest) -> str:
    return json.dumps([request.model, request.temperature, request.seed, request.messages])


def test_run_on_servers_completes_with_stated_decoding(tmp_path: Path) -> None:
    with OpenAITestServer() as server:
        context = scripted_run(tmp_path / "run", endpoint_profile(server.base_url))
        report = run_benchmark(context)
        first = list(server.requests)
    assert report.rows(), "the judge stage ran on the server"
    assert first, "no request reached the server"
    for request in first:
        assert request.seed is not None, request
        assert request.max_tokens is not None, request
        if "facts and requests" in request.system:  # intents: three sampled variants
            assert request.temperature in INTENT_TEMPERATURES, request
        else:
            assert request.temperature == 0.0, request
    log = read_eval_log(str(next((tmp_path / "run" / "logs" / "gen").glob("*.eval"))))
    events = [e for sample in log.samples or [] for e in sample.events if e.event == "model"]
    assert events and all(event.config.temperature == 0.0 for event in events)
    assert all(event.config.seed == 0 for event in events)

    # the same folder again, the server back on another port: nothing is asked again
    with OpenAITestServer() as moved:
        assert moved.port != server.port
        context = scripted_run(tmp_path / "run", endpoint_profile(moved.base_url))
        assert run_benchmark(context) == report
        assert moved.requests == []


def test_missing_key_variable_names_role(tmp_path: Path, monkeypatch) -> None:
    from prefbench.core.errors import PrefbenchInputError

    monkeypatch.delenv(KEY_VARIABLE)
    context = scripted_run(tmp_path / "run", endpoint_profile("http://127.0.0.1:9/v1"))
    with pytest.raises(PrefbenchInputError, match=f"role large .*{KEY_VARIABLE}"):
        run_benchmark(context)


def prefbench_run(profile: dict, tmp_path: Path, name: str) -> subprocess.Popen:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    out = tmp_path / "run"
    return subprocess.Popen(
        [*PREFBENCH, "run", "--profile", str(path), "--out", str(out), "--display", "none"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )


def cached_response_ids(run_dir: Path) -> set[str]:
    """The completion ids of the answers the run's inspect cache holds (what it recorded).

    A cache file is `(expiry, ModelOutput)` pickled by inspect; one cut short by the kill is
    not an answer the run has (inspect reads it as a miss).
    """
    found = set()
    for path in (run_dir / "cache").rglob("*"):
        if not path.is_file():
            continue
        try:
            _, output = pickle.loads(path.read_bytes())
        except Exception:
            continue
        if getattr(output, "response_id", None):
            found.add(output.response_id)
    return found


def test_killed_run_resumes_on_another_port_without_repeating_calls(tmp_path: Path) -> None:
    """Every call the killed run had recorded in its cache is answered from there on resuming.

    A call the server answered whose reply had not reached the run's cache when the run was
    killed is asked again, as it must be: what counts as finished is what the run recorded,
    read from its cache after the kill, so no timing (a sleep, a loaded machine) matters.
    """
    record = tmp_path / "requests.jsonl"
    server = OpenAITestServer(record_file=record, delay_seconds=0.1).start()
    profile = endpoint_profile(server.base_url, generation={"max_samples": 2}, dataset=DATASET)
    process = prefbench_run(profile, tmp_path, "first")
    try:
        deadline = time.monotonic() + 240
        # kill it in the middle of generation: some writer calls answered, not all
        while sum("Write only the email" in r.system for r in read_recorded(record)) < 3:
            assert process.poll() is None, process.communicate()[0].decode()
            assert time.monotonic() < deadline, "generation never started"
            time.sleep(0.05)
    finally:
        server.stop()  # answers nothing more
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    run_dir = tmp_path / "run"
    cached = cached_response_ids(run_dir)
    answered = read_recorded(record)
    finished = [r for r in answered if r.response_id in cached]
    assert finished, "the run recorded none of its answers before the kill"
    assert cached <= {r.response_id for r in answered}
    assert not (run_dir / "logs" / "gen").exists() or not any(
        read_eval_log(str(path), header_only=True).status == "success"
        for path in (run_dir / "logs" / "gen").glob("*.eval")
    ), "the run was stopped after generation, not in the middle of it"

    resumed_record = tmp_path / "resumed.jsonl"
    with OpenAITestServer(record_file=resumed_record) as moved:
        assert moved.port != server.port
        profile = endpoint_profile(moved.base_url, generation={"max_samples": 2}, dataset=DATASET)
        process = prefbench_run(profile, tmp_path, "second")
        output = process.communicate(timeout=300)[0].decode()
    assert process.returncode == 0, output
    asked_again = {request_identity(r) for r in read_recorded(resumed_record)}
    repeated = {request_identity(r) for r in finished} & asked_again
    assert not repeated, f"{len(repeated)} finished calls were made again: {sorted(repeated)[:2]}"
    unfinished = {request_identity(r) for r in answered} - {request_identity(r) for r in finished}
    assert unfinished <= asked_again, "a call the run had not recorded was never asked again"
    assert read_report(RunFolder(run_dir)).rows()


def test_sigterm_ends_a_run_through_its_cleanup(tmp_path: Path) -> None:
    """SIGTERM (a scheduler's stop) exits 143 through `finally`, closing the run's models."""
    record = tmp_path / "requests.jsonl"
    with OpenAITestServer(record_file=record, delay_seconds=0.2) as server:
        profile = endpoint_profile(server.base_url, generation={"max_samples": 1})
        process = prefbench_run(profile, tmp_path, "terminated")
        deadline = time.monotonic() + 120
        while not read_recorded(record):
            assert process.poll() is None, process.communicate()[0].decode()
            assert time.monotonic() < deadline, "no request reached the server"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 143, output
