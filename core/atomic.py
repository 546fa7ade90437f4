"""Atomic, durable file and folder writes: a reader never sees a half-written result.

Every write goes to a new name beside its target and is renamed over it; the data is
fsynced before the rename and the folder after it, so a power cut or a kill leaves the old
content or the new, never a mix. New files and folders get the user's umask (0666 / 0777
minus umask), like a plain `open()` or `mkdir`.

- :func:`atomic_write_text`: one text file.
- :func:`atomic_file`: one file written by someone else's writer (e.g. inspect's log writer).
- :func:`atomic_directory`: a folder that appears complete or not at all.
- :func:`atomic_version` / :func:`installed_version`: a folder that is *replaced* in one
  step: each version is written to its own folder and a symbolic link switched to it.

A write that fails (disk full included) removes its temporary file and raises `OSError`
with `filename` set to the target, so the message can name the file.
"""

import errno
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefbench.core.safe_names import inside

__all__ = [
    "DISK_FULL_ERRNOS",
    "NO_LINK_ERRNOS",
    "PREVIOUS_VERSION",
    "PRIVATE_FILE_MODE",
    "StagedFiles",
    "atomic_directory",
    "atomic_file",
    "atomic_version",
    "atomic_write_text",
    "fsync_directory",
    "fsync_tree",
    "installed_version",
    "remove_old_versions",
]

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})
"""`OSError.errno` values of a write that failed for want of space (disk, quota, file size)."""

NO_LINK_ERRNOS = frozenset({errno.EPERM, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})
"""`OSError.errno` values of `os.symlink` on a file system that has no symbolic links."""

PRIVATE_FILE_MODE = 0o600
"""Mode of files that hold secrets (invite tokens): read and written by their owner only."""

PREVIOUS_VERSION = "previous"
"""Name, inside a versions folder, of a plain folder moved aside to be replaced by a link."""


def fsync_directory(folder: Path) -> None:
    """Flush `folder`'s entries (names created, renamed or removed) to disk."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # e.g. a platform that cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under `folder` (itself included) to disk."""
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_directory(Path(root))


def _make_folder(folder: Path) -> None:
    """Create `folder` and its missing parents (umask applied), each made durable."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        try:
            created.mkdir()
        except FileExistsError:
            if not created.is_dir():
                raise
        fsync_directory(created.parent)


def _fresh_name(folder: Path, prefix: str, suffix: str = "") -> Path:
    """An unused path in `folder` (time-ordered, with a random part)."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    return folder / f"{prefix}{stamp}-{secrets.token_hex(4)}{suffix}"


def _new_file(folder: Path, prefix: str, mode: int = 0o666) -> tuple[int, Path]:
    """Create an empty temporary file in `folder` with `mode` less the umask; fd and path."""
    while True:
        path = _fresh_name(folder, prefix, ".tmp")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), path
        except FileExistsError:
            continue


def _new_folder(folder: Path, prefix: str, suffix: str = "") -> Path:
    """Create an empty folder in `folder` with the umask's mode; its path."""
    while True:
        path = _fresh_name(folder, prefix, suffix)
        try:
            path.mkdir(mode=0o777)
            return path
        except FileExistsError:
            continue


def _naming(error: OSError, path: Path) -> OSError:
    """`error` with `filename` set to `path` when it names no file (e.g. a failed write)."""
    if error.filename is None and error.errno is not None:
        return OSError(error.errno, error.strerror, str(path))
    return error


def _remove(path: Path) -> None:
    """Remove a file, link or folder; nothing if absent."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str, mode: int = 0o666) -> None:
    """Write `text` (UTF-8) to `path` through a temporary file in the same folder and a rename.

    `mode` (less the umask) is the new file's: `PRIVATE_FILE_MODE` for secrets.
    """
    with atomic_file(path, mode) as temporary:
        temporary.write_text(text, encoding="utf-8")


def _replace_durably(temporary: Path, path: Path) -> None:
    """Flush `temporary`, rename it over `path` and flush the folder's entries."""
    fd = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_directory(path.parent)


