"""The leaderboard's working run folder (`SITE/work/`): a release plus submitted outputs.

The leaderboard judges with the pipeline's own judge stage, so it needs a run folder: the
release's profile, split, generation logs and verdict logs are copied into `SITE/work/`
(once; later builds keep everything they judged there), and each submission's outputs become
a generation log of their own (`gen-SYSTEM`, an eval that replays the submitted texts on
the release's test records, keyed by the outputs' content): the judge stage then keys a
submission's pairs by what was submitted, reuses every verdict it already holds and judges
only what is new.
"""

import shutil
from pathlib import Path

from inspect_ai.model import ModelOutput
from inspect_ai.solver import Generate, Solver, TaskState, solver

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.harness.release.files import sha256_of
from prefbench.harness.release.manifest import ReleaseManifest
from prefbench.harness.release.submission import Submission
from prefbench.harness.split import read_split
from prefbench.harness.stage_runner import StageRequest
from prefbench.harness.stages import PipelineContext
from prefbench.tasks.generation import personalized_writing
from prefbench.tasks.records import records_fingerprint

__all__ = ["WORK_FOLDER", "assemble_working_run", "submission_request", "submitted_outputs"]

WORK_FOLDER = "work"
SUBMITTED_MODEL = "submitted"
"""The model name a replayed output carries (no model is called)."""


def _copy_once(source: Path, target: Path) -> None:
    """Copy `source` to `target` unless it holds the same bytes; refuse other bytes."""
    if target.exists():
        if sha256_of(target) != sha256_of(source):
            raise PrefbenchInputError(
                f"{target} differs from the release's {source}: this site was built from "
                "another release; give a new --out."
            )
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def assemble_working_run(release: Path, manifest: ReleaseManifest, site: Path) -> RunFolder:
    """`SITE/work/` with the release's split, generation and verdict logs.

    Raises `PrefbenchInputError` when `SITE/work/` holds another release's split or files.
    """
    work = RunFolder(site / WORK_FOLDER)
    held = read_split(work) if work.root.exists() else None
    if held is not None and held.fingerprint != manifest.split.fingerprint:
        raise PrefbenchInputError(
            f"{site} holds a leaderboard of another split ({held.fingerprint[:12]}, the "
            f"release's is {manifest.split.fingerprint[:12]}): give a new --out."
        )
    paths = ["data/records.jsonl", "data/split.json"]  # open_run writes the profile
    paths += [system.generation_log for system in manifest.systems]
    paths += manifest.verdict_logs
    for relative in paths:
        _copy_once(release / relative, work.root / relative)
    return work


@solver
def submitted_outputs(outputs: dict[str, str]) -> Solver:
    """No model: each sample's output is the submitted text for its record id."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.output = ModelOutput.from_content(SUBMITTED_MODEL, outputs[str(state.sample_id)])
        state.messages.append(state.output.message)
        return state

    return solve


def submission_request(context: PipelineContext, submission: Submission) -> StageRequest:
    """The generation eval `gen-SYSTEM` that replays a submission's outputs (no model).

    Keyed by the outputs' content and the records, so the same outputs are one log however
    often the leaderboard is built, and changed outputs are judged anew.
    """
    records = context.require_records()
    return StageRequest(
        "gen",
        f"gen-{submission.system}",
        personalized_writing(records=str(context.run.records), split="test"),
        (),
        {
            "system": submission.system,
            "submitted_outputs": submission.outputs_fingerprint(),
            "records": records_fingerprint(records),
        },
        metadata={"system": submission.system, "submitted": True},
        solver=submitted_outputs({output.id: output.output for output in submission.outputs}),
    )
