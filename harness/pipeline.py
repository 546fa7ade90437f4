"""The benchmark pipeline: records → build → generation → metrics → judging → report.

`PIPELINE` is the ordered list of stage objects (`prefbench.harness.stages`); `run_benchmark` walks
it over a run folder opened by `open_run`, and the report stage collects the section of
every stage in it. The functions below run one stage each, so the CLI, a notebook and the
tests call the same code. Each stage reuses what an earlier run finished (see
`prefbench.harness.stage_runner`).

A profile with several `datasets` runs the whole pipeline once per dataset, each in its own
sub-folder of the run (`runs/NAME/<dataset>/`, a complete run folder), then writes the
combined report of them all in `runs/NAME/` (`run_datasets`, `prefbench.harness.report.combined`).
"""

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from prefbench.core.atomic import atomic_write_text
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.core.run_lock import RunLockHold, acquire_run_lock
from prefbench.core.safe_names import safe_child
from prefbench.harness.cost.dry_run import prepare_forecast, refuse_runs_above_ceiling
from prefbench.harness.cost.forecast import read_forecast
from prefbench.harness.cost.guard import CostGuard
from prefbench.harness.cost.spend import usd_by_kind
from prefbench.harness.interrupts import ended_by_signals
from prefbench.harness.preflight import check_inputs
from prefbench.harness.profile import Profile, dataset_profiles, dump_profile
from prefbench.harness.progress import StageProgress
from prefbench.harness.report.combined import DatasetResult, report_combined_run
from prefbench.harness.report.schema import Report
from prefbench.harness.serving.models import ModelPool
from prefbench.harness.serving.weights import require_trainable_small
from prefbench.harness.split_guard import check_split_spec, retire_report
from prefbench.harness.stage_runner import StageResult, StageRunner
from prefbench.harness.stages import (
    PIPELINE,
    BuildStage,
    CrossUserStage,
    GenerationStage,
    MultiCandidateStage,
    PairwiseJudgeStage,
    PipelineContext,
    RecordsStage,
    ReportStage,
    SimilarityStage,
    require_generation_logs,
    system_options,
)
from prefbench.harness.stages.records import source_records
from prefbench.tasks.records import Record, read_records

__all__ = [
    "PIPELINE",
    "PipelineContext",
    "build_systems",
    "generate",
    "judge",
    "measure_similarity",
    "open_run",
    "planned_users",
    "prepare_records",
    "report",
    "require_generation_logs",
    "run_benchmark",
    "run_datasets",
    "run_profile",
    "run_personalization",
    "run_similarity_metrics",
    "system_options",
]


def _locked_with_profile(
    run: RunFolder,
    profile: Profile,
    console: Console,
    before_write: Callable[[], None] | None = None,
) -> RunLockHold:
    """Take the run folder's lock and write the resolved profile into it (when it changed).

    `before_write` runs under the lock before anything is written (the split guard). The
    lock is released again if it or writing the profile fails.

    Raises:
        RunFolderLocked: Another process writes the run folder.
    """
    hold = acquire_run_lock(
        run.root, warn=lambda message: console.print(f"[yellow]warning:[/yellow] {escape(message)}")
    )
    try:
        if before_write is not None:
            before_write()
        text = dump_profile(profile)
        if not run.profile.exists() or run.profile.read_text("utf-8") != text:
            atomic_write_text(run.profile, text)
    except BaseException:
        hold.release()
        raise
    return hold


def open_run(
    run_dir: Path,
    profile: Profile,
    console: Console,
    display: str = "rich",
    limit: int | None = None,
    models: ModelPool | None = None,
    allow_new_split: bool = False,
) -> PipelineContext:
    """Create (or reopen) a run folder for `profile` and write its resolved profile.

    Reopening a run with a different profile is allowed: stages whose inputs changed are
    recomputed, the others reused. The split is not (`prefbench.harness.split`): a profile
    whose split settings differ from the folder's is refused before anything is written
    (`SplitChanged`), unless `allow_new_split`, which removes the folder's report. The
    context walks `PIPELINE`. `models` is a pool shared
    with other runs of this process (`run_datasets`), which the context leaves open; without
    it the context makes its own, closed when the run ends.

    The context holds the run-folder lock (`prefbench.core.run_lock`) until it is garbage-collected
    or the process exits; holds within one process nest, so reopening a run here never waits on
    itself.

    Raises:
        RunFolderLocked: Another process writes the run folder.
        SplitChanged: The profile's split settings differ from the folder's.
    """
    run = RunFolder(run_dir)
    hold = _locked_with_profile(
        run, profile, console, lambda: check_split_spec(run, profile, allow_new_split)
    )
    try:
        runner = StageRunner(
            run,
            profile,
            display=display,
            announce=console.print,
            models=models,
            adapter_users=lambda: planned_users([(run, profile)]),
        )
    except BaseException:
        hold.release()
        raise
    context = PipelineContext(
        run,
        profile,
        console,
        runner,
        limit=limit,
        stages=PIPELINE,
        lock=hold,
        allow_new_split=allow_new_split,
    )
    hold.release_with(context)
    # the models (and servers) of a context no one closed go with it, or at exit
    weakref.finalize(context, runner.close)
    return context


