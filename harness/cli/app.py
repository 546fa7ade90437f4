"""`prefbench`: the command line (docs/design.md §7). Thin: each command calls library functions.

Exit codes: 0 success, 2 bad usage or bad input (the message names the file and the fix;
also a forecast above the cost ceiling), 1 an internal failure or an unfinished stage, 3 the
cost ceiling stopped the run before a stage (run again with a higher ceiling to resume), 130
interrupted (run again to resume).
"""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from prefbench.core.atomic import DISK_FULL_ERRNOS
from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.cli.data import data_app
from prefbench.harness.cli.human import human_app
from prefbench.harness.cli.human_results import agreement_command, import_answers_command
from prefbench.harness.cost.guard import CEILING_EXIT_CODE, CeilingReached
from prefbench.harness.profile import Profile, load_profile, read_run_profile
from prefbench.harness.stage_runner import StageInterrupted

if TYPE_CHECKING:
    from prefbench.harness.cost.guard import CostGuard
    from prefbench.harness.pipeline import PipelineContext

app = typer.Typer(
    help="Benchmark personalized text generation: preference agents and baselines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_app, name="data")
human_app.command("import")(import_answers_command)
human_app.command("agreement")(agreement_command)
app.add_typer(human_app, name="human")
console = Console()

ProfileOption = Annotated[
    str, typer.Option("--profile", help="Built-in profile (demo, paper) or a YAML file.")
]
RunOption = Annotated[Path, typer.Option("--run", help="The run folder, e.g. runs/demo.")]
DisplayOption = Annotated[
    str, typer.Option("--display", help="inspect's progress display: rich, plain or none.")
]


def _offline_environment(profile: Profile) -> None:
    """Profiles on packaged models never reach a hub (docs/design.md §3)."""
    if all(spec.model.startswith("offline/") for spec in profile.roles.values()):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # the CLI draws its own progress; transformers' per-model "Loading weights" bars are noise
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # ... and so are its warnings (e.g. that greedy decoding ignores the stated temperature)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _open_existing(run_dir: Path, display: str, judge_kind: str | None = None) -> "PipelineContext":
    """Reopen a run folder with its own profile (optionally another judge)."""
    from prefbench.core.run_folder import RunFolder
    from prefbench.harness.pipeline import open_run

    run = RunFolder(run_dir).require_existing()
    profile = read_run_profile(run.profile, judge_kind)
    if profile.datasets is not None:
        folders = ", ".join(str(run_dir / name) for name in profile.datasets)
        raise PrefbenchInputError(
            f"{run_dir} is a run over several datasets, each a run folder of its own: give "
            f"--run one of {folders} (`prefbench run --out {run_dir}` runs them all)"
        )
    _offline_environment(profile)
    return open_run(run_dir, profile, console, display=display)


def _print_leaderboard(report: dict, run_dir: Path) -> None:
    from prefbench.core.tables import rich_tables
    from prefbench.harness.report.combined import combined_terminal_tables, is_combined
    from prefbench.harness.report.tables import terminal_tables

    tables = combined_terminal_tables(report) if is_combined(report) else terminal_tables(report)
    console.print(rich_tables(tables))
    if isinstance(report.get("long_texts"), dict):
        from prefbench.tasks.long_texts import outcome_line

        console.print(outcome_line(report["long_texts"]), highlight=False)
    console.print(
        f"Run folder: [bold]{run_dir}[/bold] (report.json, report.md, report.html, figures/, "
        "logs/ for `inspect view`)"
    )


@app.command()
def run(
    profile: ProfileOption = "demo",
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default runs/<profile>).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most N test samples per system.")
    ] = None,
    display: DisplayOption = "rich",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the jobs, token estimates and cost the run needs; run nothing.",
        ),
    ] = False,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost",
            min=0.0,
            help="Cost ceiling in US dollars (default: the profile's max_cost): a run whose "
            "forecast is above it does not start, and no stage starts that could cross it.",
        ),
    ] = None,
    forecast: Annotated[
        bool,
        typer.Option(
            "--forecast",
            help="Keep the dry run's forecast in the run folder (forecast.json); the report "
            "then compares it with the spend. Implied by a cost ceiling.",
        ),
    ] = False,
    allow_new_split: Annotated[
        bool,
        typer.Option(
            "--allow-new-split",
            help="Let an existing run folder take another split (other records, test "
            "fraction, seed...): its report is rebuilt. Without it such a run is refused.",
        ),
    ] = False,
) -> None:
    """Run the whole benchmark: records, intents, build, generation, judging, report."""
    from prefbench.harness.pipeline import open_run, run_benchmark, run_datasets

    resolved, _ = load_profile(profile)
    _offline_environment(resolved)
    ceiling = max_cost if max_cost is not None else resolved.max_cost
    if dry_run:
        from prefbench.core.tables import rich_table
        from prefbench.harness.cost.dry_run import gpu_plan_lines, plan_run, plan_table, totals_line
        from prefbench.harness.profile import dataset_profiles
        from prefbench.harness.stages.records import limited_records

        for name, dataset_profile in dataset_profiles(resolved).items():
            if name:
                console.rule(f"[bold]dataset {name}", characters="=")
            records, lengths = limited_records(dataset_profile)
            plan = plan_run(dataset_profile, records, limit=limit)
            console.print(rich_table(plan_table(plan)))
            console.print(totals_line(plan), highlight=False)
            if ceiling is not None:
                fits = plan.usd is not None and plan.usd <= ceiling
                verdict = "fits under" if fits else "does not fit under (the run would not start)"
                console.print(f"the forecast {verdict} the ceiling of ${ceiling:,.2f}")
            if lengths is not None:
                console.print(lengths.line(), highlight=False)
        console.print("\n".join(gpu_plan_lines(resolved)), highlight=False)
        return
    from prefbench.harness.cost.dry_run import prepare_forecast

    run_dir = out or Path("runs") / resolved.name
    if resolved.datasets is not None:
        from prefbench.harness.cost.spend import usd_by_kind

        opened: list[PipelineContext] = []

        def guard_for(context: "PipelineContext") -> "CostGuard | None":
            spent = sum(
                value or 0.0
                for earlier in opened
                for value in usd_by_kind(earlier.run, earlier.profile).values()
            )
            opened.append(context)
            return prepare_forecast(
                context, ceiling, limit, spent_elsewhere=spent, forecast_wanted=forecast
            )

        outcome = run_datasets(
            run_dir,
            resolved,
            console,
            display=display,
            limit=limit,
            guard_for=guard_for,
            allow_new_split=allow_new_split,
        )
        report, recomputed_nothing = outcome.report, outcome.recomputed_nothing
    else:
        context = open_run(
            run_dir,
            resolved,
            console,
            display=display,
            limit=limit,
            allow_new_split=allow_new_split,
        )
        try:
            guard = prepare_forecast(context, ceiling, limit, forecast_wanted=forecast)
            report = run_benchmark(context, guard)
        finally:
            if context.lock is not None:  # now, not whenever the context is collected
                context.lock.release()
        recomputed_nothing = context.recomputed_nothing
    if recomputed_nothing:
        console.print(
            "[green]Nothing changed since the last run: every stage was reused; "
            "no model call, no training.[/green]"
        )
    _print_leaderboard(report, run_dir)


