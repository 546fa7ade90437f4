"""`prefbench run --dry-run`: the jobs a run needs, their tokens and cost, before running it.

The plan is not a second description of the pipeline: it runs the real one (`open_run`,
`run_benchmark`) in a temporary folder with every role played by a planning model
(`prefbench.harness.cost.planning_model`) and adapter training replaced by a recorder, then reads
what the eval logs say was called. So every stage, system (a plug-in's too), order, rotation and
retry is planned by the code that will run it. The planning models answer each call at its whole
`max_tokens` budget: output tokens are upper bounds, and text the run has not written yet (intents,
drafts, rules, candidates) enters later prompts at that budget. The LLM judge cannot parse a
planning answer, so it asks again (a follow-up turn, or the same prompt): those retries are the
retry bound.

No model is called or loaded: stages that call no model (similarity metrics, a similarity
judge, the report) are skipped and listed as such (`Stage.calls_models`). Nothing is written
outside the temporary folder, and it is deleted afterwards. A
plan counts a fresh run; a re-run reuses finished stages and cached calls, and costs less.
"""

import io
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Literal

from rich.console import Console

from prefbench.core.fingerprint import fingerprint
from prefbench.core.run_folder import RunFolder
from prefbench.core.tables import Cell, Column, Table, cells, columns
from prefbench.harness.cost.forecast import read_forecast, write_forecast
from prefbench.harness.cost.guard import CostGuard, refuse_above_ceiling
from prefbench.harness.cost.planning_model import (
    ADAPTER_FIELD,
    FOLLOW_UP_FIELD,
    PROMPT_FIELD,
    ROLE_FIELD,
    planning_spec,
    real_model,
    token_counter,
)
from prefbench.harness.cost.spend import (
    finished_logs,
    log_stage,
    logged_calls,
    price_list,
    price_of,
    usd,
)
from prefbench.harness.pipeline import PipelineContext, open_run, run_benchmark
from prefbench.harness.profile import DatasetSpec, Profile, dump_profile, trains_adapters
from prefbench.harness.serving.placement import plan_lines
from prefbench.harness.stages import Stage
from prefbench.harness.stages.records import limited_records
from prefbench.solvers.training.lora import (
    Checkpointing,
    LoraSettings,
    StepCallback,
    TrainingExample,
    TrainingResult,
)
from prefbench.tasks.records import Record, write_records

PlanColumn = Literal["calls", "retry_calls", "training_jobs", "input_tokens", "output_tokens"]
"""The columns of `PlanRow` that add up (`RunPlan.total`)."""
LOCAL_ONLY = "no model call (a local scorer, metric or the report)"
PLACEHOLDER_ADAPTER = {"prefbench_dry_run": "a placeholder: no adapter was trained"}


@dataclass(frozen=True)
class PlanRow:
    """One group of jobs: one eval's model calls of one role and model, or adapter trainings.

    `stage` is the log folder the jobs land in (`intents`, `build`, `gen`, `cross`,
    `judge`, `multi`, ...), `job` the eval's stage name or `<system>: adapters`. Tokens
    and dollars are those of `calls`; `retry_calls` are the calls that repeat one of them
    (LLM judge retries, an upper bound) and `retry_usd` their cost. `usd` is None when the
    model has no price.
    """

    stage: str
    job: str
    role: str | None = None
    model: str | None = None
    calls: int = 0
    retry_calls: int = 0
    training_jobs: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float | None = 0.0
    retry_usd: float | None = 0.0
    note: str = ""
    pipeline_stage: str = ""
    """The pipeline stage that runs these jobs.

    One of `prefbench.harness.stages`: `records`, `build`, `generation`, ...
    """
    batch: bool = False
    """The calls go through the provider's batch API (`judge.batch`): priced at its rate."""


@dataclass(frozen=True)
class RunPlan:
    """What a run of a profile needs, row by row (in the order the run does it), and totals."""

    profile: str
    users: int
    train_records: int
    test_records: int
    rows: list[PlanRow]
    token_methods: dict[str, str]
    prices_as_of: str

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

    def calls_of(self, *stages: str) -> int:
        """Model calls of the named stages (log folders such as `gen`, `judge`), no retries."""
        return sum(row.calls for row in self.rows if row.stage in stages)


@dataclass(frozen=True)
class TrainingJob:
    """One adapter the run would train: for which system and user, on how many examples."""

    system: str
    user: str
    examples: int
    settings: LoraSettings
    recorded_ns: int


