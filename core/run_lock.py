"""The run-folder lock: one writing command per run folder at a time.

Every command that writes a run folder holds ``RUN/.lock``, an OS file lock (`filelock`:
``flock`` on Unix), while it writes. Beside it ``RUN/.lock.json`` names the holder (pid, host,
command line, since when), so a second writer is refused with an error that says who holds
the folder. The OS drops the lock when its process ends, however it ends; the holder file a
killed process leaves behind is taken over with a warning once its pid is gone from this host.
A holder file from another host cannot be checked from here: the error names it and the fix.

Holds are re-entrant within one process: nested holds of one folder (a command that opens the
run, which holds it again) share one OS lock, released when the last hold ends.
"""

import json
import os
import shlex
import socket
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from prefbench.core.atomic import atomic_write_text
from prefbench.core.bounded_input import loads_json
from prefbench.core.errors import PrefbenchInputError

__all__ = [
    "HOLDER_FILE",
    "LOCK_FILE",
    "LockHolder",
    "RunFolderLocked",
    "RunLockHold",
    "Warn",
    "acquire_run_lock",
    "print_warning",
    "refuse_if_locked",
    "run_lock",
]

LOCK_FILE = ".lock"
"""The OS lock inside the run folder (empty; it stays in place between holds)."""

HOLDER_FILE = ".lock.json"
"""Who holds the lock: written after the OS lock is taken, removed before it is released."""

Warn = Callable[[str], None]
"""Where a lock warning goes (a stale lock taken over)."""


def print_warning(message: str) -> None:
    """Print `warning: MESSAGE` to standard error (the default `Warn`)."""
    print(f"warning: {message}", file=sys.stderr)


def _command_line() -> str:
    """The command line of this process, the program by its name (`prefbench run --out runs/x`)."""
    words = list(sys.orig_argv if sys.argv[:1] == ["-c"] else sys.argv) or ["python"]
    return shlex.join([Path(words[0]).name, *words[1:]])


def _process_running(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


@dataclass(frozen=True)
class LockHolder:
    """The process that holds (or last held) a run folder's lock."""

    pid: int
    host: str
    command: str
    since: str
    """ISO 8601 time (UTC) the lock was taken."""

    @classmethod
    def this_process(cls) -> "LockHolder":
        """The holder record of this process, as of now."""
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            command=_command_line(),
            since=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    @classmethod
    def read(cls, path: Path) -> "LockHolder | None":
        """The holder recorded in `path`; None when the file is absent or unreadable."""
        try:
            raw = loads_json(path.read_text("utf-8"))
            return cls(
                pid=int(raw["pid"]),
                host=str(raw["host"]),
                command=str(raw["command"]),
                since=str(raw["since"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        """`pid 123 on host h (`prefbench run ...`) since 2026-...`."""
        return f"pid {self.pid} on host {self.host} (`{self.command}`) since {self.since}"

    def is_this_process(self) -> bool:
        """Whether the holder is this very process."""
        return self.pid == os.getpid() and self.host == socket.gethostname()

    def gone(self) -> bool:
        """Whether the holder is known to have ended: same host and its pid not running."""
        return self.host == socket.gethostname() and not _process_running(self.pid)


class RunFolderLocked(PrefbenchInputError):
    """Another process writes this run folder (exit code 2)."""

    def __init__(self, root: Path, holder: LockHolder | None, released: bool = False) -> None:
        self.root = root
        self.holder = holder
        holder_file = root / HOLDER_FILE
        if released and holder is not None:
            message = (
                f"{root} was locked by {holder.describe()}, which runs on another host or "
                f"still has that pid, so this process cannot tell whether it has ended. If it "
                f"has, delete {holder_file} and run again."
            )
        else:
            who = holder.describe() if holder else "another process (not yet named in .lock.json)"
            message = (
                f"{root} is in use by {who}: one command at a time writes a run folder. Wait "
                f"for it to finish, or stop it (a stopped run resumes from where it was)."
            )
        super().__init__(message)


@dataclass
class _Entry:
    lock: FileLock
    holds: int


_HELD: dict[Path, _Entry] = {}
_HELD_GUARD = threading.Lock()
# a forked child holds nothing (filelock closes its copy of the descriptor); it must not remove
# the parent's holder file when it ends
os.register_at_fork(after_in_child=_HELD.clear)


class RunLockHold:
    """One hold of a run folder's lock; `release()` ends it (once; later calls do nothing)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._released = False

    def release_with(self, owner: object) -> None:
        """End this hold when `owner` is garbage-collected, at the latest when the process exits."""
        weakref.finalize(owner, self.release)

    def release(self) -> None:
        """End this hold; the OS lock and holder file go when the process's last hold ends."""
        with _HELD_GUARD:
            if self._released:
                return
            self._released = True
            entry = _HELD.get(self.root)
            if entry is None:
                return
            entry.holds -= 1
            if entry.holds > 0:
                return
            del _HELD[self.root]
            (self.root / HOLDER_FILE).unlink(missing_ok=True)
            entry.lock.release(force=True)


def _take_over_if_stale(root: Path, warn: Warn) -> None:
    """After the OS lock is taken: check the holder file a previous holder may have left."""
    holder = LockHolder.read(root / HOLDER_FILE)
    if holder is None or holder.is_this_process():
        return
    if not holder.gone():
        raise RunFolderLocked(root, holder, released=True)
    warn(
        f"{root}: taking over the lock left by {holder.describe()}; that process is no longer "
        "running (it was stopped before it could release the lock)."
    )


def acquire_run_lock(root: Path, warn: Warn = print_warning) -> RunLockHold:
    """Hold `root`'s lock (the folder is created if needed); re-entrant within this process.

    Raises:
        RunFolderLocked: Another process holds it, or left a holder file this process cannot
            prove stale (another host, or its pid still running).
    """
    root = Path(root).resolve()
    with _HELD_GUARD:
        entry = _HELD.get(root)
        if entry is not None:
            entry.holds += 1
            return RunLockHold(root)
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(root / LOCK_FILE, thread_local=False)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            holder = LockHolder.read(root / HOLDER_FILE)
            # a gone holder's file is the previous one's: the new holder has not written yet
            raise RunFolderLocked(root, None if holder and holder.gone() else holder) from None
        try:
            _take_over_if_stale(root, warn)
            holder = LockHolder.this_process()
            atomic_write_text(root / HOLDER_FILE, json.dumps(asdict(holder), indent=2) + "\n")
        except BaseException:
            lock.release(force=True)
            raise
        _HELD[root] = _Entry(lock, holds=1)
        return RunLockHold(root)


@contextmanager
def run_lock(root: Path, warn: Warn = print_warning) -> Iterator[RunLockHold]:
    """Hold `root`'s lock for a `with` block (see `acquire_run_lock`)."""
    hold = acquire_run_lock(root, warn)
    try:
        yield hold
    finally:
        hold.release()


def refuse_if_locked(root: Path, warn: Warn = print_warning) -> None:
    """Raise `RunFolderLocked` when another process holds `root`'s lock; hold nothing after.

    For commands that write only through their own locking (the annotation server's SQLite
    database) but must not start while another command rewrites the folder.
    """
    acquire_run_lock(root, warn).release()
