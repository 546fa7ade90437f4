"""Fault injection for the crash and disk-full tests: a forked child killed at a chosen step,
or writing under a file-size limit."""

import itertools
import os
import resource
import signal
from collections.abc import Callable

__all__ = [
    "FILE_SYSTEM_CALLS",
    "kill_at_every_step",
    "limit_file_size",
    "run_killed_at",
    "run_with_file_size_limit",
]

FILE_SYSTEM_CALLS = ("open", "mkdir", "fsync", "rename", "replace", "symlink", "unlink", "rmdir")
"""The `os` functions counted as steps: every one that creates, flushes, renames or removes."""

MAX_STEPS = 2000
"""Bound on the steps of one action (a test of an action with more fails)."""


def run_killed_at(step: int, action: Callable[[], object]) -> bool:
    """Run `action` in a forked child that SIGKILLs itself right before file-system call `step`.

    Calls are counted over `FILE_SYSTEM_CALLS` (0-based). Returns True when the child was
    killed, False when `action` finished first (so `step` is past its last call). An
    exception in `action` fails the caller's test.
    """
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            _kill_before_call(step)
            action()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, f"the action failed (not a kill) at step {step}"
    return False


def _kill_before_call(step: int) -> None:
    counter = itertools.count()
    for name in FILE_SYSTEM_CALLS:
        original = getattr(os, name)

        def hooked(*args, _original=original, **kwargs):
            if next(counter) == step:
                os.kill(os.getpid(), signal.SIGKILL)
            return _original(*args, **kwargs)

        setattr(os, name, hooked)


def kill_at_every_step(
    prepare: Callable[[int], object],
    action: Callable[[object], object],
    check: Callable[[object], None],
) -> int:
    """Kill `action` at each of its steps in turn, each time on a fresh state; steps seen.

    For step 0, 1, 2, …: `state = prepare(step)` builds a fresh starting state, the action
    runs on it in a child killed before that step, then `check(state)` asserts what a kill
    may leave (and may re-run the action). Stops when the action finishes before the kill.
    """
    for step in itertools.count():
        assert step < MAX_STEPS, "the action has more steps than MAX_STEPS"
        state = prepare(step)
        if not run_killed_at(step, lambda state=state: action(state)):
            return step
        check(state)
    raise AssertionError("unreachable")


def run_with_file_size_limit(limit: int, action: Callable[[], object]) -> OSError | None:
    """Run `action` in a forked child whose files may not grow past `limit` bytes.

    SIGXFSZ is ignored there, so a write past the limit raises `OSError` (EFBIG), as a
    full disk raises ENOSPC. Returns that error as the child saw it (errno and file name),
    or None when the action finished.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        message = b""
        code = 0
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            action()
        except OSError as error:
            message = f"{error.errno}\n{error.filename}".encode()
        except BaseException:
            code = 1
        os.write(write_end, message)
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        message = reader.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the action failed otherwise"
    if not message:
        return None
    number, filename = message.split("\n", 1)
    return OSError(int(number), os.strerror(int(number)), None if filename == "None" else filename)


def limit_file_size(limit: int) -> Callable[[], None]:
    """A `preexec_fn` for `subprocess`: files may not grow past `limit` bytes (EFBIG)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return apply
