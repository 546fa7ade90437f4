"""`prefbench run --dry-run`: what a run would still do, its tokens, dollars and GPU-hours.

The plan walks the pipeline (`PIPELINE`) the way a run does, each stage through its `plan`
(`prefbench.harness.cost.plan`): a stage whose log the run folder holds under the key the run
would compute is finished and costs nothing; the others are planned by running their own code
(solvers, build steps, judge scorers, a plug-in's too) in-process against planning models
(`prefbench.harness.cost.probe`), so no model is called or loaded and no eval is run. Planned
answers stand for text of their whole `max_tokens` budget: output tokens are upper bounds, and
text not written yet (intents, drafts, rules, candidates) enters later prompts at that budget.
The LLM judge cannot parse a planned answer and asks again: those retries are the retry bound.

The stages work in a temporary planning folder (the records, the adapter manifests of the run
folder and placeholders for the adapters the plan trains), deleted afterwards; nothing is
written to the run folder. `gpu_forecast` (`prefbench.harness.cost.gpu_forecast`) turns the
plan into GPU-hours per stage.
"""

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from rich.console import Console

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.fingerprint import fingerprint
from prefbench.core.run_folder import RunFolder
from prefbench.harness.cost.forecast import read_forecast, write_forecast
from prefbench.harness.cost.gpu_forecast import StageGpuForecast, gpu_forecast
from prefbench.harness.cost.guard import CostGuard, refuse_above_ceiling
from prefbench.harness.cost.plan import (
    LOCAL_ONLY,
    PlanColumn,
    Planner,
    PlanRow,
    copy_manifests,
)
from prefbench.harness.cost.spend import price_list, usd_by_kind
from prefbench.harness.profile import Profile, dump_profile, trains_adapters
from prefbench.harness.serving.models import SMOLLM2, training_base
from prefbench.harness.serving.placement import plan_lines
from prefbench.harness.stage_runner import StageRunner
from prefbench.harness.stages import PIPELINE, PipelineContext
from prefbench.tasks.records import Record

__all__ = [
    "LOCAL_ONLY",
    "PlanRow",
    "RunPlan",
    "gpu_plan_lines",
    "plan_forecast",
    "plan_run",
    "prepare_forecast",
    "refuse_runs_above_ceiling",
]


@dataclass(frozen=True)
class RunPlan:
    """What a run of a profile would still do, row by row (in pipeline order), and totals.

    `users`, `train_records` and `test_records` describe the records it plans on (test: the
    ones generated, after `--limit`); `gpu` is the GPU-hours forecast per pipeline stage.
    """

    profile: str
    users: int
    train_records: int
    test_records: int
    rows: list[PlanRow]
    token_methods: dict[str, str]
    prices_as_of: str
    gpu: list[StageGpuForecast]

    def total(self, column: PlanColumn) -> int:
        """A column summed over the rows.

        `calls` and the token counts leave retries out; `retry_calls` is their upper bound,
        `training_jobs` the adapters to train.
        """
        return sum(getattr(row, column) for row in self.rows)

    @property
    def unpriced_models(self) -> list[str]:
        """Models called in the plan that have no price."""
        return sorted({str(row.model) for row in self.rows if row.calls and row.usd is None})

    @property
    def usd(self) -> float | None:
        """Estimated dollars of every call (no retries); None if a called model is unpriced."""
        if self.unpriced_models:
            return None
        return sum(row.usd or 0.0 for row in self.rows if row.calls)

    @property
    def retry_usd(self) -> float | None:
        """Upper bound of the retries' dollars; None if a retried model is unpriced."""
        costs = [row.retry_usd for row in self.rows if row.retry_calls]
        return None if any(cost is None for cost in costs) else sum(costs)  # type: ignore[arg-type]

    @property
    def gpu_hours(self) -> float:
        """The forecast GPU-hours of the whole run (every stage's, servers held included)."""
        return sum(stage.gpu_hours for stage in self.gpu)

    def calls_of(self, *stages: str) -> int:
        """Model calls of the named stages (log folders such as `gen`, `judge`), no retries."""
        return sum(row.calls for row in self.rows if row.stage in stages)


