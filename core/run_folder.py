"""The run folder (docs/design.md §7): everything of one benchmark run, copyable and resumable."""

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from core.errors import PrefbenchInputError
from core.run_lock import RunLockHold, Warn, print_warning, run_lock

__all__ = ["RunFolder"]


@dataclass(frozen=True)
class RunFolder:
    """Paths inside `runs/NAME/`."""

    root: Path

    @property
    def profile(self) -> Path:
        """The resolved profile."""
        return self.root / "profile.yaml"

    @property
    def records(self) -> Path:
        """Records with intents, one JSON object per line."""
        return self.root / "data" / "records.jsonl"

    @property
    def artifacts(self) -> Path:
        """Adapters and manifests: `artifacts/SYSTEM/USER/`."""
        return self.root / "artifacts"

    @property
    def cache(self) -> Path:
        """Inspect's model-call cache for this run (INSPECT_CACHE_DIR), so a copied run resumes."""
        return self.root / "cache"

    def logs(self, stage: str) -> Path:
        """Inspect logs of one stage kind: `intents`, `build`, `gen`, `judge`."""
        return self.root / "logs" / stage

    def corrupt_logs(self, stage: str) -> Path:
        """Unreadable logs of one stage kind, moved out of `logs/` (`corrupt/logs/<kind>/`)."""
        return self.root / "corrupt" / "logs" / stage

    @property
    def report_json(self) -> Path:
        """Machine-readable results."""
        return self.root / "report.json"

    @property
    def report_md(self) -> Path:
        """Human-readable report."""
        return self.root / "report.md"

    def require_existing(self) -> "RunFolder":
        """The run folder itself, or an input error when it was never created."""
        if not self.profile.exists():
            raise PrefbenchInputError(
                f"{self.root} is not a prefbench run folder (no profile.yaml): start it with "
                f"`prefbench run --out {self.root}`"
            )
        return self

    def locked(self, warn: Warn = print_warning) -> AbstractContextManager[RunLockHold]:
        """Hold this existing run folder's lock for a `with` block (`core.run_lock`).

        Raises:
            PrefbenchInputError: The folder is not a run folder.
            RunFolderLocked: Another process writes it.
        """
        return run_lock(self.require_existing().root, warn)
