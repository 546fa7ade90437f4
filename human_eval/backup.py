"""Backups of the answers database: `prefbench human backup` and the snapshot `serve` takes.

Each backup is a complete SQLite file in ``human/backups/``, named by its UTC time and why it
was taken (``annotations-20260501T140300Z-manual.sqlite``), copied with SQLite's online
backup API so it is consistent even while the app or an import writes. Restoring is
described in docs/human_eval.md.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prefbench.core.errors import PrefbenchInputError
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.store import backup_database

__all__ = ["Backup", "backup_answers"]


@dataclass(frozen=True)
class Backup:
    """A backup written: its file and how many answer rows (changes included) it holds."""

    path: Path
    answers: int


def backup_answers(run_dir: Path, reason: str = "manual", now: datetime | None = None) -> Backup:
    """Back up `run_dir`'s answers database to ``human/backups/`` (a new timestamped file).

    Args:
        run_dir: The run folder.
        reason: A word in the file name saying why (``manual``, ``serve``).
        now: The time in the name (default: now, UTC).

    Raises:
        PrefbenchInputError: The run has no answers database yet.
    """
    folder = HumanFolder(Path(run_dir))
    if not folder.database.is_file():
        raise PrefbenchInputError(
            f"{folder.database} does not exist: nothing to back up yet (answers appear once "
            f"`prefbench human serve --run {run_dir}` or `prefbench human import` wrote some)"
        )
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = folder.backups_dir / f"annotations-{stamp}-{reason}.sqlite"
    number = 1
    while target.exists():
        number += 1
        target = folder.backups_dir / f"annotations-{stamp}-{reason}-{number}.sqlite"
    return Backup(target, backup_database(folder.database, target))
