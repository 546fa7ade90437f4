"""The dry run shown: its plan as tables (`prefbench.core.tables`), readable down to 60 columns.

`plan_table` has one row per eval and role (and per system's adapters), grouped under their
pipeline stage: the job (folded, never cut) with its role on a second line, then calls, retries,
tokens and dollars, all short enough to stay whole in a narrow terminal (tokens above 10,000 in
k/M; the totals line has them exact). Which model plays each role is in the caption. `gpu_table`
is the GPU-hours forecast per stage. `show_dry_run` is `prefbench run --dry-run`: the checks of
every input first (`prefbench.harness.preflight`), then each dataset's plan of what its run
folder still needs.
"""

from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from prefbench.core.run_folder import RunFolder
from prefbench.core.tables import Cell, Column, Table, cells, rich_table
from prefbench.harness.cost.dry_run import RunPlan, gpu_plan_lines, plan_run
from prefbench.harness.cost.gpu_forecast import HOSTED_OUTPUT_TOKENS_PER_SECOND
from prefbench.harness.cost.guard import dollars
from prefbench.harness.cost.plan import PlanRow
from prefbench.harness.cost.spend import usd_by_kind
from prefbench.harness.preflight import check_inputs
from prefbench.harness.profile import Profile, dataset_profiles
from prefbench.harness.progress import clock
from prefbench.harness.serving.models import lora_plan_lines

NONE = "–"


def compact(value: int) -> str:
    """A count short enough for a narrow column: exact below 10,000, else k or M."""
    if value < 10_000:
        return f"{value:,}"
    if value < 1_000_000:
        return f"{value / 1000:.0f}k"
    return f"{value / 1_000_000:.1f}M"


def _role(row: PlanRow) -> str:
    if row.training_jobs:
        return f"{row.role}: {row.training_jobs} adapters"
    if not row.role:
        return "local"
    adapter = " + adapter" if str(row.model).endswith(" + adapter") else ""
    return f"{row.role}{adapter}" + (" (batch)" if row.batch else "")


def _usd(row: PlanRow) -> str:
    if not row.calls and not row.retry_calls:
        return NONE
    return "no price" if row.usd is None else dollars(row.usd)


def _shown_rows(rows: list[PlanRow]) -> list[PlanRow]:
    """The rows to show: the local evals of one kind in one stage merged into one row."""
    local: dict[tuple[str, str], list[PlanRow]] = {}
    for row in rows:
        if not (row.calls or row.retry_calls or row.training_jobs):
            local.setdefault((row.pipeline_stage, row.stage), []).append(row)
    shown = []
    for row in rows:
        group = local.get((row.pipeline_stage, row.stage), [])
        if row not in group:
            shown.append(row)
        elif row is group[0]:
            many = len(group) > 1
            shown.append(replace(row, job=f"{len(group)} {row.stage} evals") if many else row)
    return shown


