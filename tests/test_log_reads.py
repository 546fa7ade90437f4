"""Log headers and sample summaries are read once per file version, and again once it changes."""

import os
import shutil
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log, write_eval_log

from prefbench.harness import log_reads
from prefbench.harness.log_reads import log_header, sample_summaries
from tests.generation_logs import finished_generation_log


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file the module reads from disk, in order."""
    reads: list[str] = []
    real_read, real_summaries = log_reads.read_eval_log, log_reads.read_eval_log_sample_summaries

    def read(name: str, header_only: bool = False) -> object:
        reads.append(name)
        return real_read(name, header_only=header_only)

    def summaries(name: str) -> object:
        reads.append(name)
        return real_summaries(name)

    monkeypatch.setattr(log_reads, "read_eval_log", read)
    monkeypatch.setattr(log_reads, "read_eval_log_sample_summaries", summaries)
    return reads


def test_an_unchanged_log_is_read_once(tmp_path: Path, counted_reads: list[str]) -> None:
    path = finished_generation_log(tmp_path, "few_shot", {"r1": "hello"})
    first = log_header(path)
    assert log_header(path) is first
    assert [summary.id for summary in sample_summaries(path)] == ["r1"]
    assert [summary.id for summary in sample_summaries(path)] == ["r1"]
    assert counted_reads == [str(path), str(path)]  # one header read, one summaries read
    assert (first.eval.metadata or {})["system"] == "few_shot"


def test_a_log_changed_in_place_is_read_again(tmp_path: Path, counted_reads: list[str]) -> None:
    path = finished_generation_log(tmp_path, "few_shot", {"r1": "hello"})
    assert (log_header(path).eval.metadata or {})["system"] == "few_shot"
    assert sample_summaries(path)[0].error is None
    log = read_eval_log(str(path))
    log.eval.metadata = {"system": "zero_shot"}
    assert log.samples
    log.samples[0].error = None
    log.samples[0].metadata = {**log.samples[0].metadata, "user": "changed"}
    write_eval_log(log, str(path))  # e.g. human scores attached to a judge log in place
    assert (log_header(path).eval.metadata or {})["system"] == "zero_shot"
    assert sample_summaries(path)[0].metadata["user"] == "changed"
    assert len(counted_reads) == 4


def test_a_log_replaced_by_another_is_read_again(tmp_path: Path) -> None:
    first = finished_generation_log(tmp_path / "a", "few_shot", {"r1": "hello"})
    other = finished_generation_log(tmp_path / "b", "zero_shot", {"r2": "hi", "r3": "yo"})
    assert (log_header(first).eval.metadata or {})["system"] == "few_shot"
    assert len(sample_summaries(first)) == 1
    shutil.copyfile(other, first.with_suffix(".tmp"))
    stat = first.stat()  # another file at the same path, even with the same modification time
    os.utime(first.with_suffix(".tmp"), ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(first.with_suffix(".tmp"), first)
    assert (log_header(first).eval.metadata or {})["system"] == "zero_shot"
    assert [summary.id for summary in sample_summaries(first)] == ["r2", "r3"]


def test_a_missing_log_raises_and_keeps_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        log_header(tmp_path / "gone.eval")