@contextmanager
def atomic_file(path: Path, mode: int = 0o666) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; on success it is renamed over `path`.

    For writers that take a file name (an inspect log writer, say). The temporary file
    exists, empty, with `mode` less the umask (`PRIVATE_FILE_MODE`: only the owner may read
    it); on any exception it is removed and `path` is left as it was. An `OSError` that
    names no file (a failed write) is given `path`'s name.
    """
    path = Path(path)
    _make_folder(path.parent)
    fd, temporary = _new_file(path.parent, f".{path.name}.", mode)
    os.close(fd)
    try:
        yield temporary
        _replace_durably(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise _naming(error, path) from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class StagedFiles:
    """Several files written under temporary names, renamed into place only when all are done.

    `new(path)` gives a temporary file beside `path` to write; `install()` renames every one
    over its target (each rename atomic and flushed); `discard()`, or leaving a `with` block
    by an exception, removes them and leaves every target as it was. For a change that must
    follow another commit (e.g. judge logs rewritten only once a database transaction holds).
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def new(self, path: Path, mode: int = 0o666) -> Path:
        """An empty temporary file beside `path` (mode less the umask), to be renamed over it."""
        path = Path(path)
        _make_folder(path.parent)
        fd, temporary = _new_file(path.parent, f".{path.name}.", mode)
        os.close(fd)
        self._staged.append((temporary, path))
        return temporary

    @property
    def targets(self) -> list[Path]:
        """The files that `install()` replaces, in the order they were staged."""
        return [path for _, path in self._staged]

    def install(self) -> None:
        """Rename every staged file over its target, in the order staged."""
        while self._staged:
            temporary, path = self._staged[0]
            try:
                _replace_durably(temporary, path)
            except OSError as error:
                raise _naming(error, path) from error
            self._staged.pop(0)

    def discard(self) -> None:
        """Remove every staged file not installed yet."""
        for temporary, _ in self._staged:
            temporary.unlink(missing_ok=True)
        self._staged.clear()

    def __enter__(self) -> "StagedFiles":
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self.discard()


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; on success it is renamed to `final`.

    On any exception (Ctrl-C included) the temporary folder is removed and `final` is
    left as it was. A new `final` appears in one rename. An existing `final` is replaced
    only after the new one is complete, but by two renames: a kill between them leaves it
    at `.NAME.old`. Use :func:`atomic_version` for a folder that is replaced.
    """
    final = Path(final)
    _make_folder(final.parent)
    staging = _new_folder(final.parent, f".{final.name}.", ".tmp")
    try:
        yield staging
        fsync_tree(staging)
        if final.exists():
            retired = final.with_name(f".{final.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            os.replace(final, retired)
            os.replace(staging, final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, final)
        fsync_directory(final.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def installed_version(link: Path, versions: Path) -> Path:
    """The folder to read what :func:`atomic_version` installed at `link`.

    `link` itself, except in the one moment of replacing a plain folder at `link` by a
    link, when a kill leaves no `link` and the old folder at `versions/previous`: then that.
    """
    link = Path(link)
    previous = Path(versions) / PREVIOUS_VERSION
    if not link.exists() and not link.is_symlink() and previous.is_dir():
        return previous
    return link


@contextmanager
def atomic_version(link: Path, versions: Path, *, root: Path) -> Iterator[Path]:
    """Yield a new, empty folder in `versions`; on success `link` points to it, in one step.

    `link` and `versions` must lie inside `root` (the run folder), as written and with links
    followed (`prefbench.core.safe_names.inside`); otherwise `PathOutsideRoot` is raised
    before anything is created, moved or removed.

    Write the whole new version into the yielded folder. When the block ends without an
    exception, its files are flushed to disk and a symbolic link (relative) replaces `link`
    by one rename: a reader of `link` sees the old version or the new one, whatever moment a
    kill or power cut strikes. Old versions, and leftovers of interrupted installs, are
    removed afterwards (:func:`remove_old_versions`). On an exception the new folder is
    removed and `link` is untouched.

    A plain folder at `link` (written before versions existed) is first moved to
    `versions/previous`; :func:`installed_version` reads it there if a kill strikes before
    the link is in place. On a file system without symbolic links `link` stays a plain
    folder: the old one is moved to `versions/previous`, the new one renamed to `link`, and
    readers of :func:`installed_version` still see one or the other. One writer at a time
    (the run-folder lock).
    """
    link, versions = inside(root, Path(link)), inside(root, Path(versions), follow=True)
    _make_folder(versions)
    fresh = _new_folder(versions, "v")
    try:
        yield fresh
        fsync_tree(fresh)
        fsync_directory(versions)
        if link.is_dir() and not link.is_symlink():
            previous = versions / PREVIOUS_VERSION
            _remove(previous)
            os.replace(link, previous)
            fsync_directory(versions)
        pointer = _fresh_name(versions, ".link-")
        try:
            os.symlink(os.path.relpath(fresh, link.parent), pointer)
        except OSError as error:  # a file system without links (exFAT, some shares)
            if error.errno not in NO_LINK_ERRNOS:
                raise
            os.replace(fresh, link)  # `link` is absent here: its folder is `previous`
        else:
            os.replace(pointer, link)
        fsync_directory(link.parent)
    except BaseException:
        if not (link.is_symlink() and link.resolve() == fresh.resolve()):
            shutil.rmtree(fresh, ignore_errors=True)
        raise
    remove_old_versions(link, versions, root=root)


def remove_old_versions(link: Path, versions: Path, *, root: Path) -> None:
    """Remove what `versions` holds besides the version `link` names.

    That is old versions and the leftovers of interrupted installs. Nothing is removed
    while `link` is missing or dangling (`versions/previous` may then be the one to read).
    `link` and `versions` must lie inside `root` (else `PathOutsideRoot`, nothing removed).
    """
    link, versions = inside(root, Path(link)), inside(root, Path(versions), follow=True)
    if not versions.is_dir() or not link.exists():
        return
    keep = link.resolve() if link.is_symlink() else None
    for entry in versions.iterdir():
        if keep is None or entry.resolve() != keep:
            _remove(entry)
    fsync_directory(versions)