@dataclass
class TrainingRecorder:
    """An `AdapterTrainer` that records each job and writes a placeholder adapter folder."""

    jobs: list[TrainingJob] = field(default_factory=list)

    def __call__(
        self,
        base_model_dir: Path,
        examples: Sequence[TrainingExample],
        settings: LoraSettings,
        adapter_dir: Path,
        on_step: StepCallback | None = None,
        *,
        checkpoints: Checkpointing | None = None,
    ) -> TrainingResult:
        """Record the job; the folder is `artifacts/SYSTEM/USER/adapter` (`user_artifacts`)."""
        user_folder = Path(adapter_dir).parent
        self.jobs.append(
            TrainingJob(
                system=user_folder.parent.name,
                user=user_folder.name,
                examples=len(examples),
                settings=settings,
                recorded_ns=time.time_ns(),
            )
        )
        Path(adapter_dir).mkdir(parents=True, exist_ok=True)
        (Path(adapter_dir) / "adapter_config.json").write_text(json.dumps(PLACEHOLDER_ADAPTER))
        return TrainingResult(losses=[], steps=0, seconds=0.0, trainable_parameters=0)


def planning_profile(profile: Profile, records_path: Path) -> Profile:
    """`profile` with every role played by its planning model, reading `records_path`."""
    roles = {role: planning_spec(spec) for role, spec in profile.roles.items()}
    dataset = DatasetSpec(kind="records", path=str(records_path))
    return profile.model_copy(update={"roles": roles, "dataset": dataset})


@contextmanager
def _environment_kept(name: str) -> Iterator[None]:
    """Restore the environment variable `name` afterwards (a run points it at its folder)."""
    before = os.environ.get(name)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


@dataclass
class _Group:
    row: PlanRow
    ran_at_ns: int
    """When the stage ran (its log ended, or the first training was recorded): the row order."""
    calls: int = 0
    retry_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    retry_input_tokens: int = 0
    retry_output_tokens: int = 0


def _priced_row(group: _Group, profile: Profile) -> PlanRow:
    row = group.row
    if not group.calls and not group.retry_calls:
        return row
    batched = row.role == "judge" and bool(profile.judge.batch)
    price = price_of(str(row.model).removesuffix(" + adapter"), profile, batch=batched)
    return replace(
        row,
        batch=batched,
        calls=group.calls,
        retry_calls=group.retry_calls,
        input_tokens=group.input_tokens,
        output_tokens=group.output_tokens,
        usd=usd(price, group.input_tokens, group.output_tokens),
        retry_usd=usd(price, group.retry_input_tokens, group.retry_output_tokens),
    )


def _call_rows(run: RunFolder) -> list[_Group]:
    """One group per (eval, role, model) of the logged calls; an eval without calls gets one."""
    evals: dict[tuple[str, str], int] = {}
    for kind, path, header in finished_logs(run):  # the order stages ran: when each log ended
        evals.setdefault((kind, log_stage(header)), path.stat().st_mtime_ns)
    groups: dict[tuple[str, ...], _Group] = {}
    seen: set[tuple[str, str, str, str]] = set()
    for call in logged_calls(run):
        adapter = call.metadata.get(ADAPTER_FIELD)
        role = call.role or call.metadata.get(ROLE_FIELD)
        model = real_model(call.model) + (" + adapter" if adapter else "")
        key = (call.kind, call.stage, str(role), model)
        if key not in groups:
            row = PlanRow(stage=call.kind, job=call.stage, role=role, model=model)
            groups[key] = _Group(row, evals[(call.kind, call.stage)])
        group = groups[key]
        prompt = (call.kind, call.stage, call.sample, str(call.metadata.get(PROMPT_FIELD)))
        if prompt in seen or call.metadata.get(FOLLOW_UP_FIELD):
            group.retry_calls += 1
            group.retry_input_tokens += call.input_tokens
            group.retry_output_tokens += call.output_tokens
        else:
            seen.add(prompt)
            group.calls += 1
            group.input_tokens += call.input_tokens
            group.output_tokens += call.output_tokens
    called = {(group.row.stage, group.row.job) for group in groups.values()}
    for (kind, stage), when in evals.items():
        if (kind, stage) not in called:
            row = PlanRow(stage=kind, job=stage, note=LOCAL_ONLY)
            groups[(kind, stage)] = _Group(row, when)
    return list(groups.values())


