"""`prefbench submit --release DIR --run R --system S --out FILE`: one new method's results.

A submission (`Submission`, one JSON file) holds what a leaderboard needs to judge a method
that the release does not have, and what a reader needs to trust it: the method's build
manifests (what `artifacts/S/*/manifest.json` say, without the adapter weights), its test
outputs, the token usage of its generation, and the provenance of the run that made them
(its resolved profile, prefbench's and the plug-ins' versions, the models' identities, the
split). It is refused (exit 2, naming the field with both values) when the run's split or the
intents it wrote from differ from the release's, when S is not a system of the run or is one
of the release's, and when any of S's test outputs is unfinished or failed.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict
from rich.console import Console

from prefbench.core.atomic import atomic_write_text
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.fingerprint import fingerprint
from prefbench.core.run_folder import RunFolder
from prefbench.harness.profile import read_run_profile
from prefbench.harness.provenance import Provenance, run_provenance
from prefbench.harness.release.files import read_document
from prefbench.harness.release.finished_run import finished_run, inputs_fingerprint
from prefbench.harness.release.manifest import ReleaseManifest, read_release
from prefbench.harness.split import SplitInfo, read_split
from prefbench.harness.stage_runner import KEY_FIELD
from prefbench.solvers import lookup_system
from prefbench.solvers.training.manifest import AdapterManifest, installed_manifests

__all__ = [
    "SUBMISSION_SCHEMA_VERSION",
    "Submission",
    "SubmittedOutput",
    "make_submission",
    "read_submission",
    "require_same_split",
]

SUBMISSION_SCHEMA_VERSION = 1


class SubmittedOutput(BaseModel):
    """One test output of the submitted system: the record's id, its user and the text."""

    model_config = ConfigDict(extra="forbid")

    id: str
    user: str
    output: str


