"""Raw Enron messages from the CMU corpus as distributed: a maildir folder, its tar.gz, its CSV.

Each reader streams `RawMessage`s (one raw RFC-822 message each) and `SourceProblem`s (a part
of the source that could not be read or was refused: a truncated archive, an unreadable file,
a CSV row without its fields, a symbolic link or other non-regular file (never followed or
opened), a message over `MAX_MESSAGE_BYTES`). Nothing is held beyond one message. Messages
outside the wanted folders (by default the sent folders) come with ``raw_bytes=None`` so they
can be counted unread.

Layout: ``maildir/<mailbox>/<folder>/<n>.``, where ``<folder>`` may itself be nested
(``inbox/projects``). The tar holds the same paths; the CSV export has columns ``file``
(``allen-p/_sent_mail/1.``) and ``message`` (the raw text).
"""

import csv
import errno
import gzip
import os
import re
import stat
import sys
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prefbench.core.errors import PrefbenchInputError

SENT_FOLDERS = frozenset({"sent", "_sent_mail", "sent_items", "sent items"})
"""The sent-mail folder names of the CMU corpus (compared lower-cased)."""

CSV_COLUMNS = ("file", "message")
"""The columns the Enron CSV export (Kaggle ``emails.csv``) must have."""

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
"""The largest raw message read (10 MiB): a bigger file, tar member or CSV field is skipped
as ``oversized`` (the largest message of the CMU corpus is about 2 MiB, attachments
stripped)."""

_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NO_BLOCK = getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True)
class RawMessage:
    """One raw message file of a mailbox; `raw_bytes` is None when its folder was not wanted."""

    mailbox: str
    folder: str
    name: str
    raw_bytes: bytes | None
    source: str
    """Where it came from: a file path, ``tar:ARCHIVE:MEMBER`` or ``csv:FILE:row N``."""


@dataclass(frozen=True)
class SourceProblem:
    """A part of the source that could not be read (`reason`: ``unreadable``, ``truncated``...)."""

    source: str
    reason: str
    detail: str


EnronItem = RawMessage | SourceProblem
FolderFilter = Callable[[str], bool]


def is_sent_folder(folder: str) -> bool:
    """Whether a mailbox folder is one of the sent-mail folders (`SENT_FOLDERS`)."""
    return folder.strip().lower() in SENT_FOLDERS


def split_message_path(path: str) -> tuple[str, str, str] | None:
    """Split ``[.../]maildir/<mailbox>/<folder...>/<n>.`` into (mailbox, folder, name).

    Without a ``maildir`` component the first part is the mailbox. Returns None for a path
    with fewer than three parts after it (a folder entry, a stray file).
    """
    parts = [part for part in re.split(r"[\\/]+", path) if part and part != "."]
    if "maildir" in parts:
        parts = parts[parts.index("maildir") + 1 :]
    if len(parts) < 3:
        return None
    return parts[0], "/".join(parts[1:-1]), parts[-1]


def unsafe_path_problem(path: str, where: str) -> SourceProblem | None:
    """An ``unsafe_path`` problem for a message path with a ``..`` part, else None.

    ``maildir/../_sent_mail/1.`` would make ``..`` a mailbox, and so a user id; such a
    path means a crafted or damaged archive, and the message is not read.
    """
    if ".." not in re.split(r"[\\/]+", path):
        return None
    return SourceProblem(where, "unsafe_path", f"the path {path!r} has a '..' part; not read")


