"""Input from outside, read within bounds: regular files only, a size limit, a JSON depth limit.

Files a user hands to prefbench (answer files, an annotations database, a tampered
report.json) may be anything: a FIFO that blocks a reader forever, a folder, a symbolic link
to a file the user did not mean to show, gigabytes, or JSON nested 100,000 levels deep
(Python's parser then raises `RecursionError`, which no reader expects). These helpers turn
each into a `PrefbenchInputError` (exit code 2) that names the file and the fix:

- :func:`read_regular_file`: the bytes of a regular file, never following a link, never
  opening a FIFO, device or folder, at most a given size;
- :func:`check_regular_file`: the same checks without reading (for readers such as SQLite);
- :func:`loads_json`: `json.loads` with a nesting limit, raising :class:`JsonLimitError`
  (a `ValueError`, like every other JSON failure) instead of `RecursionError`.
"""

import json
import os
import stat
from pathlib import Path
from typing import Any

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.safe_names import visible

__all__ = [
    "MAX_JSON_DEPTH",
    "JsonLimitError",
    "check_regular_file",
    "loads_json",
    "read_regular_file",
]

MAX_JSON_DEPTH = 100
"""The deepest JSON nesting read from outside (every prefbench file is under 15 levels)."""

_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NO_BLOCK = getattr(os, "O_NONBLOCK", 0)
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class JsonLimitError(ValueError):
    """JSON nested deeper than the limit (a `ValueError`, like a JSON syntax error)."""


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _refusal(path: Path, mode: int, what: str, fix: str) -> PrefbenchInputError | None:
    """Why a file of this `lstat`/`fstat` mode is not read, or None for a regular file."""
    shown = visible(str(path))
    if stat.S_ISLNK(mode):
        return PrefbenchInputError(
            f"{shown}: {what} is a symbolic link; refused, its target is not read (pass the "
            f"file itself, e.g. a copy); {fix}"
        )
    if not stat.S_ISREG(mode):
        return PrefbenchInputError(
            f"{shown}: {what} is {_kind(mode)}, not a regular file; not read; {fix}"
        )
    return None


def check_regular_file(path: Path, *, what: str, fix: str, limit: int) -> int:
    """The size of the regular file at `path`, checked as :func:`read_regular_file` does.

    Raises:
        PrefbenchInputError: Missing, a link, not a regular file, or over `limit` bytes.
    """
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise PrefbenchInputError(f"{visible(str(path))}: {what} does not exist; {fix}") from None
    except (OSError, ValueError) as error:
        raise PrefbenchInputError(
            f"{visible(str(path))}: {what} cannot be read ({error}); {fix}"
        ) from None
    refused = _refusal(path, info.st_mode, what, fix)
    if refused is not None:
        raise refused
    if info.st_size > limit:
        raise PrefbenchInputError(
            f"{visible(str(path))}: {what} has {info.st_size:,} bytes, over the limit of "
            f"{limit:,}; split it into smaller files"
        )
    return info.st_size


def read_regular_file(path: Path, *, what: str, fix: str, limit: int) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them.

    The file is opened without following a link and without blocking (a FIFO swapped in
    after the check is caught by `fstat`), so nothing but a regular file is ever read.

    Raises:
        PrefbenchInputError: Missing, a symbolic link, a folder, FIFO, socket or device,
            unreadable, or over `limit` bytes; the message names `what`, the file and `fix`.
    """
    path = Path(path)
    check_regular_file(path, what=what, fix=fix, limit=limit)
    try:
        descriptor = os.open(path, os.O_RDONLY | _NO_FOLLOW | _NO_BLOCK)
    except OSError as error:
        raise PrefbenchInputError(
            f"{visible(str(path))}: {what} cannot be read ({error.strerror or error}); {fix}"
        ) from None
    with os.fdopen(descriptor, "rb") as handle:
        refused = _refusal(path, os.fstat(handle.fileno()).st_mode, what, fix)
        if refused is not None:
            raise refused
        content = handle.read(limit + 1)
    if len(content) > limit:
        raise PrefbenchInputError(
            f"{visible(str(path))}: {what} has over {limit:,} bytes, the limit; split it into "
            "smaller files"
        )
    return content


def _depth_over(value: Any, limit: int) -> bool:
    """Whether `value` (parsed JSON) nests lists and objects deeper than `limit`."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads_json(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads(text)`, refusing nesting deeper than `max_depth`.

    Raises:
        JsonLimitError: Nested deeper than `max_depth` (also when too deep for Python's
            parser, which would raise `RecursionError`).
        ValueError: Anything else `json.loads` refuses (`json.JSONDecodeError`, a number of
            over 4,300 digits, invalid UTF-8 in bytes).
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonLimitError(f"nested deeper than {max_depth} levels") from None
    if _depth_over(value, max_depth):
        raise JsonLimitError(f"nested deeper than {max_depth} levels")
    return value