def _training_rows(jobs: list[TrainingJob], profile: Profile) -> list[_Group]:
    """One group per system that trains adapters: how many, on what, with which settings."""
    by_system: dict[str, list[TrainingJob]] = {}
    for job in jobs:
        by_system.setdefault(job.system, []).append(job)
    groups = []
    for system, system_jobs in by_system.items():
        settings = system_jobs[0].settings
        examples = sum(job.examples for job in system_jobs)
        row = PlanRow(
            stage="build",
            job=f"{system}: adapters",
            role="small",
            model=profile.roles["small"].model,
            training_jobs=len(system_jobs),
            usd=None,
            note=(
                f"LoRA r={settings.rank}, {settings.max_steps} steps × batch "
                f"{settings.batch_size}, quantization {settings.quantization}, {examples} "
                "examples in all; not priced"
            ),
        )
        groups.append(_Group(row, system_jobs[0].recorded_ns))
    return groups


def _skipped_rows(stages: list[Stage]) -> list[_Group]:
    """One row per stage the planning run skipped: it calls no model (listed after the rest)."""
    return [
        _Group(
            PlanRow(stage=stage.name, job=stage.title, note=LOCAL_ONLY, pipeline_stage=stage.name),
            time.time_ns(),
        )
        for stage in stages
    ]


def _in_pipeline_stage(group: _Group, spans: list[tuple[str, int, int]]) -> _Group:
    """The group with the pipeline stage that was running when its jobs ran."""
    if group.row.pipeline_stage:
        return group
    for name, start, end in spans:
        if start <= group.ran_at_ns <= (end or time.time_ns()):
            group.row = replace(group.row, pipeline_stage=name)
            return group
    return group


def plan_run(profile: Profile, records: list[Record], limit: int | None = None) -> RunPlan:
    """The jobs a fresh run of `profile` on `records` needs (see the module docstring).

    `limit` is `prefbench run --limit`: at most that many test records per system.
    Raises what the run itself raises on bad input (`PrefbenchInputError`, e.g. a small
    role that cannot train adapters).
    """
    with TemporaryDirectory(prefix="prefbench-dry-run-") as folder:
        records_path = Path(folder) / "records.jsonl"
        write_records(records_path, records)
        planning = planning_profile(profile, records_path)
        quiet = Console(file=io.StringIO(), width=200)
        context = open_run(Path(folder) / "run", planning, quiet, display="none", limit=limit)
        recorder = TrainingRecorder()
        context.adapter_trainer = recorder
        context.planning = True
        with _environment_kept("INSPECT_CACHE_DIR"):
            run_benchmark(context)
        groups = (
            _call_rows(context.run)
            + _training_rows(recorder.jobs, profile)
            + _skipped_rows(context.skipped)
        )
    groups = [_in_pipeline_stage(group, context.stage_spans) for group in groups]
    groups.sort(key=lambda group: group.ran_at_ns)
    test = [record for record in records if record.split == "test"][:limit]
    return RunPlan(
        profile=profile.name,
        users=len({record.user for record in records}),
        train_records=sum(record.split == "train" for record in records),
        test_records=len(test),
        rows=[_priced_row(group, profile) for group in groups],
        token_methods={
            role: token_counter(spec.model_args.get("tokenizer")).method
            for role, spec in planning.roles.items()
        },
        prices_as_of=price_list().as_of,
    )


def gpu_plan_lines(profile: Profile) -> list[str]:
    """Which GPUs each role's model and the adapter training run on (`serving.placement`)."""
    return plan_lines(profile.roles, trains_adapters(profile))


def _number(value: int) -> str:
    return f"{value:,}"


def _dollars(value: float | None) -> str:
    return "no price" if value is None else f"${value:,.2f}"