def iter_enron_source(
    source: Path, *, wanted_folder: FolderFilter = is_sent_folder
) -> Iterator[EnronItem]:
    """Stream raw messages from a maildir folder, a ``.tar.gz``/``.tgz``, or a ``.csv`` export.

    Raises `PrefbenchInputError` when the source does not exist or is of none of these kinds.
    """
    source = Path(source)
    name = source.name.lower()
    if source.is_dir():
        return iter_maildir(source, wanted_folder=wanted_folder)
    if not source.exists():
        raise PrefbenchInputError(
            f"{source}: not found; pass the CMU `maildir` folder, `enron_mail_*.tar.gz` or "
            f"the CSV export (columns file,message) as --source"
        )
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return iter_tar(source, wanted_folder=wanted_folder)
    if name.endswith(".csv"):
        return iter_csv_export(source, wanted_folder=wanted_folder)
    raise PrefbenchInputError(
        f"{source}: unknown Enron source kind; expected a maildir folder, a .tar.gz/.tgz "
        f"archive or a .csv export (a .jsonl/.parquet file is read as the Enron-42k release)"
    )


def iter_maildir(
    root: Path, *, wanted_folder: FolderFilter = is_sent_folder
) -> Iterator[EnronItem]:
    """Stream the messages under a maildir folder (or a folder holding ``maildir/``).

    Mailboxes, folders and files are visited in a stable order (numeric file names in number
    order). Symbolic links (to files or folders) are not followed and special files (FIFOs,
    devices) are not opened; each is a `SourceProblem` (``symlink``, ``not_regular_file``), as
    is a file over `MAX_MESSAGE_BYTES` (``oversized``) or one that cannot be read
    (``unreadable``); see `read_message_file`.
    """
    root = Path(root)
    if (root / "maildir").is_dir():
        root = root / "maildir"
    for directory, subdirectories, files in os.walk(root):
        linked = [name for name in subdirectories if (Path(directory) / name).is_symlink()]
        for name in sorted(linked, key=natural_key):
            yield SourceProblem(
                str(Path(directory) / name),
                "symlink",
                "a symbolic link to a folder; not followed (copy the folder in instead)",
            )
        subdirectories[:] = sorted(
            (name for name in subdirectories if name not in linked), key=natural_key
        )
        relative = Path(directory).relative_to(root)
        if len(relative.parts) < 2:
            continue
        mailbox, folder = relative.parts[0], "/".join(relative.parts[1:])
        wanted = wanted_folder(folder)
        for name in sorted(files, key=natural_key):
            path = Path(directory) / name
            if not wanted:
                yield RawMessage(mailbox, folder, name, None, str(path))
                continue
            raw = read_message_file(path)
            if isinstance(raw, SourceProblem):
                yield raw
                continue
            yield RawMessage(mailbox, folder, name, raw, str(path))


def read_message_file(path: Path) -> bytes | SourceProblem:
    """The bytes of one message file, or why it was not read.

    A symbolic link is never followed (``symlink``); a FIFO, socket or device is never read
    (``not_regular_file``: reading a FIFO would block forever); a file over
    `MAX_MESSAGE_BYTES` is ``oversized``; an I/O error is ``unreadable``.
    """
    try:
        info = os.lstat(path)
    except OSError as error:
        return SourceProblem(str(path), "unreadable", error.strerror or str(error))
    refused = _refuse_file(path, info)
    if refused is not None:
        return refused
    try:
        # O_NOFOLLOW and O_NONBLOCK: a file swapped for a link or a FIFO after lstat is
        # refused too, instead of followed or waited on.
        descriptor = os.open(path, os.O_RDONLY | _NO_FOLLOW | _NO_BLOCK)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return SourceProblem(str(path), "symlink", "a symbolic link; not followed")
        return SourceProblem(str(path), "unreadable", error.strerror or str(error))
    try:
        with os.fdopen(descriptor, "rb") as handle:
            refused = _refuse_file(path, os.fstat(handle.fileno()))
            if refused is not None:
                return refused
            raw = handle.read(MAX_MESSAGE_BYTES + 1)
    except OSError as error:
        return SourceProblem(str(path), "unreadable", error.strerror or str(error))
    if len(raw) > MAX_MESSAGE_BYTES:
        return _oversized(str(path), len(raw))
    return raw


