"""Identifiers that become paths: one rule for their on-disk name, one check that paths stay put.

User ids, system, judge, corpus and dataset names, profile and annotator names come from
data (a records file, a corpus, a profile, a plug-in, a command line). Where one of them
names a file or folder, the name on disk is :func:`safe_name` of it, and the original stays
in the data, the manifests and the reports:

- a name that is already safe maps to itself, so run folders whose ids are plain
  (``allen-p``, ``naive_finetune``, ``demo``) keep their paths;
- any other becomes a readable slug plus ``-`` and a short hash of the original
  (``Jane Doe`` → ``jane-doe-8c2f0e1b7a``, ``../../x`` → ``x-5d41402abc``): never empty,
  never ``.`` or ``..``, no separator, no leading dot (which would hide it or collide with
  a folder such as ``.versions``), at most :data:`SAFE_NAME_LIMIT` characters, lower-case
  only, so two ids that differ only by case cannot collide on a case-insensitive disk.

Safe means: ASCII lower-case letters, digits, ``.``, ``_``, ``-``, ``@`` and ``+`` (so an
e-mail address such as ``phillip.allen@enron.com`` is its own name), starting with a letter
or digit, not ending with ``.``, and not a name Windows reserves (``con``, ``nul``, ``com1``,
...). :func:`safe_name` is idempotent, so a name read back from disk maps to itself.

:func:`inside` is the check every path built from data passes before anything is written
or removed there: lexically (``..``, an absolute part) and after following links, the path
must stay inside its root.
"""

import hashlib
import os
import re
import unicodedata
from pathlib import Path

from prefbench.core.errors import PrefbenchInputError

__all__ = [
    "SAFE_NAME_LIMIT",
    "PathOutsideRoot",
    "inside",
    "is_safe_name",
    "safe_child",
    "safe_name",
    "visible",
]

SAFE_NAME_LIMIT = 64
"""The longest on-disk name made from an identifier (characters, all ASCII)."""
HASH_LENGTH = 10
"""Hex digits of the original's SHA-256 appended to a slug (40 bits)."""

_SAFE = re.compile(r"[a-z0-9][a-z0-9._@+-]*")
_UNSAFE_RUN = re.compile(r"[^a-z0-9._@+-]+")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{digit}" for digit in range(10)}
    | {f"lpt{digit}" for digit in range(10)}
)


class PathOutsideRoot(PrefbenchInputError):
    """A path built from data would leave the folder it must stay in (exit code 2)."""


def is_safe_name(name: str) -> bool:
    """Whether `name` may be used as a file or folder name as it is (see the module)."""
    return (
        len(name) <= SAFE_NAME_LIMIT
        and _SAFE.fullmatch(name) is not None
        and not name.endswith(".")
        and name.split(".", 1)[0] not in _WINDOWS_RESERVED
    )


def safe_name(identifier: str) -> str:
    """The on-disk name of `identifier`: itself when safe, else a slug plus a short hash.

    The hash is of the whole original (UTF-8, lone surrogates included), so different
    identifiers get different names even when their slugs agree (``Alice``/``alice`` or
    ``a/b``/``a_b``). Works for any string, the empty one and NUL bytes included.
    """
    if is_safe_name(identifier):
        return identifier
    digest = hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()
    ascii_text = unicodedata.normalize("NFKD", identifier).encode("ascii", "ignore").decode()
    slug = _UNSAFE_RUN.sub("-", ascii_text.lower()).strip("._@+-")
    slug = slug[: SAFE_NAME_LIMIT - HASH_LENGTH - 1].rstrip("._@+-")
    if slug.split(".", 1)[0] in _WINDOWS_RESERVED:  # "nul.txt-…" is still NUL on Windows
        slug = slug.replace(".", "-", 1)
    return f"{slug}-{digest[:HASH_LENGTH]}" if slug else digest[:HASH_LENGTH]


def visible(text: str) -> str:
    r"""`text` with control and format characters shown as escapes (``\x00``, ``\u202e``).

    For error messages and terminals: a NUL byte or a right-to-left override in an id is
    seen, not silently dropped or allowed to reorder the line.
    """
    if all(unicodedata.category(char)[0] != "C" for char in text):
        return text
    return "".join(
        char if unicodedata.category(char)[0] != "C" else char.encode("unicode_escape").decode()
        for char in text
    )


def inside(root: Path, path: Path, *, follow: bool = False) -> Path:
    """`path`, checked to lie inside `root` (or be `root`), both as written and on disk.

    Lexically, `path` made absolute and normalized must start with `root` so (a ``..`` or
    an absolute part is caught before any file exists). On disk, the nearest existing
    folder of `path` must resolve, links followed, inside `root` resolved; `path` itself
    is followed only with `follow` (a folder whose entries will be removed), since it may
    be a link this program manages and replaces.

    Raises:
        PathOutsideRoot: `path` leaves `root`; the message names both.
    """
    root, path = Path(root), Path(path)
    base = os.path.normpath(os.path.abspath(root))
    target = os.path.normpath(os.path.abspath(path))
    if "\x00" in target or os.path.commonpath([base, target]) != base:
        raise PathOutsideRoot(
            f"refusing {visible(str(path))}: it lies outside {root}, the folder it must stay "
            "in (an id, name or file path in the data leads out of it; ids become safe names, "
            "so this is a bug or a tampered folder: report it)"
        )
    folder = Path(target).parent if target != base and not follow else Path(target)
    while not folder.exists() and folder != Path(base):
        folder = folder.parent
    real_base = os.path.realpath(base)
    real_folder = os.path.realpath(folder)
    if os.path.commonpath([real_base, real_folder]) != real_base:
        raise PathOutsideRoot(
            f"refusing {visible(str(path))}: its folder {folder} is a link (or inside one) "
            f"to {real_folder}, outside {root}; replace the link by a plain folder"
        )
    return path


def safe_child(root: Path, *identifiers: str) -> Path:
    """`root` / the safe name of each identifier in turn, checked to stay inside `root`."""
    path = Path(root).joinpath(*(safe_name(identifier) for identifier in identifiers))
    return inside(root, path)