@contextmanager
def _environment_kept(name: str) -> Iterator[None]:
    """Restore the environment variable `name` afterwards (a stage runner sets it)."""
    before = os.environ.get(name)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _base_model_id(profile: Profile, run: RunFolder) -> str | None:
    """What the run folder's adapters were trained from, when it has adapters to compare.

    None (every adapter planned) when the folder has none, or when the small model's
    identity would need a conversion or weights that are not on disk.
    """
    if not (run.root / "artifacts").is_dir():
        return None
    spec = profile.roles["small"]
    if spec.model == SMOLLM2:
        from prefbench.core.offline_models import SMOLLM2_NAME, cache_root

        if not (cache_root() / "models" / SMOLLM2_NAME / "tokenizer.json").is_file():
            return None  # never converted here: the run would convert it first
    try:
        return training_base(profile)[1]
    except PrefbenchInputError:  # a small model that cannot train: the input checks say so
        return None


def plan_run(
    profile: Profile,
    records: list[Record] | None = None,
    limit: int | None = None,
    run_dir: Path | None = None,
    announce: Callable[[str], None] | None = None,
) -> RunPlan:
    """What a run of `profile` would do in `run_dir` (see the module docstring).

    `records` are the profile's records when already read (the records stage reads them
    otherwise); `limit` is `prefbench run --limit`: at most that many test records per
    system. Without `run_dir`, or when it holds nothing yet, the plan is a fresh run's.
    `announce` is told as each stage's planning starts. Raises what the stages raise on bad
    input (`PrefbenchInputError`).
    """
    with (
        TemporaryDirectory(prefix="prefbench-dry-run-") as folder,
        _environment_kept("INSPECT_CACHE_DIR"),
    ):
        planning = RunFolder(Path(folder) / "run")
        planning.root.mkdir()
        run = RunFolder(run_dir if run_dir is not None else Path(folder) / "none")
        copy_manifests(run, planning.root)
        planner = Planner(
            profile, run, base_model_id=_base_model_id(profile, run), source_records=records
        )
        quiet = Console(file=io.StringIO(), width=200)
        runner = StageRunner(planning, profile, display="none", announce=lambda _: None)
        context = PipelineContext(planning, profile, quiet, runner, limit=limit, stages=PIPELINE)
        for index, stage in enumerate(context.stages, start=1):
            if announce is not None:
                announce(f"planning stage {index}/{len(context.stages)} {stage.name}")
            stage.plan(context, planner)
        planned_records = context.require_records()
    test = [record for record in planned_records if record.split == "test"][:limit]
    return RunPlan(
        profile=profile.name,
        users=len({record.user for record in planned_records}),
        train_records=sum(record.split == "train" for record in planned_records),
        test_records=len(test),
        rows=planner.rows,
        token_methods=planner.token_methods,
        prices_as_of=price_list().as_of,
        gpu=gpu_forecast(planner.rows, profile, [stage.name for stage in PIPELINE]),
    )


def gpu_plan_lines(profile: Profile) -> list[str]:
    """Which GPUs each role's model and the adapter training run on (`serving.placement`)."""
    return plan_lines(profile.roles, trains_adapters(profile))


def _sums(rows: list[PlanRow]) -> dict[str, Any]:
    """Calls, tokens and dollars of some plan rows; dollars None when a called model is unpriced."""
    called = [row for row in rows if row.calls or row.retry_calls]
    costs = [row.usd for row in called if row.calls]
    retries = [row.retry_usd for row in called if row.retry_calls]
    return {
        "calls": sum(row.calls for row in rows),
        "retry_calls": sum(row.retry_calls for row in rows),
        "training_jobs": sum(row.training_jobs for row in rows),
        "input_tokens": sum(row.input_tokens for row in rows),
        "output_tokens": sum(row.output_tokens for row in rows),
        "usd": None if any(cost is None for cost in costs) else sum(costs),  # type: ignore[arg-type]
        "retry_usd": None if any(cost is None for cost in retries) else sum(retries),  # type: ignore[arg-type]
    }