def _refuse_file(path: Path, info: os.stat_result) -> SourceProblem | None:
    """Why a file with this `lstat`/`fstat` result is not read, or None when it may be."""
    if stat.S_ISLNK(info.st_mode):
        return SourceProblem(
            str(path), "symlink", "a symbolic link; not followed (copy the file in instead)"
        )
    if not stat.S_ISREG(info.st_mode):
        return SourceProblem(
            str(path),
            "not_regular_file",
            f"a {_file_kind(info.st_mode)}, not a regular file; not read",
        )
    if info.st_size > MAX_MESSAGE_BYTES:
        return _oversized(str(path), info.st_size)
    return None


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "FIFO (named pipe)",
        stat.S_ISSOCK: "socket",
        stat.S_ISCHR: "character device",
        stat.S_ISBLK: "block device",
        stat.S_ISDIR: "folder",
    }
    return next((name for test, name in kinds.items() if test(mode)), "special file")


def _oversized(source: str, size: int) -> SourceProblem:
    return SourceProblem(
        source,
        "oversized",
        f"{size} bytes, over the {MAX_MESSAGE_BYTES} byte limit of one message; "
        f"not read (MAX_MESSAGE_BYTES in tasks/corpora/enron_reader.py)",
    )


def iter_tar(archive: Path, *, wanted_folder: FolderFilter = is_sent_folder) -> Iterator[EnronItem]:
    """Stream the messages of a CMU tar(.gz) without unpacking it (tarfile stream mode ``r|``).

    A truncated or corrupt archive ends the stream with a ``truncated`` `SourceProblem`; the
    messages read before it are kept. A member that is a link or a special file is a
    ``symlink``/``not_regular_file`` problem (never followed); a member over
    `MAX_MESSAGE_BYTES` is ``oversized`` and not read.
    """
    compressed = archive.name.lower().endswith(("gz", "tgz"))
    try:
        # gzip.open, unlike tarfile's own "r|gz", notices a stream cut between two members.
        with (
            gzip.open(archive) if compressed else open(archive, "rb") as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
        ):
            for member in tar:
                if member.isdir():
                    continue
                where = f"tar:{archive}:{member.name}"
                unsafe = unsafe_path_problem(member.name, where)
                if unsafe is not None:
                    yield unsafe
                    continue
                parts = split_message_path(member.name)
                if parts is None:
                    continue
                mailbox, folder, name = parts
                if not wanted_folder(folder):
                    yield RawMessage(mailbox, folder, name, None, where)
                    continue
                refused = _refuse_member(member, where)
                if refused is not None:
                    yield refused
                    continue
                handle = tar.extractfile(member)
                raw = handle.read() if handle is not None else b""
                yield RawMessage(mailbox, folder, name, raw, where)
            # tarfile takes a short last header for the end; draining the gzip stream to its
            # end-of-stream marker raises EOFError when it was cut between two members.
            while stream.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        yield SourceProblem(
            f"tar:{archive}", "truncated", f"the archive ends early or is corrupt ({error})"
        )


def _refuse_member(member: tarfile.TarInfo, where: str) -> SourceProblem | None:
    """Why a tar member is not read (a link, a special file, too big), or None."""
    if member.issym() or member.islnk():
        return SourceProblem(
            where, "symlink", f"a link to {member.linkname!r} in the archive; not followed"
        )
    if not member.isfile():
        return SourceProblem(where, "not_regular_file", "a special file in the archive; not read")
    if member.size > MAX_MESSAGE_BYTES:
        return _oversized(where, member.size)
    return None


