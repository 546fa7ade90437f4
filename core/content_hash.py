"""Content hashes of files and model folders: what a model is, wherever it lies.

Stage keys name a model by what its files hold, never by where they lie or when they were
written (docs/portability.md), so a copied run folder, another clone or another machine
holding the same weights computes the same keys. Hashing gigabytes once is fine, on every
run it is not: a file's sha256 is kept in the user cache (`<cache>/hashes/`, see
`prefbench.core.user_cache`), keyed by the file's resolved path and valid while its size,
modification time and inode are unchanged, so a re-run only stats the files. A file in the
Hugging Face cache costs nothing: a snapshot's large files are links to `blobs/<sha256>`,
named by the sha256 of their content (their Git LFS object id).
"""

import hashlib
import json
import re
from pathlib import Path

from prefbench.core.atomic import atomic_write_text
from prefbench.core.fingerprint import fingerprint
from prefbench.core.user_cache import cache_root

__all__ = ["HASH_FOLDER", "file_sha256", "model_files", "model_folder_sha256"]

HASH_FOLDER = "hashes"
"""The user cache's folder of known file hashes (one small JSON file per hashed file)."""
WEIGHT_SUFFIXES = (".safetensors",)
"""Weight files loaders prefer: when a folder has any, older formats beside them are unused."""
FALLBACK_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".gguf")
"""Weight files of folders without safetensors."""
SIDE_SUFFIXES = (".json", ".model", ".txt", ".tiktoken", ".jinja", ".py")
"""Config, tokenizer, chat template and remote-code files: they change what a model answers."""
INDEX_SUFFIX = ".index.json"
"""A sharded checkpoint's index (`model.safetensors.index.json`): its `weight_map` names the
shards the loaders read."""
IGNORED_NAMES = frozenset({"prefbench-conversion.json"})
"""prefbench's own bookkeeping in a converted folder, not part of the model."""
_LFS_BLOB = re.compile(r"[0-9a-f]{64}")

_known: dict[str, tuple[tuple[int, int, int], str]] = {}
"""This process's hashes: resolved path → (size, mtime, inode), sha256."""


def file_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """The sha256 (hex) of a file's bytes, computed once per file version.

    Links are followed. A file of the Hugging Face cache (`…/blobs/<64 hex>`) is named by
    its sha256 and is not read. Otherwise the hash is looked up in the user cache
    (`cache_dir`, default `prefbench.core.user_cache.cache_root()`) and computed and stored
    there when the file's size, modification time or inode changed since; a cache that
    cannot be written only costs hashing again next time.
    """
    resolved = Path(path).resolve()
    status = resolved.stat()
    state = (status.st_size, status.st_mtime_ns, status.st_ino)
    known = _known.get(str(resolved))
    if known is not None and known[0] == state:
        return known[1]
    if resolved.parent.name == "blobs" and _LFS_BLOB.fullmatch(resolved.name):
        digest = resolved.name
    else:
        entry = _entry_path(resolved, cache_dir)
        digest = _stored(entry, resolved, state)
        if digest is None:
            digest = _hash(resolved)
            _store(entry, resolved, state, digest)
    _known[str(resolved)] = (state, digest)
    return digest


def model_files(folder: Path) -> list[Path]:
    """The files of a model folder that decide its answers, by name.

    The weights (the shards a `*.index.json` names, else every `*.safetensors`, else the
    older formats) and the config, tokenizer and template files beside them; not README,
    licence, hidden files, sub-folders (`original/` checkpoints no loader reads) or
    prefbench's conversion marker.
    """
    files = [
        path
        for path in sorted(Path(folder).iterdir())
        if path.is_file() and not path.name.startswith(".") and path.name not in IGNORED_NAMES
    ]
    indexed = _indexed_shards(files)
    weights = [path for path in files if path.name in indexed] if indexed else []
    for suffixes in (WEIGHT_SUFFIXES, FALLBACK_WEIGHT_SUFFIXES):
        weights = weights or [path for path in files if path.suffix in suffixes]
    side = [path for path in files if path.suffix in SIDE_SUFFIXES]
    return sorted(set(weights) | set(side))


def model_folder_sha256(folder: Path, cache_dir: Path | None = None) -> str:
    """One sha256 over a model folder's `model_files`, by file name and content.

    Two folders holding the same files (a Hugging Face snapshot and a copy of it in
    `/models/…`, a folder on another machine) have the same hash.
    """
    return fingerprint({path.name: file_sha256(path, cache_dir) for path in model_files(folder)})


def _indexed_shards(files: list[Path]) -> set[str]:
    """The shard names the folder's checkpoint indexes name (empty without an index)."""
    shards: set[str] = set()
    for index in (path for path in files if path.name.endswith(INDEX_SUFFIX)):
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(weight_map, dict):
            shards |= {str(name) for name in weight_map.values()}
    return shards


def _hash(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _entry_path(resolved: Path, cache_dir: Path | None) -> Path:
    name = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()
    return cache_root(cache_dir) / HASH_FOLDER / name[:2] / f"{name}.json"


def _stored(entry: Path, resolved: Path, state: tuple[int, int, int]) -> str | None:
    """The stored hash of this file version, or None."""
    try:
        stored = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict):
        return None
    same = stored.get("path") == str(resolved) and stored.get("state") == list(state)
    digest = stored.get("sha256")
    return digest if same and isinstance(digest, str) else None


def _store(entry: Path, resolved: Path, state: tuple[int, int, int], digest: str) -> None:
    record = {"path": str(resolved), "state": list(state), "sha256": digest}
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(entry, json.dumps(record) + "\n")
    except OSError:
        pass  # a read-only cache: the hash is computed again next time