def run_benchmark(context: PipelineContext, guard: CostGuard | None = None) -> Report | None:
    """Run every stage of `context.stages` in order; returns the report.

    A planning run (`context.planning`, every role a `prefbench-plan/` model) skips the stages
    that call no model and returns None (no report). Before any stage, a small model that
    adapter systems cannot train is refused (`prefbench.harness.serving.weights.
    require_trainable_small`). Each stage starts with a progress line (stage i/N, elapsed, ETA;
    `prefbench.harness.progress`) and adds its seconds, and the GPUs held meanwhile, to the run's
    `stage_seconds.json`. With a `guard` (`prefbench.harness.cost.guard.CostGuard`), a stage that
    could take the spend over the cost ceiling is not started: `CeilingReached`. The run's
    models are closed when it ends, however it ends (success, an error, the ceiling, Ctrl-C or
    SIGTERM, which raise `KeyboardInterrupt` here: `prefbench.harness.interrupts`): the servers
    started for them stop with it.
    """
    require_trainable_small(context.profile, context.run.profile)
    progress = None
    if not context.planning:
        progress = StageProgress(
            run_root=context.run.root,
            profile=context.profile,
            stages=[stage.name for stage in context.stages],
            forecast=read_forecast(context.run.root),
            announce=context.console.print,
        )
    with ended_by_signals():
        try:
            for index, stage in enumerate(context.stages):
                if context.planning and not stage.calls_models(context):
                    continue
                if guard is not None:
                    guard.before_stage(context, stage)
                if progress is not None:
                    progress.stage_started(index)
                stage.run(context)
                if progress is not None:
                    progress.stage_ended(index, context.runner.models.held_devices())
        finally:
            context.runner.close()
    if guard is not None:
        guard.finished(context)
    if context.planning:
        return None
    if context.report is None:
        raise RuntimeError("the pipeline has no report stage: nothing wrote report.json")
    return context.report


@dataclass(frozen=True)
class DatasetsOutcome:
    """A several-dataset run: the combined report and whether nothing was recomputed."""

    report: Report
    recomputed_nothing: bool


def run_datasets(
    run_dir: Path,
    profile: Profile,
    console: Console,
    display: str = "rich",
    limit: int | None = None,
    max_cost: float | None = None,
    forecast: bool = False,
    allow_new_split: bool = False,
) -> DatasetsOutcome:
    """Run every dataset of a `datasets` profile in `run_dir/<dataset>/`; the combined report.

    Each dataset's run is a complete run folder (its single-dataset profile, stages, report),
    so it resumes, and can be inspected or re-judged, on its own. `run_dir` holds the
    profile as given and the combined report; its lock is held throughout. `max_cost` is
    one ceiling for the whole run: before any dataset starts, what all their folders spent
    plus what they still need must fit under it (`ForecastAboveCeiling` otherwise, nothing
    run); then each dataset's run is checked again when it starts, and stopped before a
    stage (`CeilingReached`) that could take the spend of all datasets so far over it
    (`prefbench.harness.cost.dry_run.prepare_forecast`); `forecast` keeps each dataset's
    forecast without a ceiling.

    Raises:
        PrefbenchInputError: The profile has a single `dataset` (use `open_run`).
        RunFolderLocked: Another process writes the run folder.
    """
    if profile.datasets is None:
        raise PrefbenchInputError(
            f"profile {profile.name} has one dataset: run it with `open_run` and `run_benchmark`"
        )
    run = RunFolder(run_dir)
    datasets = dataset_profiles(profile)
    runs = [(RunFolder(safe_child(run.root, name)), dataset) for name, dataset in datasets.items()]

    def check_splits() -> None:  # every dataset's, before the run's profile is written
        changed = [check_split_spec(folder, each, allow_new_split) for folder, each in runs]
        if any(changed):
            retire_report(run)  # the combined report too

    hold = _locked_with_profile(run, profile, console, check_splits)
    models = ModelPool(profile, adapter_users=lambda: planned_users(runs), announce=console.print)
    try:
        plans = {}
        if max_cost is not None:
            folders = {folder.root: spec for folder, spec in runs}
            plans = refuse_runs_above_ceiling(folders, max_cost, limit)
        results, nothing_recomputed, spent = [], True, 0.0
        with ended_by_signals(), models:
            for name, dataset_profile in datasets.items():
                console.rule(f"[bold]dataset {escape(name)}", characters="=")
                folder = safe_child(run.root, name)
                context = open_run(
                    folder,
                    dataset_profile,
                    console,
                    display,
                    limit,
                    models=models,
                    allow_new_split=allow_new_split,
                )
                guard = prepare_forecast(
                    context, max_cost, limit, spent, forecast, plans.get(folder)
                )
                report = run_benchmark(context, guard)
                results.append(
                    DatasetResult(
                        name=name,
                        folder=context.run.root,
                        report=report,
                        records=context.require_records(),
                        judge_logs=[result.log_path for result in context.judge_logs.values()],
                    )
                )
                nothing_recomputed &= context.recomputed_nothing
                spent += sum(
                    value or 0.0 for value in usd_by_kind(context.run, context.profile).values()
                )
        console.rule("[bold]combined report", characters="=")
        return DatasetsOutcome(report_combined_run(run, profile, results), nothing_recomputed)
    finally:
        hold.release()


