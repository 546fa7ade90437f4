"""A benchmark release's manifest (`manifest.json`): what the release holds, and its hashes.

A release is a folder (`prefbench.harness.release.release.make_release`):

```
manifest.json            this model (`ReleaseManifest`), with the sha256 of every other file
profile.yaml             the run's resolved profile (models, systems, judge, split settings)
data/records.jsonl       the split: every record (train and test) with its intent
data/split.json          its fingerprint (ids, users, splits, contents) and the settings
judge.json               the judge spec (`JudgeSpec`): settings, prompt contents, tie policy
logs/intents/*.eval      the intents log (a run started from the release reuses its intents)
logs/gen/*.eval          every system's test outputs: the generation logs as the run wrote them
logs/judge/*.eval        the verdict logs (both orders of every pair, with the judge's reasons)
report.json, report.md   the run's report; figures/ its figures
```

No adapter, no inspect cache, nothing pickled (inspect's `.eval` logs are zip files of JSON).
`read_release` reads a release back and checks every hash.
"""

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.provenance import Provenance
from prefbench.harness.release.files import FileEntry, read_document, verify_files
from prefbench.harness.split import SplitInfo

__all__ = [
    "MANIFEST_FILE",
    "RELEASE_SCHEMA_VERSION",
    "JudgeSpec",
    "PromptFile",
    "ReleaseManifest",
    "ReleasedSystem",
    "read_release",
]

MANIFEST_FILE = "manifest.json"
RELEASE_SCHEMA_VERSION = 1
"""The layout of `manifest.json`; a reader refuses another."""


class PromptFile(BaseModel):
    """A prompt template the judge sends: its name (`email/judge.txt`), sha256 and text."""

    model_config = ConfigDict(extra="forbid")

    name: str
    sha256: str
    content: str


class JudgeSpec(BaseModel):
    """The judge of a release: what keys its verdicts, and what a leaderboard must match.

    `key` is `prefbench.scorers.registry.judge_key_inputs` (settings, prompt files by content,
    a plug-in judge's code identity); `models` the identity of each model role it calls.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    settings: dict[str, Any]
    key: dict[str, Any]
    prompts: list[PromptFile]
    tie_policy: str
    verdict: str | None
    """How the verdict is read (`text`, `logprobs`), for a judge that has the setting."""
    roles: list[str]
    models: dict[str, dict[str, Any]]


class ReleasedSystem(BaseModel):
    """One system of the release: its generation log and the stage key it was written under."""

    model_config = ConfigDict(extra="forbid")

    name: str
    generation_log: str
    generation_key: str
    samples: int


class ReleaseManifest(BaseModel):
    """`manifest.json` of a release."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = RELEASE_SCHEMA_VERSION
    kind: Literal["prefbench-release"] = "prefbench-release"
    created: str
    profile: str
    """The profile's name."""
    reference_system: str
    systems: list[ReleasedSystem]
    split: SplitInfo
    test_ids: list[str]
    inputs_fingerprint: str
    """sha256 of the test records with their intents (what every system wrote from)."""
    judge: JudgeSpec
    verdict_logs: list[str]
    provenance: Provenance
    files: list[FileEntry]

    def system(self, name: str) -> ReleasedSystem | None:
        """The released system of that name, if any."""
        return next((system for system in self.systems if system.name == name), None)


def read_release(folder: Path) -> ReleaseManifest:
    """A release's manifest, after checking that the folder holds exactly its files.

    Raises:
        PrefbenchInputError: No manifest, another schema, or a file changed, missing or
            added since the release was made (each named, with the fix).
    """
    folder = Path(folder)
    fix = f"use the release as published (make it again with `prefbench release --out {folder}`)"
    if not folder.is_dir():
        raise PrefbenchInputError(f"release {folder} is not a folder: give a release folder")
    manifest = read_document(folder / MANIFEST_FILE, ReleaseManifest, "release manifest", fix)
    verify_files(folder, manifest.files, frozenset({MANIFEST_FILE}), fix)
    return manifest