class Submission(BaseModel):
    """A submission file (`prefbench submit`)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SUBMISSION_SCHEMA_VERSION
    kind: Literal["prefbench-submission"] = "prefbench-submission"
    created: str
    system: str
    split_fingerprint: str
    inputs_fingerprint: str
    """sha256 of the test records with intents the system wrote from (the release's too)."""
    generation_key: str
    """The stage key of the system's generation log in the submitter's run."""
    build: list[AdapterManifest]
    """The system's adapter manifests (input hashes, settings, losses), no weights."""
    outputs: list[SubmittedOutput]
    usage: dict[str, dict[str, int]]
    """Tokens of the system's generation by model (`input_tokens`, `output_tokens`)."""
    profile: dict[str, Any]
    """The submitter's resolved profile (`profile.yaml`)."""
    provenance: Provenance

    def outputs_fingerprint(self) -> str:
        """sha256 of the outputs: what a leaderboard keys its judgments of them by."""
        return fingerprint([output.model_dump() for output in self.outputs])


def read_submission(path: Path) -> Submission:
    """A submission file, validated against `Submission` (an input error naming the field)."""
    fix = "make it again with `prefbench submit` (this prefbench reads schema version 1)"
    return read_document(Path(path), Submission, "submission", fix)


def split_differences(release: SplitInfo, run: SplitInfo) -> list[str]:
    """`field: release value → run value` for each split field that differs."""
    found = []
    for name in sorted(release.spec.keys() | run.spec.keys()):
        if release.spec.get(name) != run.spec.get(name):
            found.append(f"split.spec.{name}: {release.spec.get(name)!r} → {run.spec.get(name)!r}")
    for name in ("records_fingerprint", "records", "train", "test", "users"):
        if getattr(release, name) != getattr(run, name):
            found.append(f"split.{name}: {getattr(release, name)!r} → {getattr(run, name)!r}")
    found.append(f"split.fingerprint: {release.fingerprint} → {run.fingerprint}")
    return found


def require_same_split(manifest: ReleaseManifest, split: SplitInfo | None, where: Path) -> None:
    """An input error, naming each differing field (release → `where`), unless the splits match."""
    if split is None:
        raise PrefbenchInputError(
            f"{where} has no data/split.json: run `prefbench run --out {where}` to finish it."
        )
    if split.fingerprint != manifest.split.fingerprint:
        raise PrefbenchInputError(
            f"{where} was run on another split than the release ({manifest.profile}): "
            f"{'; '.join(split_differences(manifest.split, split))}. Run the method on the "
            "release's split: a run folder with the release's profile.yaml (README, 'Submit a "
            "method')."
        )


def make_submission(
    release_dir: Path, run_dir: Path, system: str, out: Path, console: Console
) -> Submission:
    """Write the submission of `system` from the finished run `run_dir` against a release.

    Raises:
        PrefbenchInputError: `out` exists; the release is not intact; the run's split or
            intents differ from the release's; `system` is not in the run, is in the release,
            or has unfinished or failed outputs (each named with the fix).
    """
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise PrefbenchInputError(f"{out} exists: give a new --out (or delete it).")
    manifest = read_release(release_dir)
    run = RunFolder(Path(run_dir)).require_existing()
    require_same_split(manifest, read_split(run), run.root)
    profile = read_run_profile(run.profile)
    if system not in profile.systems:
        raise PrefbenchInputError(
            f"system {system!r} is not in {run.profile} (systems: {profile.systems}): add it "
            f"there and run `prefbench run --profile {run.profile} --out {run.root}`."
        )
    if manifest.system(system) is not None:
        raise PrefbenchInputError(
            f"system {system!r} is in the release {release_dir} already: submit a new method "
            "(or the same one under a new name)."
        )
    with finished_run(run.root, console, systems=[system], verdicts=False) as context:
        records = context.require_records()
        found = inputs_fingerprint(records)
        if found != manifest.inputs_fingerprint:
            raise PrefbenchInputError(
                f"the test records of {run.root} carry other intents than the release's: "
                f"inputs_fingerprint {manifest.inputs_fingerprint} → {found}. Start the run "
                f"from the release's logs/intents/ (README, 'Submit a method')."
            )
        result = context.generation_logs[system]
        log = result.read()
        failed = [str(sample.id) for sample in log.samples or [] if sample.error is not None]
        if failed:
            raise PrefbenchInputError(
                f"{len(failed)} test output(s) of {system} failed in {result.log_path} "
                f"({failed[:5]}): run `prefbench run --profile {run.profile} --out {run.root}` "
                "again to ask them again."
            )
        outputs = [
            SubmittedOutput(
                id=str(sample.id),
                user=str((sample.metadata or {}).get("user")),
                output=sample.output.completion,
            )
            for sample in log.samples or []
        ]
        require_outputs_cover(manifest, outputs, f"{system} in {result.log_path}")
        definition = lookup_system(system)
        build = [
            entry
            for entry in installed_manifests(run.root)
            if definition.uses_adapter and entry.system == definition.adapter_system
        ]
        usage = {
            model: {"input_tokens": used.input_tokens, "output_tokens": used.output_tokens}
            for model, used in (log.stats.model_usage or {}).items()
        }
        submission = Submission(
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            system=system,
            split_fingerprint=manifest.split.fingerprint,
            inputs_fingerprint=found,
            generation_key=str((log.eval.metadata or {})[KEY_FIELD]),
            build=build,
            outputs=outputs,
            usage=usage,
            profile=yaml.safe_load(run.profile.read_text(encoding="utf-8")),
            provenance=run_provenance(run, profile),
        )
    atomic_write_text(out, submission.model_dump_json(indent=2) + "\n")
    console.print(
        f"submission of {system} ({len(outputs)} test outputs, {len(build)} adapter manifests) "
        f"→ [bold]{out}[/bold]"
    )
    return submission


def require_outputs_cover(
    manifest: ReleaseManifest, outputs: list[SubmittedOutput], where: str
) -> None:
    """An input error unless the outputs are exactly the release's test ids, once each."""
    ids = [output.id for output in outputs]
    expected = set(manifest.test_ids)
    missing = sorted(expected - set(ids))
    extra = sorted(set(ids) - expected)
    repeated = sorted({sample_id for sample_id in ids if ids.count(sample_id) > 1})
    if missing or extra or repeated:
        raise PrefbenchInputError(
            f"the outputs of {where} do not match the release's {len(expected)} test samples: "
            f"missing {missing[:5]} ({len(missing)}), extra {extra[:5]} ({len(extra)}), "
            f"repeated {repeated[:5]} ({len(repeated)}). Generate every test sample of the "
            "release's split once, then submit again."
        )
