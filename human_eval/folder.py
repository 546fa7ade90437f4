"""Paths of human evaluation inside a run folder: `runs/NAME/human/` (docs/design.md §7)."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HumanFolder:
    """Paths of the exported bundle, the answers database and the imports of one run."""

    run_dir: Path

    @property
    def root(self) -> Path:
        """`runs/NAME/human/`."""
        return Path(self.run_dir) / "human"

    @property
    def bundle_json(self) -> Path:
        """The bundle manifest: seed, item order, instructions, annotators, comparisons."""
        return self.root / "bundle.json"

    @property
    def items_jsonl(self) -> Path:
        """Blinded items shown to annotators, one JSON object per line."""
        return self.root / "items.jsonl"

    @property
    def key_json(self) -> Path:
        """The un-blinding key (never served): item id → judge sample and candidate order."""
        return self.root / "key.json"

    @property
    def database(self) -> Path:
        """The append-only SQLite answers database."""
        return self.root / "annotations.sqlite"

    @property
    def backups_dir(self) -> Path:
        """Timestamped copies of the answers database (`prefbench human backup`, `serve`)."""
        return self.root / "backups"

    @property
    def imports_dir(self) -> Path:
        """Files imported from outside the app (e.g. Label Studio exports)."""
        return self.root / "imports"

    @property
    def label_studio_dir(self) -> Path:
        """Label Studio project files: `tasks.json` and `config.xml`."""
        return self.root / "label_studio"
