"""The split a run folder holds (`data/split.json`), its fingerprint, and the split guard.

A run folder is one benchmark over one split: which records, of which users, in which
split, with which contents. `SplitInfo` records it, with the profile settings that made it
(`split_spec`) and one fingerprint over both (`SplitInfo.fingerprint`), which every log's
metadata, report.json's provenance and a release or submission carry, so two run folders
can tell whether they judged the same split.

The guard: a run folder never changes its split in place unless asked. `spec_changes` names
the settings that differ (checked by `prefbench.harness.pipeline.open_run` before anything is
written), `split_change` the records that differ (checked by the records stage before it
writes records); without `--allow-new-split` either is `SplitChanged` (exit 2) naming the
field, its old and new values and the ways out. With it, the old report is removed first
(`retire_report`), then the new records and `split.json` are written: an interrupted run
leaves the old records without a report or the new records without one, never new records
beside an old report.
"""

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from prefbench.core.atomic import atomic_write_text, fsync_directory
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.fingerprint import fingerprint
from prefbench.core.run_folder import RunFolder
from prefbench.harness.profile import Profile, read_run_profile
from prefbench.tasks.records import PLACE_FIELDS, Record, read_records

__all__ = [
    "ALLOW_NEW_SPLIT_FLAG",
    "SPLIT_FILE",
    "SplitChanged",
    "SplitInfo",
    "check_split_spec",
    "guard_records",
    "read_split",
    "retire_report",
    "split_change",
    "split_info",
    "split_path",
    "split_records_fingerprint",
    "spec_changes",
    "split_spec",
    "write_split",
]

SPLIT_FILE = "split.json"
"""`data/split.json` of a run folder."""
ALLOW_NEW_SPLIT_FLAG = "--allow-new-split"
"""The `prefbench run` flag that lets a run folder take another split."""
SPLIT_FORMAT = 1
DERIVED_FIELDS = frozenset({"intent"})
"""Record fields that stages fill in (not part of the split)."""


class SplitChanged(PrefbenchInputError):
    """A run folder was asked to change its split in place without `--allow-new-split`."""


class SplitInfo(BaseModel):
    """The split of a run folder (`data/split.json`).

    `fingerprint` is the sha256 of `spec` and `records_fingerprint`: the same on every
    machine that made the same records from the same settings.
    """

    model_config = ConfigDict(extra="forbid")

    format: int = SPLIT_FORMAT
    fingerprint: str
    records_fingerprint: str
    """sha256 of the records' ids, users, splits and contents, in order (no intent, no
    source path: `split_records_fingerprint`)."""
    spec: dict[str, Any]
    """The profile settings that made the records, by dotted name (`split_spec`)."""
    records: int
    users: list[str]
    train: int
    test: int

    def line(self) -> str:
        """One line for messages: counts, users and the short fingerprint."""
        return (
            f"{self.records} records of {len(self.users)} users ({self.train} train, "
            f"{self.test} test), split {self.fingerprint[:12]}"
        )


def split_spec(profile: Profile) -> dict[str, Any]:
    """The profile settings that decide a single-dataset run's records, by dotted name.

    The demo corpus: its size, test fraction and the profile seed; a records file: only its
    kind (its contents count through the records, not its path, so a folder elsewhere holding
    the same file keeps its split); both: the `long_texts` policy.
    """
    dataset = profile.dataset
    if dataset is None:
        raise ValueError(f"profile {profile.name} has several datasets: one split each")
    spec: dict[str, Any] = {"dataset.kind": dataset.kind}
    if dataset.kind == "demo":
        spec |= {
            "dataset.personas": dataset.personas,
            "dataset.records_per_persona": dataset.records_per_persona,
            "dataset.test_fraction": dataset.test_fraction,
            "seed": profile.seed,
        }
    policy = profile.long_texts.model_dump(mode="json") if profile.long_texts else None
    if policy is None:
        spec["long_texts"] = None
    else:
        spec |= {f"long_texts.{name}": value for name, value in policy.items()}
    return spec


def split_records_fingerprint(records: Sequence[Record]) -> str:
    """sha256 of the records as a split: ids, users, splits, metadata, contents, in order."""
    excluded = set(PLACE_FIELDS | DERIVED_FIELDS)
    return fingerprint([record.model_dump(exclude=excluded) for record in records])


def split_info(profile: Profile, records: Sequence[Record]) -> SplitInfo:
    """The split of `records` made by `profile`."""
    spec = split_spec(profile)
    records_key = split_records_fingerprint(records)
    return SplitInfo(
        fingerprint=fingerprint({"spec": spec, "records": records_key}),
        records_fingerprint=records_key,
        spec=spec,
        records=len(records),
        users=sorted({record.user for record in records}),
        train=sum(record.split == "train" for record in records),
        test=sum(record.split == "test" for record in records),
    )


def split_path(run: RunFolder) -> Path:
    """`data/split.json` of the run folder."""
    return run.records.parent / SPLIT_FILE


def read_split(run: RunFolder) -> SplitInfo | None:
    """The run folder's split, or None when it has none (new, or made before split.json).

    Raises `PrefbenchInputError` naming the file and the fix when it is corrupt.
    """
    path = split_path(run)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return SplitInfo.model_validate(json.loads(text))
    except (ValueError, ValidationError) as error:
        raise PrefbenchInputError(
            f"{path} is corrupt ({type(error).__name__}): delete it; the next `prefbench run` "
            "writes it again from data/records.jsonl."
        ) from error


def write_split(run: RunFolder, info: SplitInfo) -> None:
    """Write `data/split.json` atomically (after the records it describes)."""
    atomic_write_text(split_path(run), info.model_dump_json(indent=2) + "\n")


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
    from prefbench.harness.report.build import figures_folder, report_html_path

    if run.report_json.exists():
        run.report_json.unlink()
        fsync_directory(run.root)
    for path in (run.report_md, report_html_path(run)):
        path.unlink(missing_ok=True)
    shutil.rmtree(figures_folder(run), ignore_errors=True)
