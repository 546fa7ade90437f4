"""The adapter manifest: what an adapter was trained from, so it is never retrained needlessly.

Layout (docs/design.md §7): `artifacts/SYSTEM/USER/adapter/` (the PEFT adapter) and
`artifacts/SYSTEM/USER/manifest.json`. The adapter and its manifest are one unit: a build
writes both into a new folder `artifacts/SYSTEM/.versions/USER/vTIME-RANDOM/`, and
`artifacts/SYSTEM/USER` is a symbolic link switched to it in one rename
(:func:`install_user_artifacts`), so a kill at any moment leaves the old pair or the new
one. A run folder from before versions (a plain `USER` folder) is read as it is and
replaced by a link at its next build. While an adapter trains with checkpoints, they live in
`artifacts/SYSTEM/.checkpoints/USER/` until the adapter is installed.

`SYSTEM` and `USER` on disk are the safe names of the system and the user id
(`prefbench.core.safe_names.safe_name`: a plain id such as `allen-p` is itself; any other, a
slug plus a short hash), and every path is checked to stay inside `artifacts/` before
anything is written or removed. The manifest keeps the original ids.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from prefbench.core.atomic import (
    atomic_version,
    atomic_write_text,
    installed_version,
    remove_old_versions,
)
from prefbench.core.bounded_input import loads_json
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.safe_names import inside, safe_child

MANIFEST_FILE = "manifest.json"
ADAPTER_FOLDER = "adapter"
VERSIONS_FOLDER = ".versions"
CHECKPOINTS_FOLDER = ".checkpoints"


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
    device: str | None = None
    """Where it trained: "cuda" or "cpu" (None in manifests written before this field)."""
    device_seconds: float = 0.0
    """Seconds the training job held its device, base loading included (0 when unknown)."""
    resumed_from_step: int = 0
    """The checkpoint step the last attempt resumed from (0: it trained from scratch)."""
    details: dict[str, Any] = {}

    @property
    def adapter_hash(self) -> str:
        """Short content hash that names this adapter in caches and logs."""
        return self.input_hash[:16]


def _artifacts(run_dir: Path) -> Path:
    return Path(run_dir) / "artifacts"


def _system_folder(run_dir: Path, system: str) -> Path:
    return safe_child(_artifacts(run_dir), system)


def _user_link(run_dir: Path, system: str, user: str) -> Path:
    return safe_child(_artifacts(run_dir), system, user)


def _user_versions(run_dir: Path, system: str, user: str) -> Path:
    return inside(
        _artifacts(run_dir), safe_child(_system_folder(run_dir, system) / VERSIONS_FOLDER, user)
    )


def user_artifacts(run_dir: Path, system: str, user: str) -> Path:
    """The folder of one system's artifacts for one user: `artifacts/SYSTEM/USER`.

    A link to the installed version (or, in a run folder from before versions, a plain
    folder); only in the instant a plain folder is replaced by a link, the old folder
    moved aside.
    """
    return installed_version(
        _user_link(run_dir, system, user), _user_versions(run_dir, system, user)
    )


def user_checkpoints(run_dir: Path, system: str, user: str) -> Path:
    """The folder of the user's training checkpoints: `artifacts/SYSTEM/.checkpoints/USER`."""
    return inside(
        _artifacts(run_dir),
        safe_child(_system_folder(run_dir, system) / CHECKPOINTS_FOLDER, user),
    )


@contextmanager
def install_user_artifacts(run_dir: Path, system: str, user: str) -> Iterator[Path]:
    """Yield a new folder for the user's adapter and manifest; installed when the block ends.

    Write `ADAPTER_FOLDER` and then the manifest (:func:`write_manifest`) into the yielded
    folder. On success it replaces the user's artifacts in one step (fsynced); on an
    exception it is removed and the installed pair is left as it was.
    """
    with atomic_version(
        _user_link(run_dir, system, user),
        _user_versions(run_dir, system, user),
        root=_artifacts(run_dir),
    ) as fresh:
        yield fresh


def tidy_user_artifacts(run_dir: Path, system: str, user: str) -> None:
    """Remove the user's old artifact versions (left by a build killed after its install)."""
    remove_old_versions(
        _user_link(run_dir, system, user),
        _user_versions(run_dir, system, user),
        root=_artifacts(run_dir),
    )


def read_manifest(run_dir: Path, system: str, user: str) -> AdapterManifest | None:
    """The manifest, or None when the adapter was never completed.

    The manifest and the adapter are read from one version, even if a build installs a new
    one meanwhile. A manifest that exists but cannot be read is an input error naming the
    folder to delete.
    """
    folder = user_artifacts(run_dir, system, user)
    path = folder / MANIFEST_FILE
    version = folder.resolve()
    if not (version / MANIFEST_FILE).exists():
        return None
    try:
        text = (version / MANIFEST_FILE).read_text(encoding="utf-8")
        manifest = AdapterManifest.model_validate(loads_json(text))
    except (ValueError, ValidationError) as error:  # not JSON, too deep, not UTF-8
        raise PrefbenchInputError(
            f"{path} is corrupt ({type(error).__name__}: {str(error).splitlines()[0]}). "
            f"Delete the folder {folder} and run again to rebuild this adapter."
        ) from error
    if not (version / ADAPTER_FOLDER / "adapter_config.json").exists():
        raise PrefbenchInputError(
            f"{path} names an adapter but {folder / ADAPTER_FOLDER} is missing or incomplete. "
            f"Delete the folder {folder} and run again to rebuild it."
        )
    return manifest


def write_manifest(folder: Path, manifest: AdapterManifest) -> Path:
    """Write the manifest atomically into an artifacts folder, after its adapter.

    During a build, `folder` is the one :func:`install_user_artifacts` yields.
    """
    path = Path(folder) / MANIFEST_FILE
    atomic_write_text(path, manifest.model_dump_json(indent=2) + "\n")
    return path


def installed_manifests(run_dir: Path) -> list[AdapterManifest]:
    """The manifests of every installed adapter of the run, by system and user folder.

    Folders are on-disk (safe) names, which map to themselves: each is read as it lies.
    """
    artifacts = _artifacts(run_dir)
    if not artifacts.is_dir():
        return []
    manifests = []
    for system in sorted(artifacts.iterdir()):
        if system.name.startswith(".") or not system.is_dir():
            continue
        for user in sorted(system.iterdir()):
            if user.name.startswith("."):
                continue
            manifest = read_manifest(run_dir, system.name, user.name)
            if manifest is not None:
                manifests.append(manifest)
    return manifests


def training_device_seconds(run_dir: Path, device: str | None = None) -> float:
    """Device seconds the run's installed adapters took to train (GPU-hours × 3600).

    Sums each manifest's `device_seconds`; `device` ("cuda" or "cpu") keeps only adapters
    trained there. Adapters trained before manifests recorded it count 0.
    """
    return sum(
        manifest.device_seconds
        for manifest in installed_manifests(run_dir)
        if device is None or manifest.device == device
    )
