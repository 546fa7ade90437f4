"""Disk full while writing records, the human bundle and the report: old files intact, exit 2.

A full disk is simulated with RLIMIT_FSIZE (tests/faults.py): a write past the limit
raises OSError EFBIG, as a full disk raises ENOSPC. The command line turns either into
exit code 2 with a message naming the file and the fix.
"""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prefbench.core.run_folder import RunFolder
from prefbench.harness.profile import parse_profile
from prefbench.harness.report.build import build_report, report_html_path, write_report
from prefbench.human_eval.export import export_bundle
from prefbench.tasks.records import Record, write_records
from tests.faults import limit_file_size, run_with_file_size_limit
from tests.helpers import run_cli, scripted_profile
from tests.human_fixtures import judged_run
from tests.report_models import report

REPO = Path(__file__).resolve().parents[1]
LIMIT = 4000
"""Bytes a file may reach in these tests: less than each new file, more than the temporaries'
names and the small files written before them."""


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones included) by relative path."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def prefbench(*args: str, limit: int | None = None) -> subprocess.CompletedProcess:
    """Run the `prefbench` command line in a child process, its files capped at `limit`."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    environment["COLUMNS"] = "250"
    return subprocess.run(
        [sys.executable, "-c", "from prefbench.harness.cli.app import main; main()", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_file_size(limit) if limit is not None else None,
    )


def records(count: int, marker: str) -> list[Record]:
    return [
        Record(
            id=f"demo-ava-{i:03d}",
            dataset="demo",
            user="ava",
            split="train",
            metadata={},
            content=f"{marker} email {i}: " + "words " * 40,
            source="test",
        )
        for i in range(count)
    ]


def test_records_write_on_a_full_disk_keeps_the_old_file(tmp_path: Path):
    path = tmp_path / "data" / "records.jsonl"
    write_records(path, records(3, "old"))
    before = snapshot(tmp_path)
    error = run_with_file_size_limit(LIMIT, lambda: write_records(path, records(40, "new")))
    assert error is not None and error.errno == errno.EFBIG
    assert error.filename == str(path)
    assert snapshot(tmp_path) == before  # old file intact, no temporary left


def test_report_write_on_a_full_disk_keeps_the_old_report(tmp_path: Path):
    run = RunFolder(judged_run(tmp_path / "run", {"naive_finetune": 12, "few_shot": 12}))
    profile = parse_profile(scripted_profile(), Path("<test profile>"))
    report = build_report(run, profile, sorted(run.logs("judge").glob("*.eval")), {}, "key")
    smaller = {"llm": report.comparisons["llm"][:1]}
    write_report(run, report.model_copy(update={"comparisons": smaller}))
    before = snapshot(run.root)
    error = run_with_file_size_limit(LIMIT, lambda: write_report(run, report))
    assert error is not None and error.errno == errno.EFBIG
    assert error.filename == str(report_html_path(run))  # report.md (small) was written
    after = snapshot(run.root)
    assert after.keys() == before.keys()  # no temporary left
    assert (
        after["report.json"] == before["report.json"]
        and after["report.html"] == before["report.html"]
    )


def test_bundle_write_on_a_full_disk_keeps_the_old_bundle(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 12, "few_shot": 12})
    export_bundle(run, annotators=["alice"], seed=1, announce=lambda note: None)
    before = snapshot(run / "human")
    error = run_with_file_size_limit(
        LIMIT,
        lambda: export_bundle(
            run, annotators=["alice"], seed=2, overwrite=True, announce=lambda note: None
        ),
    )
    assert error is not None and error.errno == errno.EFBIG
    assert snapshot(run / "human") == before


def assert_disk_full_message(result: subprocess.CompletedProcess, file: Path) -> None:
    output = " ".join((result.stdout + result.stderr).split())  # undo rich's line wrapping
    assert result.returncode == 2, output
    assert str(file) in output and "Free disk space and run the same command again" in output
    assert "Traceback" not in output


def test_cli_exits_2_when_records_do_not_fit(tmp_path: Path):
    out = tmp_path / "prepared"
    out.mkdir()
    (out / "records.jsonl").write_text("old records\n")
    result = prefbench("data", "prepare", "demo", "--out", str(out), limit=LIMIT)
    assert_disk_full_message(result, out / "records.jsonl")
    assert (out / "records.jsonl").read_text() == "old records\n"

    again = prefbench("data", "prepare", "demo", "--out", str(out))  # disk freed: completes
    assert again.returncode == 0, again.stderr
    assert len((out / "records.jsonl").read_text().splitlines()) == 30


def test_cli_exits_2_when_the_bundle_does_not_fit(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 12, "few_shot": 12})
    result = prefbench("human", "export", "--run", str(run), "--annotator", "alice", limit=LIMIT)
    assert_disk_full_message(result, run / "human" / "key.json")
    assert not (run / "human" / "bundle.json").exists()

    again = prefbench("human", "export", "--run", str(run), "--annotator", "alice")
    assert again.returncode == 0, again.stderr
    assert (run / "human" / "bundle.json").exists()


def test_cli_exits_2_when_the_report_does_not_fit(tmp_path: Path):
    run = RunFolder(judged_run(tmp_path / "run", {"naive_finetune": 12, "few_shot": 12}))
    profile = parse_profile(scripted_profile(), Path("<test profile>"))
    judge_logs = sorted(run.logs("judge").glob("*.eval"))
    write_report(run, build_report(run, profile, judge_logs, {}, "key"))
    report_html_path(run).write_text("old page\n")
    result = prefbench("report", "--run", str(run.root), limit=LIMIT)
    assert_disk_full_message(result, report_html_path(run))
    assert report_html_path(run).read_text() == "old page\n"


def test_other_os_errors_are_not_called_a_full_disk(monkeypatch, capsys, tmp_path: Path):
    from prefbench.harness.report import build as report_build

    run = RunFolder(judged_run(tmp_path / "run", {"naive_finetune": 2}))
    run.report_json.write_text(json.dumps(report().dump()) + "\n")

    def denied(run, report) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(run.report_md))

    monkeypatch.setattr(report_build, "render_report", denied)
    with pytest.raises(PermissionError):
        run_cli(monkeypatch, capsys, "report", "--run", str(run.root))

    def full(run, report) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(run.report_md))

    monkeypatch.setattr(report_build, "render_report", full)
    code, output = run_cli(monkeypatch, capsys, "report", "--run", str(run.root))
    assert code == 2 and "No space left on device" in output and "report.md" in output
