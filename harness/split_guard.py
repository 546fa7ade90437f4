"""The split guard: a run folder never changes its split in place unless asked.

`check_split_spec` compares the profile's split settings with the folder's (called by
`prefbench.harness.pipeline.open_run` before anything is written), `guard_records` the records
(called by the records stage before it writes any). Without `--allow-new-split` a difference
is `SplitChanged` (exit 2) naming the field, its old and new values and the ways out. With
it, the old report goes first (`retire_report`), then the records stage writes the new records
and `split.json` (`prefbench.harness.split`): an interrupted run leaves the old records or the
new ones without a report, never new records beside an old report.
"""

import json
import shutil
from collections.abc import Sequence
from typing import Any

from prefbench.core.atomic import fsync_directory
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.harness.profile import Profile, read_run_profile
from prefbench.harness.report.build import figures_folder, report_html_path
from prefbench.harness.split import (
    DERIVED_FIELDS,
    SplitInfo,
    read_split,
    split_records_fingerprint,
    split_spec,
)
from prefbench.tasks.records import PLACE_FIELDS, Record, read_records

__all__ = [
    "ALLOW_NEW_SPLIT_FLAG",
    "SplitChanged",
    "check_split_spec",
    "guard_records",
    "retire_report",
    "spec_changes",
    "split_change",
]

ALLOW_NEW_SPLIT_FLAG = "--allow-new-split"
"""The `prefbench run` flag that lets a run folder take another split."""


class SplitChanged(PrefbenchInputError):
    """A run folder was asked to change its split in place without `--allow-new-split`."""


def _held_spec(run: RunFolder) -> dict[str, Any] | None:
    """The split settings of the records a run folder holds; None when it holds none.

    From `split.json`, else (a folder made before it) from the profile.yaml that made the
    records, when it still parses.
    """
    stored = read_split(run)
    if stored is not None:
        return stored.spec
    if not run.records.exists() or not run.profile.exists():
        return None
    try:
        return split_spec(read_run_profile(run.profile))
    except (PrefbenchInputError, ValueError):
        return None


def spec_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """`name: old → new` for each setting both specs hold with different values."""
    return [
        f"{name}: {json.dumps(old[name])} → {json.dumps(new[name])}"
        for name in sorted(old.keys() & new.keys())
        if old[name] != new[name]
    ]


def _refusal(run: RunFolder, changes: list[str]) -> SplitChanged:
    return SplitChanged(
        f"run folder {run.root} holds another split: {'; '.join(changes)}. A run folder never "
        "changes its split in place (its logs, adapters and report belong to the old one). "
        "Start a new run folder (`prefbench run --profile ... --out runs/NEW`), or replace "
        f"this folder's split with `prefbench run ... --out {run.root} {ALLOW_NEW_SPLIT_FLAG}` "
        "(its report is rebuilt; the old split's logs stay in logs/)."
    )


def check_split_spec(run: RunFolder, profile: Profile, allow_new_split: bool) -> bool:
    """Refuse (`SplitChanged`) a profile whose split settings differ from the folder's.

    Call before anything is written. With `allow_new_split`, removes the folder's report
    (`retire_report`) instead and returns True when the settings differ.
    """
    if profile.dataset is None:  # several datasets: each sub-folder is checked on its own
        return False
    held = _held_spec(run)
    changes = [] if held is None else spec_changes(held, split_spec(profile))
    if not changes:
        return False
    if not allow_new_split:
        raise _refusal(run, changes)
    retire_report(run)
    return True


def _records_changes(old: Sequence[Record], new: Sequence[Record]) -> list[str]:
    """What differs between two record lists: counts, users, ids, splits and contents."""
    changes = []
    old_users = sorted({record.user for record in old})
    new_users = sorted({record.user for record in new})
    if old_users != new_users:
        changes.append(f"users: {old_users} → {new_users}")
    for split in ("train", "test"):
        before = sum(record.split == split for record in old)
        after = sum(record.split == split for record in new)
        if before != after:
            changes.append(f"{split} records: {before} → {after}")
    old_by_id = {record.id: record for record in old}
    new_by_id = {record.id: record for record in new}
    added, removed = new_by_id.keys() - old_by_id.keys(), old_by_id.keys() - new_by_id.keys()
    if added or removed:
        changes.append(f"record ids: {len(added)} added, {len(removed)} removed")
    excluded = set(PLACE_FIELDS | DERIVED_FIELDS)
    changed = sorted(
        record_id
        for record_id in old_by_id.keys() & new_by_id.keys()
        if old_by_id[record_id].model_dump(exclude=excluded)
        != new_by_id[record_id].model_dump(exclude=excluded)
    )
    if changed:
        changes.append(f"{len(changed)} records changed (first: {changed[0]})")
    return changes or ["the records' order"]


def split_change(run: RunFolder, info: SplitInfo, records: Sequence[Record]) -> list[str]:
    """How `records` (split `info`) differ from the split the run folder holds; [] if not.

    Compared with `split.json`, else (a folder made before it) with `data/records.jsonl`.
    """
    stored = read_split(run)
    if stored is not None and stored.fingerprint == info.fingerprint:
        return []
    held = read_records(run.records) if run.records.exists() else None
    if stored is None and held is None:
        return []  # a new run folder
    changes = spec_changes(stored.spec, info.spec) if stored is not None else []
    if held is not None and split_records_fingerprint(held) != info.records_fingerprint:
        changes += _records_changes(held, records)
    if stored is None or changes:
        return changes
    return [f"split {stored.fingerprint[:12]} → {info.fingerprint[:12]} ({info.line()})"]


def guard_records(run: RunFolder, info: SplitInfo, records: Sequence[Record], allow: bool) -> None:
    """Refuse records of another split (`SplitChanged`), or with `allow` retire the report.

    Called by the records stage before it writes anything.
    """
    changes = split_change(run, info, records)
    if not changes:
        return
    if not allow:
        raise _refusal(run, changes)
    retire_report(run)


def retire_report(run: RunFolder) -> None:
    """Remove the run folder's report: report.json first, then its renderings and figures.

    Used before the folder takes another split, so its report never describes other records;
    without report.json the report stage builds a new one.
    """
    if run.report_json.exists():
        run.report_json.unlink()
        fsync_directory(run.root)
    for path in (run.report_md, report_html_path(run)):
        path.unlink(missing_ok=True)
    shutil.rmtree(figures_folder(run), ignore_errors=True)