@app.command()
def build(
    system: Annotated[str, typer.Argument(help="The system to build, e.g. preference_agent.")],
    run_dir: RunOption,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's adapter.")] = None,
    display: DisplayOption = "rich",
) -> None:
    """Run one system's build step (drafts, rules, per-user adapters) in a run folder."""
    from prefbench.harness.pipeline import build_systems, prepare_records

    context = _open_existing(run_dir, display)
    if system not in context.profile.systems:
        raise PrefbenchInputError(
            f"system '{system}' is not in {context.run.profile}: {context.profile.systems}"
        )
    records = prepare_records(context)
    if user is not None:
        users = sorted({record.user for record in records})
        if user not in users:
            raise PrefbenchInputError(f"user '{user}' is not in {context.run.records}: {users}")
        records = [record for record in records if record.user == user]
    build_systems(context, records, only=system)


@app.command()
def generate(
    run_dir: RunOption,
    system: Annotated[str | None, typer.Option("--system", help="Only this system.")] = None,
    display: DisplayOption = "rich",
) -> None:
    """Generate the test split with each system (logs/gen/)."""
    from prefbench.harness.pipeline import generate as generate_stage
    from prefbench.harness.pipeline import prepare_records

    context = _open_existing(run_dir, display)
    generate_stage(context, prepare_records(context), only=system)