def plan_forecast(plan: RunPlan, fingerprint_of_inputs: str) -> dict[str, Any]:
    """The plan as `forecast.json` (`cost.forecast`): totals, by stage kind, by pipeline stage.

    `fingerprint_of_inputs` identifies the profile, limit and prices it was made for.
    """
    by_kind: dict[str, list[PlanRow]] = {}
    by_stage: dict[str, list[PlanRow]] = {}
    for row in plan.rows:
        by_kind.setdefault(row.stage, []).append(row)
        by_stage.setdefault(row.pipeline_stage or row.stage, []).append(row)
    gpu = {forecast.stage: forecast for forecast in plan.gpu}
    stages = {}
    for name, rows in by_stage.items():
        kinds = sorted({row.stage for row in rows if row.calls or row.training_jobs})
        roles = sorted({str(row.role) for row in rows if row.role})
        stages[name] = {"kinds": kinds, "roles": roles, **_sums(rows)}
        if name in gpu:
            stages[name]["gpu_hours"] = gpu[name].gpu_hours
    return {
        "profile": plan.profile,
        "inputs": fingerprint_of_inputs,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "prices_as_of": plan.prices_as_of,
        "usd": plan.usd,
        "retry_usd": plan.retry_usd,
        "unpriced_models": plan.unpriced_models,
        "gpu_hours": plan.gpu_hours,
        "by_kind": {kind: _sums(rows) for kind, rows in by_kind.items()},
        "by_stage": stages,
    }


def prepare_forecast(
    context: PipelineContext,
    max_cost: float | None = None,
    limit: int | None = None,
    spent_elsewhere: float = 0.0,
    forecast_wanted: bool = False,
    plan: RunPlan | None = None,
) -> CostGuard | None:
    """Plan what the run still needs at its start; the cost guard when there is a ceiling.

    A plan (`plan_run` of the context's run folder: only what is not finished) is made when
    there is a ceiling or `forecast_wanted`. It is kept as `forecast.json`, with what the run
    folder had spent by then, unless the folder holds a forecast of the same profile, limit and
    prices already (a resumed run keeps the forecast of its start, which the report compares
    with the spend). Raises `ForecastAboveCeiling` (an input error) when what was spent (here
    and, `spent_elsewhere`, by earlier datasets of the run) plus the plan is above `max_cost`;
    a run with nothing left to do is never refused. `plan` is the folder's plan when made
    already (`refuse_runs_above_ceiling`).
    """
    profile = context.profile
    if max_cost is None and not forecast_wanted:
        return None
    inputs = fingerprint(
        {"profile": dump_profile(profile), "limit": limit, "prices": price_list().model_dump()}
    )
    context.console.print("[dim]planning what the run still needs (a dry run)...[/dim]")
    spent_by_kind = usd_by_kind(context.run, profile)
    if plan is None:
        plan = plan_run(profile, limit=limit, run_dir=context.run.root)
    forecast = {**plan_forecast(plan, inputs), "spent_before_by_kind": spent_by_kind}
    previous = read_forecast(context.run.root)
    if previous is None or previous.get("inputs") != inputs:
        write_forecast(context.run.root, forecast)
    if max_cost is None:
        return None
    spent = spent_elsewhere + sum(value or 0.0 for value in spent_by_kind.values())
    refuse_above_ceiling(forecast, max_cost, context.run.root, spent=spent)
    return CostGuard(
        ceiling=max_cost,
        forecast=forecast,
        spent_elsewhere=spent_elsewhere,
        spent_at_start=spent_by_kind,
    )


def refuse_runs_above_ceiling(
    runs: dict[Path, Profile], max_cost: float, limit: int | None = None
) -> dict[Path, RunPlan]:
    """Plan every run folder of a several-dataset run; refuse them all above the ceiling.

    `runs` maps each dataset's folder to its profile. What the folders spent plus what their
    plans still need (retries left out) must fit under `max_cost`, before any of them starts;
    else `ForecastAboveCeiling` names the amounts. Returns each folder's plan (for
    `prepare_forecast`, which checks each folder again when it starts).
    """
    plans = {
        folder: plan_run(profile, limit=limit, run_dir=folder) for folder, profile in runs.items()
    }
    spent = sum(
        value or 0.0
        for folder, profile in runs.items()
        for value in usd_by_kind(RunFolder(folder), profile).values()
    )
    costs = [plan.usd for plan in plans.values()]
    unpriced = sorted({model for plan in plans.values() for model in plan.unpriced_models})
    total = {
        "usd": None if unpriced else sum(cost or 0.0 for cost in costs),
        "unpriced_models": unpriced,
    }
    root = next(iter(runs)).parent if runs else Path(".")
    refuse_above_ceiling(total, max_cost, root, spent=spent)
    return plans
