"""Files that travel: their sha256, and typed JSON documents read from outside.

A release lists every file it holds with its sha256 and size (`FileEntry`); `verify_files`
checks a folder against such a list (a changed, missing or unlisted file is an input error
naming it). `read_document` reads a JSON document (a release manifest, a submission) as a
regular file within a size limit and validates it against its pydantic model, naming the
file, the field and the fix on any error.
"""

import hashlib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from prefbench.core.bounded_input import loads_json, read_regular_file
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.safe_names import inside

__all__ = ["FileEntry", "file_entries", "read_document", "sha256_of", "verify_files"]

DOCUMENT_LIMIT = 512 * 1024 * 1024
"""The largest JSON document read (a submission holds every test output of one system)."""
Document = TypeVar("Document", bound=BaseModel)


class FileEntry(BaseModel):
    """One file of a release: its path (POSIX, relative to the release), sha256 and size."""

    model_config = ConfigDict(extra="forbid")

    path: str
    sha256: str
    bytes: int


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entries(root: Path, skip: frozenset[str] = frozenset()) -> list[FileEntry]:
    """Every regular file under `root` (but the relative paths in `skip`), sorted by path."""
    entries = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not path.is_symlink() and relative not in skip:
            entries.append(
                FileEntry(path=relative, sha256=sha256_of(path), bytes=path.stat().st_size)
            )
    return entries


def verify_files(root: Path, entries: list[FileEntry], skip: frozenset[str], fix: str) -> None:
    """Check that `root` holds exactly `entries` (but `skip`), each with its sha256.

    Raises:
        PrefbenchInputError: A listed file is missing, outside `root`, changed (its sha256
            differs, both named) or a file is there that the list does not name.
    """
    listed = set()
    for entry in entries:
        path = inside(root, root / entry.path)
        listed.add(entry.path)
        if not path.is_file() or path.is_symlink():
            raise PrefbenchInputError(f"{path} is listed in the manifest but missing: {fix}")
        found = sha256_of(path)
        if found != entry.sha256:
            raise PrefbenchInputError(
                f"{path} was changed after the release was made: sha256 {found[:16]}… where the "
                f"manifest says {entry.sha256[:16]}…: {fix}"
            )
    extra = [entry.path for entry in file_entries(root, skip) if entry.path not in listed]
    if extra:
        raise PrefbenchInputError(
            f"{root} holds files its manifest does not list: {extra[:5]} ({len(extra)} in all): "
            f"{fix}"
        )


def read_document(path: Path, model: type[Document], what: str, fix: str) -> Document:
    """The JSON document at `path` as `model`; an input error naming the file and field."""
    data = read_regular_file(path, what=what, fix=fix, limit=DOCUMENT_LIMIT)
    try:
        raw = loads_json(data)
    except ValueError as error:
        raise PrefbenchInputError(f"{what} {path} is not JSON ({error}): {fix}") from error
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(the document)"
        raise PrefbenchInputError(
            f"{what} {path} does not follow its schema: field {field}: {first['msg']} "
            f"({error.error_count()} error(s) in all): {fix}"
        ) from error
