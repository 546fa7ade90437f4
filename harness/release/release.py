"""`prefbench release --run R --out DIR`: a finished run as a benchmark others can build on.

The release holds what a contributor needs to run a new method on the same split and what a
leaderboard needs to judge it against the same outputs with the same judge
(`prefbench.harness.release.manifest` lists the files). Test outputs travel as the generation
logs themselves, not as a JSONL export: they are what the judge stage reads and keys on (the
stage key in each log's metadata), so a leaderboard reuses the release's verdicts by key
without converting anything, and they keep every prompt and model event for an audit.

The release is written into a temporary folder beside `DIR` and renamed into place once
complete: an interrupted release leaves nothing; an existing `DIR` is never overwritten.
"""

import shutil
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from rich.console import Console

from prefbench.core.atomic import atomic_directory, atomic_write_text
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.harness.profile import Profile
from prefbench.harness.provenance import run_provenance
from prefbench.harness.release.files import file_entries
from prefbench.harness.release.finished_run import finished_run, inputs_fingerprint
from prefbench.harness.release.manifest import (
    MANIFEST_FILE,
    JudgeSpec,
    PromptFile,
    ReleasedSystem,
    ReleaseManifest,
)
from prefbench.harness.report.file import read_report
from prefbench.harness.serving.models import role_identity
from prefbench.harness.split import read_split, split_path
from prefbench.harness.stage_runner import KEY_FIELD
from prefbench.scorers.judge_prompts import prompt_label
from prefbench.scorers.registry import judge_key_inputs, lookup_judge

__all__ = ["JUDGE_FILE", "judge_spec", "make_release"]

JUDGE_FILE = "judge.json"
REPORT_FILES = ("report.json", "report.md")
FIGURES = "figures"


def judge_spec(profile: Profile) -> JudgeSpec:
    """The profile's pairwise judge as a release records it (and a leaderboard compares it).

    Raises `PrefbenchInputError` when the judge is not installed here.
    """
    definition = lookup_judge(profile.judge.kind)
    settings = profile.judge.typed_settings(profile.metrics)
    key = judge_key_inputs(definition.name, settings, "pairwise")
    digests = dict(key.get("judge_prompts", []))
    prompts = []
    for path in sorted(set(settings.prompt_files("pairwise"))):
        name = prompt_label(path)
        text = path.read_text(encoding="utf-8")
        prompts.append(PromptFile(name=name, sha256=digests[name], content=text))
    roles = definition.roles_for(settings)
    return JudgeSpec(
        name=definition.name,
        settings=settings.model_dump(mode="json"),
        key=key,
        prompts=prompts,
        tie_policy=profile.judge.tie_policy,
        verdict=getattr(settings, "verdict", None),
        roles=list(roles),
        models={role: role_identity(profile, role) for role in roles if role in profile.roles},
    )


def _copy(source: Path, folder: Path, relative: str) -> str:
    """Copy `source` to `folder/relative` (folders made); returns `relative`."""
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return relative


def _require_current_report(run: RunFolder, verdict_logs: list[Path]) -> None:
    """An input error unless report.json was built from exactly these verdict logs."""
    report = read_report(run)
    reported = {row.log for row in report.rows()}
    names = {path.name for path in verdict_logs}
    if reported != names:
        raise PrefbenchInputError(
            f"{run.report_json} was not built from the run's current verdict logs (it names "
            f"{sorted(reported)[:3]}, the run has {sorted(names)[:3]}): run `prefbench run "
            f"--profile {run.profile} --out {run.root}` to bring the report up to date."
        )


def make_release(run_dir: Path, out: Path, console: Console) -> ReleaseManifest:
    """Write the release of the finished run `run_dir` to the new folder `out`.

    Raises:
        PrefbenchInputError: `out` exists, or the run is not finished under its profile
            (a stage, its split or its report), each with the command that fixes it.
    """
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise PrefbenchInputError(
            f"{out} exists: a release is never overwritten; give a new --out (or delete it)."
        )
    with finished_run(run_dir, console) as context:
        run, profile = context.run, context.profile
        split = read_split(run)
        if split is None:
            raise PrefbenchInputError(
                f"{run.root} has no data/split.json: run `prefbench run --profile {run.profile} "
                f"--out {run.root}` once with this prefbench to write it."
            )
        records = context.require_records()
        verdict_logs = [result.log_path for result in context.judge_logs.values()]
        _require_current_report(run, verdict_logs)
        with atomic_directory(out) as folder:
            _copy(run.profile, folder, "profile.yaml")
            _copy(run.records, folder, "data/records.jsonl")
            _copy(split_path(run), folder, "data/split.json")
            intents = context.runner.results.get("intents")
            if intents is not None:
                _copy(intents.log_path, folder, f"logs/intents/{intents.log_path.name}")
            systems = []
            for name in profile.systems:
                result = context.generation_logs[name]
                header = result.read_header()
                systems.append(
                    ReleasedSystem(
                        name=name,
                        generation_log=_copy(
                            result.log_path, folder, f"logs/gen/{result.log_path.name}"
                        ),
                        generation_key=str((header.eval.metadata or {})[KEY_FIELD]),
                        samples=len(result.read().samples or []),
                    )
                )
            verdicts = [_copy(path, folder, f"logs/judge/{path.name}") for path in verdict_logs]
            for name in REPORT_FILES:
                _copy(run.root / name, folder, name)
            figures = run.root / FIGURES
            for path in sorted(figures.glob("*")) if figures.is_dir() else []:
                if path.is_file() and not path.is_symlink():
                    _copy(path, folder, f"{FIGURES}/{path.name}")
            spec = judge_spec(profile)
            atomic_write_text(folder / JUDGE_FILE, spec.model_dump_json(indent=2) + "\n")
            manifest = ReleaseManifest(
                created=datetime.now(UTC).isoformat(timespec="seconds"),
                profile=profile.name,
                reference_system=profile.reference_system,
                systems=systems,
                split=split,
                test_ids=[record.id for record in records if record.split == "test"],
                inputs_fingerprint=inputs_fingerprint(records),
                judge=spec,
                verdict_logs=verdicts,
                provenance=run_provenance(run, profile),
                files=file_entries(folder),
            )
            atomic_write_text(folder / MANIFEST_FILE, manifest.model_dump_json(indent=2) + "\n")
    console.print(
        f"release of {run.root} → [bold]{out}[/bold]: {len(systems)} systems, "
        f"{len(verdicts)} verdict logs, {len(manifest.files) + 1} files, "
        f"{release_bytes(manifest):,} bytes ({version('prefbench')})"
    )
    return manifest


def release_bytes(manifest: ReleaseManifest) -> int:
    """The bytes of a release's files (the manifest left out)."""
    return sum(entry.bytes for entry in manifest.files)
