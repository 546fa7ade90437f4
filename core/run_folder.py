"""The run folder (docs/design.md §7): everything of one benchmark run, copyable and resumable."""

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_lock import RunLockHold, Warn, print_warning, run_lock

__all__ = ["RunFolder", "Subpath"]


class Subpath:
    """A fixed path under a folder object's `root`, declared as a class attribute.

    `report_json = Subpath("report.json")` makes `folder.report_json` the path
    `folder.root / "report.json"`; the string under the attribute says what lies there.
    """

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    @overload
    def __get__(self, folder: None, owner: type) -> "Subpath": ...

    @overload
    def __get__(self, folder: object, owner: type) -> Path: ...

    def __get__(self, folder: Any, owner: type) -> "Path | Subpath":
        return self if folder is None else Path(folder.root).joinpath(*self.parts)


@dataclass(frozen=True)
class RunFolder:
    """Paths inside `runs/NAME/`."""

    root: Path

    profile = Subpath("profile.yaml")
    """The resolved profile."""
    records = Subpath("data", "records.jsonl")
    """Records with intents, one JSON object per line."""
    artifacts = Subpath("artifacts")
    """Adapters and manifests: `artifacts/SYSTEM/USER/`."""
    cache = Subpath("cache")
    """Inspect's model-call cache for this run (INSPECT_CACHE_DIR), so a copied run resumes."""
    report_json = Subpath("report.json")
    """Machine-readable results."""
    report_md = Subpath("report.md")
    """Human-readable report."""

    def logs(self, stage: str) -> Path:
        """Inspect logs of one stage kind: `intents`, `build`, `gen`, `judge`."""
        return self.root / "logs" / stage

    def corrupt_logs(self, stage: str) -> Path:
        """Unreadable logs of one stage kind, moved out of `logs/` (`corrupt/logs/<kind>/`)."""
        return self.root / "corrupt" / "logs" / stage

    def move_corrupt_log(self, stage: str, path: Path) -> Path:
        """Move an unreadable log of `logs/<stage>/` to `corrupt/logs/<stage>/`; its new path.

        The one way every command sets a corrupt log aside (the pipeline, `human ...`): the
        file keeps its name, or gets `-2`, `-3`... so an earlier corrupt log is never
        overwritten.
        """
        folder = self.corrupt_logs(stage)
        path = Path(path)
        target = folder / path.name
        number = 1
        while target.exists():
            number += 1
            target = folder / f"{path.stem}-{number}{path.suffix}"
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        return target

    def require_existing(self) -> "RunFolder":
        """The run folder itself, or an input error when it was never created."""
        if not self.profile.exists():
            raise PrefbenchInputError(
                f"{self.root} is not a prefbench run folder (no profile.yaml): start it with "
                f"`prefbench run --out {self.root}`"
            )
        return self

    def locked(self, warn: Warn = print_warning) -> AbstractContextManager[RunLockHold]:
        """Hold this existing run folder's lock for a `with` block (`prefbench.core.run_lock`).

        Raises:
            PrefbenchInputError: The folder is not a run folder.
            RunFolderLocked: Another process writes it.
        """
        return run_lock(self.require_existing().root, warn)
