"""The adapter manifest: what an adapter was trained from, so it is never retrained needlessly.

Layout (docs/design.md §7): `artifacts/SYSTEM/USER/adapter/` (the PEFT adapter) and
`artifacts/SYSTEM/USER/manifest.json`, written last, after the adapter is in place: a
manifest exists only for a complete adapter.
"""

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from core.atomic import atomic_write_text
from core.errors import PrefbenchInputError

MANIFEST_FILE = "manifest.json"
ADAPTER_FOLDER = "adapter"


class AdapterManifest(BaseModel):
    """Inputs and training record of one per-user adapter."""

    model_config = ConfigDict(extra="forbid")

    system: str
    user: str
    base_model: str
    input_hash: str
    settings: dict[str, Any]
    examples: int
    losses: list[float]
    steps: int
    seconds: float
    details: dict[str, Any] = {}

    @property
    def adapter_hash(self) -> str:
        """Short content hash that names this adapter in caches and logs."""
        return self.input_hash[:16]


def user_artifacts(run_dir: Path, system: str, user: str) -> Path:
    """The folder of one system's artifacts for one user."""
    return run_dir / "artifacts" / system / user


def read_manifest(run_dir: Path, system: str, user: str) -> AdapterManifest | None:
    """The manifest, or None when the adapter was never completed.

    A manifest that exists but cannot be read is an input error naming the folder to delete.
    """
    folder = user_artifacts(run_dir, system, user)
    path = folder / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        manifest = AdapterManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError, UnicodeDecodeError) as error:
        raise PrefbenchInputError(
            f"{path} is corrupt ({type(error).__name__}: {str(error).splitlines()[0]}). "
            f"Delete the folder {folder} and run again to rebuild this adapter."
        ) from error
    if not (folder / ADAPTER_FOLDER / "adapter_config.json").exists():
        raise PrefbenchInputError(
            f"{path} names an adapter but {folder / ADAPTER_FOLDER} is missing or incomplete. "
            f"Delete the folder {folder} and run again to rebuild it."
        )
    return manifest


def write_manifest(run_dir: Path, manifest: AdapterManifest) -> Path:
    """Write the manifest atomically (the last step of a build)."""
    path = user_artifacts(run_dir, manifest.system, manifest.user) / MANIFEST_FILE
    atomic_write_text(path, manifest.model_dump_json(indent=2) + "\n")
    return path