def plan_table(plan: RunPlan) -> Table:
    """The plan as a table (`core.tables`: terminal, Markdown or HTML), one row per job group."""
    roles_by_method: dict[str, list[str]] = {}
    for role, method in plan.token_methods.items():
        roles_by_method.setdefault(method, []).append(role)
    methods = "; ".join(
        f"{', '.join(roles)}: {method}" for method, roles in roles_by_method.items()
    )
    rows = []
    for row in plan.rows:
        if row.calls or row.retry_calls:
            calls = _number(row.calls)
            dollars = _dollars(row.usd) + (" (batch)" if row.batch else "")
            tokens_in, tokens_out = _number(row.input_tokens), _number(row.output_tokens)
        else:
            calls = tokens_in = tokens_out = dollars = "–"
        rows.append(
            cells(
                row.stage,
                Cell(row.job, note=row.note),
                f"{row.role}: {row.model}" if row.role else (row.model or "–"),
                calls,
                _number(row.retry_calls) if row.retry_calls else "",
                _number(row.training_jobs) if row.training_jobs else "",
                tokens_in,
                tokens_out,
                dollars,
            )
        )
    return Table(
        title=(
            f"dry run of profile {plan.profile}: {plan.users} users, {plan.train_records} train "
            f"and {plan.test_records} test records (no model was called)"
        ),
        columns=[
            Column("stage", "left"),
            Column("job", "left", wrap=True),
            Column("role: model", "left", wrap=True),
            *columns(
                "calls", "retries ≤", "adapters", "input tok", "output tok ≤", "USD", labels=0
            ),
        ],
        rows=rows,
        caption=(
            f"input tokens: the prompts the run sends ({methods}); text not written yet "
            "(intents, drafts, rules, candidates) at its max_tokens budget. output: max_tokens "
            "per call (an upper bound). retries: calls that repeat a prompt (the LLM judge asks "
            "again when it cannot parse an answer). USD at list prices as of "
            f"{plan.prices_as_of} (harness/cost/prices.yaml, the profile's prices), batched judge "
            "calls (batch) at the provider's batch rate; local models cost 0."
        ),
    )


def totals_line(plan: RunPlan) -> str:
    """One line: calls, retries, trainings, tokens and dollars of the whole plan."""
    retry_calls = plan.total("retry_calls")
    retries = f" (+ up to {retry_calls:,} judge retries)" if retry_calls else ""
    line = (
        f"total: {plan.total('calls'):,} model calls{retries}, {plan.total('training_jobs'):,} "
        f"adapters to train; ~{plan.total('input_tokens'):,} input tokens, "
        f"≤ {plan.total('output_tokens'):,} output tokens; "
    )
    if plan.unpriced_models:
        return line + f"cost unknown: no price for {', '.join(plan.unpriced_models)}"
    retry_usd = plan.retry_usd
    extra = (
        f" (+ up to {_dollars(retry_usd)} if every judge answer is retried)" if retry_usd else ""
    )
    return line + f"≈ {_dollars(plan.usd)}{extra}"


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
    stages = {}
    for name, rows in by_stage.items():
        kinds = sorted({row.stage for row in rows if row.calls or row.training_jobs})
        roles = sorted({str(row.role) for row in rows if row.role})
        stages[name] = {"kinds": kinds, "roles": roles, **_sums(rows)}
    return {
        "profile": plan.profile,
        "inputs": fingerprint_of_inputs,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "prices_as_of": plan.prices_as_of,
        "usd": plan.usd,
        "retry_usd": plan.retry_usd,
        "unpriced_models": plan.unpriced_models,
        "by_kind": {kind: _sums(rows) for kind, rows in by_kind.items()},
        "by_stage": stages,
    }


def prepare_forecast(
    context: PipelineContext,
    max_cost: float | None = None,
    limit: int | None = None,
    spent_elsewhere: float = 0.0,
    forecast_wanted: bool = False,
) -> CostGuard | None:
    """Write the run's `forecast.json` at its start; the cost guard when there is a ceiling.

    A forecast is made (a dry run of the context's profile, ~20 s for the demo) when there
    is a ceiling or `forecast_wanted`, and reused while the profile, `limit` and prices stay
    the same. Raises `ForecastAboveCeiling` (an input error) when the forecast is above
    `max_cost` less `spent_elsewhere` (what earlier datasets of the run spent).
    """
    profile = context.profile
    if max_cost is None and not forecast_wanted:
        return None
    inputs = fingerprint(
        {"profile": dump_profile(profile), "limit": limit, "prices": price_list().model_dump()}
    )
    forecast = read_forecast(context.run.root)
    if forecast is None or forecast.get("inputs") != inputs:
        context.console.print("[dim]forecasting the run's cost (a dry run)...[/dim]")
        records, _ = limited_records(profile)
        forecast = plan_forecast(plan_run(profile, records, limit=limit), inputs)
        write_forecast(context.run.root, forecast)
    if max_cost is None:
        return None
    refuse_above_ceiling(forecast, max_cost - spent_elsewhere, context.run.root)
    return CostGuard(ceiling=max_cost, forecast=forecast, spent_elsewhere=spent_elsewhere)
