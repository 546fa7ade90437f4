"""Paths of human evaluation inside a run folder: `runs/NAME/human/` (docs/design.md §7)."""

from dataclasses import dataclass
from pathlib import Path

from prefbench.core.run_folder import Subpath


@dataclass(frozen=True)
class HumanFolder:
    """Paths of the exported bundle, the answers database and the imports of one run."""

    run_dir: Path

    @property
    def root(self) -> Path:
        """`runs/NAME/human/`."""
        return Path(self.run_dir) / "human"

    bundle_json = Subpath("bundle.json")
    """The bundle manifest: seed, item order, instructions, annotators, comparisons."""
    items_jsonl = Subpath("items.jsonl")
    """Blinded items shown to annotators, one JSON object per line."""
    key_json = Subpath("key.json")
    """The un-blinding key (never served): item id → judge sample and candidate order."""
    database = Subpath("annotations.sqlite")
    """The append-only SQLite answers database."""
    backups_dir = Subpath("backups")
    """Timestamped copies of the answers database (`prefbench human backup`, `serve`)."""
    imports_dir = Subpath("imports")
    """Files imported from outside the app (e.g. Label Studio exports)."""
    label_studio_dir = Subpath("label_studio")
    """Label Studio project files: `tasks.json` and `config.xml`."""