def plan_table(plan: RunPlan, profile: Profile) -> Table:
    """The plan, one row per group of jobs under its pipeline stage (module docstring)."""
    rows = []
    stage = None
    for row in _shown_rows(plan.rows):
        if row.pipeline_stage != stage:
            stage = row.pipeline_stage
            rows.append([Cell(stage, emphasis=True), *cells("", "", "", "", "")])
        called = bool(row.calls or row.retry_calls)
        rows.append(
            [
                Cell(f"{row.job}\n  {_role(row)}", note=row.note),
                *cells(
                    f"{row.calls:,}" if called else NONE,
                    f"+{row.retry_calls:,}" if row.retry_calls else "",
                    compact(row.input_tokens) if called else NONE,
                    compact(row.output_tokens) if called else NONE,
                    _usd(row),
                ),
            ]
        )
    roles = "; ".join(
        f"{role} = {spec.model} ({plan.token_methods.get(role, 'not called')})"
        for role, spec in profile.roles.items()
    )
    return Table(
        title=(
            f"dry run of {plan.profile}: {plan.users} users, {plan.train_records} train and "
            f"{plan.test_records} test records; what the run still needs (no model was called)"
        ),
        columns=[
            Column("job / role", "left", wrap=True),
            Column("calls"),
            Column("retries"),
            Column("in tok"),
            Column("out tok"),
            Column("USD"),
        ],
        rows=rows,
        caption=(
            f"roles: {roles}. Input tokens: the prompts the run sends, with text not written "
            "yet (intents, drafts, rules, candidates) at its max_tokens budget; output: "
            "max_tokens per call (an upper bound). Retries: calls that repeat a prompt (the "
            "LLM judge asks again when it cannot parse an answer), an upper bound. USD at list "
            f"prices as of {plan.prices_as_of} (harness/cost/prices.yaml, the profile's prices), "
            "batched judge calls (batch) at the provider's batch rate; local models cost 0."
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
    extra = f" (+ up to {dollars(retry_usd)} if every judge answer is retried)" if retry_usd else ""
    return line + f"≈ {dollars(plan.usd)}{extra}"


def gpu_table(plan: RunPlan, profile: Profile) -> Table | None:
    """The GPU-hours forecast per stage; None when no role owns a GPU."""
    if not plan.gpu:
        return None
    settings = profile.throughput
    rows = [
        cells(
            forecast.stage,
            clock(forecast.seconds) if forecast.seconds else NONE,
            str(forecast.gpus),
            f"{forecast.gpu_hours:,.1f}",
            ", ".join(forecast.held) or NONE,
        )
        for forecast in plan.gpu
    ]
    rows.append([Cell("total", emphasis=True), *cells("", "", f"{plan.gpu_hours:,.1f}", "")])
    return Table(
        title="GPU-hours forecast (servers count from the stage that starts them to the end)",
        columns=[
            Column("stage", "left"),
            Column("time"),
            Column("GPUs"),
            Column("GPU-h"),
            Column("held by (roles)", "left", wrap=True),
        ],
        rows=rows,
        caption=(
            f"assumed: {settings.output_tokens_per_second:,.0f} output and "
            f"{settings.input_tokens_per_second:,.0f} input tokens/s per GPU for a "
            f"{settings.reference_billions:g}B model (scaled by size and GPUs), "
            f"{settings.training_seconds_per_step:g} s per adapter training step, hosted "
            f"models at {HOSTED_OUTPUT_TOKENS_PER_SECOND:,.0f} output tokens/s; local work "
            "(metrics, report) not counted. The profile's `throughput` section sets them "
            "(docs/cost.md)."
        ),
    )


def show_dry_run(
    profile: Profile,
    run_dir: Path,
    console: Console,
    limit: int | None = None,
    ceiling: float | None = None,
) -> list[RunPlan]:
    """Check every input, then print each dataset's plan for its folder under `run_dir`.

    Raises `PreflightFailed` (exit 2) listing every problem before anything is planned. With a
    `ceiling`, says whether the run would start under it (what its folders spent plus the
    plan, dataset after dataset). Returns the plans.
    """
    found = check_inputs(profile, profile.name)
    for note in found.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    found.require_ok(f"profile {profile.name}")
    plans, spent = [], 0.0
    for name, dataset_profile in dataset_profiles(profile).items():
        if name:
            console.rule(f"[bold]dataset {escape(name)}", characters="=")
        folder = run_dir / name if name else run_dir
        plan = plan_run(
            dataset_profile,
            found.records[name],
            limit,
            run_dir=folder,
            announce=lambda line: console.print(f"[dim]{escape(line)}[/dim]", highlight=False),
        )
        plans.append(plan)
        if plan.rows:
            console.print(rich_table(plan_table(plan, dataset_profile)))
        else:
            console.print(f"[green]{escape(str(folder))}: every stage is finished[/green]")
        console.print(totals_line(plan), highlight=False)
        gpu = gpu_table(plan, dataset_profile)
        if gpu is not None:
            console.print(rich_table(gpu))
        if ceiling is not None:
            if folder.is_dir():
                spent += sum(v or 0.0 for v in usd_by_kind(RunFolder(folder), profile).values())
            fits = plan.usd is not None and (plan.usd == 0 or spent + plan.usd <= ceiling)
            spent += plan.usd or 0.0
            verdict = "fits under" if fits else "does not fit under (the run would not start)"
            console.print(f"the forecast {verdict} the ceiling of {dollars(ceiling)}")
        lengths = found.lengths.get(name)
        if lengths is not None:
            console.print(lengths.line(), highlight=False)
    users = max((len({r.user for r in records}) for records in found.records.values()), default=0)
    lines = gpu_plan_lines(profile) + lora_plan_lines(profile, users)
    console.print("\n".join(lines), highlight=False)
    return plans