@app.command()
def judge(
    run_dir: RunOption,
    judge_kind: Annotated[
        str | None,
        typer.Option(
            "--judge",
            help="a registered judge: llm, similarity or a plug-in's (default: the profile's).",
        ),
    ] = None,
    display: DisplayOption = "rich",
) -> None:
    """Judge the reference system against each other system (logs/judge/), then report.

    Generations are reused, never recomputed: run `prefbench run` or `generate` first.
    """
    from prefbench.harness.pipeline import generate as generate_stage
    from prefbench.harness.pipeline import judge as judge_stage
    from prefbench.harness.pipeline import measure_similarity, prepare_records, report

    context = _open_existing(run_dir, display, judge_kind)
    records = prepare_records(context)
    context.runner.reuse_only = True
    generate_stage(context, records)
    context.runner.reuse_only = False
    measure_similarity(context, records)
    judge_stage(context)
    _print_leaderboard(report(context), run_dir)


@app.command(name="report")
def report_command(
    run_dir: RunOption,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="md or html: (re)write report.md, report.html and figures/ from report.json "
            "and print the leaderboard; json: print report.json only.",
        ),
    ] = "md",
) -> None:
    """Render a finished run's results (report.json) as report.md/report.html, or print them."""
    import json

    from prefbench.core.run_folder import RunFolder
    from prefbench.harness.report.file import read_report

    if output_format not in ("md", "html", "json"):
        raise PrefbenchInputError(f"unknown --format '{output_format}'; use md, html or json")
    run = RunFolder(run_dir).require_existing()
    if output_format == "json":
        print(json.dumps(read_report(run), indent=2))
        return
    from prefbench.harness.report.build import render_report, report_html_path
    from prefbench.harness.report.combined import is_combined, write_combined_report

    with run.locked():
        report = read_report(run)
        if is_combined(report):
            write_combined_report(run, report)
        else:
            render_report(run, report)
    _print_leaderboard(report, run_dir)
    written = run.report_md if output_format == "md" else report_html_path(run)
    console.print(f"Report: [bold]{written}[/bold]")


def main() -> None:
    """Entry point of the `prefbench` console script."""
    try:
        # typer turns a KeyboardInterrupt into Exit(130), which a non-standalone app returns
        exit_code = app(standalone_mode=False)
        if exit_code == 130:
            raise KeyboardInterrupt
        if isinstance(exit_code, int) and exit_code:
            sys.exit(exit_code)
    except PrefbenchInputError as error:
        console.print(f"[red]error:[/red] {error}", highlight=False)
        sys.exit(2)
    except StageInterrupted as error:
        console.print(f"[yellow]{error}[/yellow]", highlight=False)
        sys.exit(1)
    except CeilingReached as error:
        console.print(f"[yellow]{error}[/yellow]", highlight=False)
        sys.exit(CEILING_EXIT_CODE)
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted: run the same command again to resume; "
            "finished work is kept.[/yellow]"
        )
        sys.exit(130)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as error:  # click's usage errors, as typer vendors them
        error.show()
        sys.exit(2)
    except OSError as error:
        if error.errno not in DISK_FULL_ERRNOS:
            raise
        where = f"writing {error.filename}" if error.filename else "writing a file"
        console.print(
            f"[red]error:[/red] out of disk space ({error.strerror}) {where}. "
            "Free disk space and run the same command again (finished work is kept).",
            highlight=False,
        )
        sys.exit(2)
