"""A finished run folder, read through the pipeline's own stage lookup and never recomputed.

`finished_run(run_dir, console)` reopens a run folder with its own profile and finds the
logs a release or a submission ships the way `prefbench run` finds them (each stage's key),
with the stage runner in `reuse_only` mode: a stage that has not finished, or whose inputs
changed, is an input error naming the command that finishes it; no model is loaded or called.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.harness.pipeline import PipelineContext, generate, open_run, prepare_records
from prefbench.harness.profile import read_run_profile
from prefbench.harness.stages import PairwiseJudgeStage
from prefbench.tasks.records import Record, records_fingerprint

__all__ = ["finished_run", "inputs_fingerprint"]


def inputs_fingerprint(records: list[Record]) -> str:
    """sha256 of the test records with their intents: what every system wrote from.

    The split fingerprint leaves intents out (stages derive them); two runs whose systems
    are compared must also have written from the same intents.
    """
    return records_fingerprint([record for record in records if record.split == "test"])


@contextmanager
def finished_run(
    run_dir: Path, console: Console, systems: list[str] | None = None, verdicts: bool = True
) -> Iterator[PipelineContext]:
    """The run folder's context with its records, generation logs and (`verdicts`) judge logs.

    `systems` limits the generation logs looked up (default: every profile system). The
    run-folder lock is held inside the block.

    Raises:
        PrefbenchInputError: Not a run folder, a run over several datasets, or a stage
            not finished under the folder's profile (naming the command that finishes it).
    """
    run = RunFolder(Path(run_dir)).require_existing()
    profile = read_run_profile(run.profile)
    if profile.datasets is not None:
        raise PrefbenchInputError(
            f"{run_dir} is a run over several datasets: give one dataset's folder "
            f"({', '.join(str(run.root / name) for name in profile.datasets)})"
        )
    context = open_run(run.root, profile, console, display="none")
    try:
        context.runner.reuse_only = True
        records = prepare_records(context)
        for name in systems if systems is not None else profile.systems:
            generate(context, records, only=name)
        if verdicts:
            PairwiseJudgeStage().run(context)
        yield context
    finally:
        context.runner.close()
        if context.lock is not None:
            context.lock.release()
