"""The split a run folder holds (`data/split.json`) and its fingerprint.

A run folder is one benchmark over one split: which records, of which users, in which
split, with which contents. `SplitInfo` records it, with the profile settings that made it
(`split_spec`) and one fingerprint over both (`SplitInfo.fingerprint`), which every log's
metadata and report.json's provenance carry, so two run folders can tell whether they
judged the same split. The guard that keeps a folder's split is
`prefbench.harness.split_guard`.
"""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from prefbench.core.atomic import atomic_write_text
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.fingerprint import fingerprint
from prefbench.core.run_folder import RunFolder
from prefbench.harness.profile import Profile
from prefbench.tasks.records import PLACE_FIELDS, Record

__all__ = [
    "DERIVED_FIELDS",
    "SPLIT_FILE",
    "SplitInfo",
    "read_split",
    "split_info",
    "split_path",
    "split_records_fingerprint",
    "split_spec",
    "write_split",
]

SPLIT_FILE = "split.json"
"""`data/split.json` of a run folder."""
SPLIT_FORMAT = 1
DERIVED_FIELDS = frozenset({"intent"})
"""Record fields that stages fill in (not part of the split)."""


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
