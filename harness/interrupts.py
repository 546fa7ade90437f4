"""Ctrl-C and SIGTERM end a run or a dry run within seconds, never hang, hold no server.

`ended_by_signals` makes SIGINT and SIGTERM raise `KeyboardInterrupt` in the main thread, so
every `finally` block (the pipeline closes its models and stops the servers it started) runs
and the command can exit with 128 + the signal's number (130, 143; `received`). Cleanup may
not finish, and the Python handler may not even run for a while: inspect's control server
(uvicorn) takes over SIGINT and SIGTERM while an eval runs and hands a signal on only once it
has shut down, which waits for the event loop; an event loop torn down mid-eval can wait
forever on a worker thread. So with a `deadline` a watchdog thread learns of a signal from
the C handler itself (`signal.set_wakeup_fd`, whoever's Python handler is installed) and ends
the process that many seconds later whatever it is doing: it terminates the process's
children (servers it started; killed if they outlive a short wait) and exits with 128 + the
signal's number, without Python's shutdown (which would wait on non-daemon threads). A second
signal does so at once. The CLI installs it with a deadline (`GRACE_SECONDS`); `run_benchmark`
installs it without one when nothing did (a notebook keeps its process), and nests in the CLI's.
"""

import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

GRACE_SECONDS = 3.0
"""How long cleanup may take after a signal before the process is ended (the CLI's)."""
CHILD_WAIT_SECONDS = 0.5
"""How long terminated child processes get before they are killed."""
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: list[int] = []
_installed: list[float | None] = []


def received() -> int | None:
    """The signal that interrupted the process (SIGINT or SIGTERM), or None."""
    return _received[0] if _received else None


def exit_code(default: int) -> int:
    """128 + the signal's number when a signal interrupted the process, else `default`."""
    signum = received()
    return default if signum is None else 128 + signum


def end_children() -> None:
    """Terminate this process's child processes (and theirs); kill those still alive soon."""
    import psutil

    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        try:
            child.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(children, timeout=CHILD_WAIT_SECONDS)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            pass


def exit_now(code: int) -> NoReturn:
    """End the process at once with `code`: output flushed, children ended, no teardown.

    For a command a signal interrupted, once its own cleanup ran: Python's shutdown would
    collect every object the run made and wait on threads an interrupted eval left behind.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    end_children()
    os._exit(code)


def _end_now(signum: int) -> None:
    exit_now(128 + signum)


def _received_first(signum: int) -> int:
    """Remember the first interrupting signal; the one that counts."""
    if not _received:
        _received.append(signum)
        # an event loop torn down mid-eval leaves coroutines it never ran: not news
        warnings.filterwarnings("ignore", message="coroutine .* was never awaited")
    return _received[0]


class _Watchdog:
    """Ends the process `deadline` seconds after a first signal, or at a second one.

    It reads the signal numbers the C signal handler writes to its socket
    (`signal.set_wakeup_fd`), so it hears of a signal at once, even while another Python
    handler holds it or the main thread is busy.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.reader, self.writer = socket.socketpair()
        self.writer.setblocking(False)
        threading.Thread(target=self._watch, daemon=True, name="prefbench-exit").start()

    def _watch(self) -> None:
        ends_at: float | None = None
        while True:
            left = None if ends_at is None else max(ends_at - time.monotonic(), 0.001)
            self.reader.settimeout(left)
            try:
                data = self.reader.recv(64)
            except TimeoutError:
                _end_now(_received[0])
            except OSError:
                return  # closed
            if not data:
                return
            for signum in (number for number in data if number in SIGNALS):
                if ends_at is not None:
                    _end_now(_received[0])
                _received_first(signum)
                ends_at = time.monotonic() + self.deadline

    def close(self) -> None:
        """Stop watching (the block ended without a signal that counts)."""
        self.writer.close()
        self.reader.close()


@contextmanager
def ended_by_signals(deadline: float | None = None) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM raise `KeyboardInterrupt` (see the module).

    `deadline`: seconds after the first signal at which the process ends anyway (children
    terminated, exit 128 + signal); None: never (a second signal raises again). Nested in an
    active `ended_by_signals`, or outside the main thread, it changes nothing.
    """
    if _installed or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        _received_first(signum)
        raise KeyboardInterrupt

    _received.clear()
    previous = {signum: signal.signal(signum, handle) for signum in SIGNALS}
    watchdog = _Watchdog(deadline) if deadline is not None else None
    previous_fd = (
        signal.set_wakeup_fd(watchdog.writer.fileno(), warn_on_full_buffer=False)
        if watchdog is not None
        else None
    )
    _installed.append(deadline)
    try:
        yield
    finally:
        _installed.pop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if watchdog is not None and previous_fd is not None:
            signal.set_wakeup_fd(previous_fd)
            if received() is None:
                watchdog.close()