def planned_users(runs: list[tuple[RunFolder, Profile]]) -> int:
    """The most users one of these runs has: its records' once written, else its dataset's.

    Read before the records stage (a `vllm/` server that serves adapters may start in it), so
    the adapter server's slots hold every user's adapters (`ModelPool.lora_slots`).
    """
    counts = []
    for run, profile in runs:
        records = read_records(run.records) if run.records.exists() else source_records(profile)
        counts.append(len({record.user for record in records}))
    return max(counts, default=0)


def run_profile(
    run_dir: Path,
    profile: Profile,
    console: Console,
    display: str = "rich",
    limit: int | None = None,
    max_cost: float | None = None,
    forecast: bool = False,
    allow_new_split: bool = False,
) -> DatasetsOutcome:
    """Check every input of `profile`, then run it in `run_dir` (one dataset or several).

    What `prefbench run` does: every problem the run would stop on is reported at once before
    anything runs (`prefbench.harness.preflight.check_inputs`, `PreflightFailed`); then a
    `datasets` profile runs through `run_datasets`, a single dataset through `open_run` and
    `run_benchmark`, with the cost ceiling `max_cost` (and `forecast`) as `run_datasets`
    describes.
    """
    check_inputs(profile, profile.name).require_ok(f"profile {profile.name}")
    if profile.datasets is not None:
        return run_datasets(
            run_dir, profile, console, display, limit, max_cost, forecast, allow_new_split
        )
    context = open_run(
        run_dir, profile, console, display=display, limit=limit, allow_new_split=allow_new_split
    )
    try:
        guard = prepare_forecast(context, max_cost, limit, forecast_wanted=forecast)
        report = run_benchmark(context, guard)
    finally:
        if context.lock is not None:  # now, not whenever the context is collected
            context.lock.release()
    return DatasetsOutcome(report, context.recomputed_nothing)


def prepare_records(context: PipelineContext) -> list[Record]:
    """Records with intents, written to `data/records.jsonl` (intents stage when needed)."""
    RecordsStage().run(context)
    return context.require_records()


def build_systems(context: PipelineContext, records: list[Record], only: str | None = None) -> None:
    """Run the build step (rules, adapters) of every profile system that has one.

    `records` become the context's records (the build trains on their train split);
    `only` names the one system to build.
    """
    context.records = records
    BuildStage(only=only).run(context)


def generate(
    context: PipelineContext, records: list[Record], only: str | None = None
) -> dict[str, StageResult]:
    """One generation eval per system (or only `only`) over the test split (`logs/gen/`)."""
    context.records = records
    GenerationStage(only=only).run(context)
    return context.generation_logs


def run_similarity_metrics(context: PipelineContext) -> dict[str, Any]:
    """Score every system's generation log (`logs/metrics/`); the `similarity` section."""
    stage = SimilarityStage()
    stage.run(context)
    return stage.report_section(context)


def run_personalization(context: PipelineContext, records: list[Record]) -> dict[str, Any] | None:
    """The K×K cross-user stage (`logs/cross/`); its `personalization` section.

    None when the profile's `metrics.personalization_system` is null.
    """
    context.records = records
    stage = CrossUserStage()
    stage.run(context)
    return stage.report_section(context)


def measure_similarity(context: PipelineContext, records: list[Record]) -> None:
    """Similarity metrics of every system, and the profile's K×K personalization matrix."""
    run_similarity_metrics(context)
    run_personalization(context, records)


def judge(context: PipelineContext) -> dict[str, StageResult]:
    """Judge the reference system against every other system (`logs/judge/`).

    With `judge.multi_candidate`, also all systems at once (`logs/multi/`).
    """
    PairwiseJudgeStage().run(context)
    MultiCandidateStage().run(context)
    return context.judge_logs


def report(context: PipelineContext) -> Report:
    """Write report.json, report.md, report.html and figures; return the report."""
    ReportStage().run(context)
    assert context.report is not None
    return context.report
