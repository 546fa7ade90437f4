"""Eval log headers and sample summaries, read once per file version in a process.

A run asks for the same logs' headers and sample summaries many times: every stage looks
for a finished log among all logs of its kind, and later stages key on earlier logs' keys
and failed samples. Each answer here is kept with the file's state (inode, size and
modification time in ns), so a log is read again only when it was replaced or changed on
disk (e.g. human scores attached in place); otherwise the kept answer is returned.

The returned objects are shared between callers: read them, never modify them.
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from inspect_ai.log import (
    EvalLog,
    EvalSampleSummary,
    read_eval_log,
    read_eval_log_sample_summaries,
)

FileState = tuple[int, int, int]
"""A file's inode, size and modification time in ns."""
Value = TypeVar("Value")

_headers: dict[str, tuple[FileState, EvalLog]] = {}
_summaries: dict[str, tuple[FileState, list[EvalSampleSummary]]] = {}


def _file_state(path: str) -> FileState:
    status = os.stat(path)
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def _kept(
    cache: dict[str, tuple[FileState, Value]], path: Path, read: Callable[[str], Value]
) -> Value:
    """The answer kept for `path` while its file is unchanged, else `read(path)` kept anew."""
    name = str(path)
    state = _file_state(name)
    kept = cache.get(name)
    if kept is not None and kept[0] == state:
        return kept[1]
    value = read(name)
    if _file_state(name) == state:  # not written while it was read
        cache[name] = (state, value)
    return value


def log_header(path: Path) -> EvalLog:
    """The log's header (`read_eval_log(..., header_only=True)`), read once per file version.

    Raises what `read_eval_log` raises for a missing or unreadable file.
    """
    return _kept(_headers, path, lambda name: read_eval_log(name, header_only=True))


def sample_summaries(path: Path) -> list[EvalSampleSummary]:
    """The log's sample summaries (`read_eval_log_sample_summaries`), once per file version."""
    return _kept(_summaries, path, read_eval_log_sample_summaries)