def iter_csv_export(
    path: Path, *, wanted_folder: FolderFilter = is_sent_folder
) -> Iterator[EnronItem]:
    """Stream the messages of the CSV export (columns ``file``, ``message``), row by row.

    A UTF-8 byte-order mark before the header is accepted. Raises `PrefbenchInputError` when
    the header lacks a needed column (naming the file, the header found and the one
    expected). A row without a file path or message is a ``bad_row`` `SourceProblem`, a
    message over `MAX_MESSAGE_BYTES` an ``oversized`` one; a file that ends inside a quoted
    field is a ``truncated`` one (the rows before it are kept).
    """
    raise_field_size_limit()
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        header, columns = read_csv_header(path, reader, CSV_COLUMNS)
        for item in iter_csv_rows(path, reader, len(header)):
            if isinstance(item, SourceProblem):
                yield item
                continue
            row_number, where, row = item
            file_path, message = row[columns["file"]], row[columns["message"]]
            unsafe = unsafe_path_problem(file_path, where)
            if unsafe is not None:
                yield unsafe
                continue
            parts = split_message_path(file_path)
            if parts is None or not message:
                yield SourceProblem(where, "bad_row", f"no message path or text ({file_path!r})")
                continue
            mailbox, folder, name = parts
            if not wanted_folder(folder):
                yield RawMessage(mailbox, folder, name, None, where)
                continue
            raw = message.encode("utf-8", errors="surrogateescape")
            if len(raw) > MAX_MESSAGE_BYTES:
                yield _oversized(where, len(raw))
                continue
            yield RawMessage(mailbox, folder, name, raw, where)


def iter_csv_rows(
    path: Path, reader: Iterator[list[str]], fields: int, skip_blank: bool = False
) -> Iterator[tuple[int, str, list[str]] | SourceProblem]:
    """The data rows after the header as `(row number, where, row)`, or `SourceProblem`s.

    A row with fewer than `fields` fields or malformed quoting is a ``bad_row``; a file that
    ends inside a quoted field is ``truncated`` and ends the stream (earlier rows are kept).
    `skip_blank` passes over empty lines silently.
    """
    row_number = 1
    while True:
        row_number += 1
        where = f"csv:{path}:row {row_number}"
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if "end of data" not in str(error):
                yield SourceProblem(where, "bad_row", f"malformed CSV quoting ({error})")
                continue
            yield SourceProblem(where, "truncated", f"the CSV ends inside a row ({error})")
            return
        if skip_blank and not row:
            continue
        if len(row) < fields:
            yield SourceProblem(where, "bad_row", f"{len(row)} fields, header has {fields}")
            continue
        yield row_number, where, row


def read_csv_header(
    path: Path, reader: Iterator[list[str]], needed: tuple[str, ...]
) -> tuple[list[str], dict[str, int]]:
    """The header row of a CSV file and the index of each needed column (`require_columns`).

    An empty file has an empty header; an unreadable one raises `PrefbenchInputError`.
    """
    try:
        header = next(reader)
    except StopIteration:
        header = []
    except csv.Error as error:
        raise PrefbenchInputError(f"{path}: not a readable CSV file ({error})") from None
    return header, require_columns(path, header, needed)


def require_columns(path: Path, header: list[str], needed: tuple[str, ...]) -> dict[str, int]:
    r"""Map each needed column to its index; raise `PrefbenchInputError` naming found and needed.

    Column names are compared without case and surrounding spaces; a name holding invisible
    or control characters is shown escaped in the error (a zero-width space as ``'file\u200b'``).
    """
    position = {name.strip().lower(): index for index, name in enumerate(header)}
    missing = [name for name in needed if name not in position]
    if missing:
        found = ", ".join(_shown_column(name) for name in header) or "none"
        raise PrefbenchInputError(
            f"{path}: the CSV lacks the column(s) {', '.join(missing)}; found: {found}; "
            f"needed: {', '.join(needed)}. Pass the original export, whose first line names "
            f"these columns"
        )
    return {name: position[name] for name in needed}


def _shown_column(name: str) -> str:
    """A header name as typed, or escaped when it holds a character one cannot see."""
    name = name.strip()
    return name if name.isprintable() else ascii(name)


def raise_field_size_limit() -> None:
    """Let the csv module read fields as large as the platform allows (huge articles/emails)."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10


def natural_key(name: str) -> tuple:
    """Sort key putting ``2.`` before ``10.`` (numbers compared as numbers)."""
    return tuple(
        (0, int(piece), "") if piece.isdigit() else (1, 0, piece)
        for piece in re.split(r"(\d+)", name)
    )
