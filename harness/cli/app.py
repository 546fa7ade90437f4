"""`prefbench`: the command line (docs/design.md §7). Thin: each command calls library functions.

Exit codes: 0 success, 2 bad usage or bad input (the message names the file and the fix;
also a forecast above the cost ceiling), 1 an internal failure or an unfinished stage, 3 the
cost ceiling stopped the run before a stage (run again with a higher ceiling to resume), 130
interrupted by Ctrl-C and 143 by SIGTERM (run again to resume).
"""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from prefbench.core.atomic import DISK_FULL_ERRNOS
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.safe_names import safe_child
from prefbench.harness import interrupts
from prefbench.harness.cli.data import data_app
from prefbench.harness.cli.human import human_app
from prefbench.harness.cli.human_results import agreement_command, import_answers_command
from prefbench.harness.cli.listings import list_corpora, list_judges, list_systems
from prefbench.harness.cli.release import leaderboard_command, release_command, submit_command
from prefbench.harness.cost.guard import CEILING_EXIT_CODE, CeilingReached
from prefbench.harness.profile import Profile, load_profile, read_run_profile
from prefbench.harness.stage_runner import StageInterrupted

if TYPE_CHECKING:
    from prefbench.harness.pipeline import PipelineContext
    from prefbench.harness.report.schema import Report

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
    """Reopen a run folder with its own profile (optionally with one more judge)."""
    from prefbench.core.run_folder import RunFolder
    from prefbench.harness.pipeline import open_run

    run = RunFolder(run_dir).require_existing()
    profile = read_run_profile(run.profile, judge_kind)
    if profile.datasets is not None:
        folders = ", ".join(str(safe_child(run_dir, name)) for name in profile.datasets)
        raise PrefbenchInputError(
            f"{run_dir} is a run over several datasets, each a run folder of its own: give "
            f"--run one of {folders} (`prefbench run --out {run_dir}` runs them all)"
        )
    _offline_environment(profile)
    return open_run(run_dir, profile, console, display=display)


def _print_leaderboard(report: "Report", run_dir: Path) -> None:
    from prefbench.core.tables import rich_tables
    from prefbench.harness.report.combined import combined_terminal_tables
    from prefbench.harness.report.tables import terminal_tables

    combined = report.is_combined()
    tables = combined_terminal_tables(report) if combined else terminal_tables(report)
    console.print(rich_tables(tables))
    if report.long_texts is not None:
        from prefbench.tasks.long_texts import outcome_line

        console.print(outcome_line(report.long_texts.model_dump()), highlight=False)
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
            help="Check every input, then print what the run folder still needs (calls, "
            "tokens, cost, adapters, GPU-hours); run nothing.",
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
    """Run the whole benchmark: records, intents, build, generation, judging, report.

    Every input is checked first (all problems at once, exit 2). With --dry-run, print what
    the run folder still needs (calls, tokens, dollars, adapters, GPU-hours) and run nothing.
    """
    resolved, _ = load_profile(profile)
    _offline_environment(resolved)
    ceiling = max_cost if max_cost is not None else resolved.max_cost
    run_dir = out or safe_child(Path("runs"), resolved.name)
    if dry_run:
        from prefbench.harness.cost.plan_tables import show_dry_run

        show_dry_run(resolved, run_dir, console, limit=limit, ceiling=ceiling)
        return
    from prefbench.harness.pipeline import run_profile

    outcome = run_profile(
        run_dir, resolved, console, display, limit, ceiling, forecast, allow_new_split
    )
    report, recomputed_nothing = outcome.report, outcome.recomputed_nothing
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
            help=(
                "a registered judge (llm, similarity or a plug-in's) or a YAML judge file "
                "(docs/judges.md), added to the run's judges (never in place of one); the "
                "report gets its own leaderboard. Default: the profile's judges."
            ),
        ),
    ] = None,
    display: DisplayOption = "rich",
) -> None:
    """Judge the reference system against each other system (logs/judge/), then report.

    Every judge of the run's profile judges; `--judge` adds one to profile.yaml's `judges`
    first. A judge that judged before is reused (no call). Generations are reused, never
    recomputed: run `prefbench run` or `generate` first.
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


REPORT_FORMATS = ("md", "html", "json", "csv")


@app.command(name="report")
def report_command(
    run_dir: Annotated[
        Path | None, typer.Option("--run", help="The run folder, e.g. runs/demo.")
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="md or html: (re)write report.md, report.html and figures/ from report.json "
            "and print the leaderboards; json: print report.json only; csv: write report.csv "
            "(one row per judge and comparison, docs/report_schema.md).",
        ),
    ] = "md",
    schema: Annotated[
        bool,
        typer.Option("--schema", help="Print report.json's JSON schema and exit (no --run)."),
    ] = False,
) -> None:
    """Render a finished run's results (report.json) as report.md/report.html/report.csv.

    A report.json of an older prefbench (no `schema_version`) is rebuilt from the run's logs
    first; no model is called.
    """
    import json

    if schema:
        from prefbench.harness.report.schema import report_json_schema

        print(json.dumps(report_json_schema(), indent=2))
        return
    if output_format not in REPORT_FORMATS:
        raise PrefbenchInputError(
            f"unknown --format '{output_format}'; use one of {', '.join(REPORT_FORMATS)}"
        )
    if run_dir is None:
        raise PrefbenchInputError("give the run folder: prefbench report --run runs/NAME")
    from prefbench.core.run_folder import RunFolder
    from prefbench.harness.report.build import render_report, report_html_path
    from prefbench.harness.report.combined import write_combined_report
    from prefbench.harness.report.csv_file import write_report_csv
    from prefbench.harness.report.file import OlderReportLayout, read_report

    run = RunFolder(run_dir).require_existing()
    try:
        report = read_report(run)
    except OlderReportLayout as older:
        console.print(f"[yellow]{older}[/yellow]: rebuilding it", highlight=False)
        report = _rebuilt_report(run_dir)
    if output_format == "json":
        print(json.dumps(report.dump(), indent=2))
        return
    with run.locked():
        if output_format == "csv":
            written = write_report_csv(run, report)
        elif report.is_combined():
            write_combined_report(run, report)
            written = run.report_md if output_format == "md" else report_html_path(run)
        else:
            render_report(run, report)
            written = run.report_md if output_format == "md" else report_html_path(run)
    _print_leaderboard(report, run_dir)
    console.print(f"Report: [bold]{written}[/bold]")


def _rebuilt_report(run_dir: Path) -> "Report":
    """The report of a finished run folder built again from its logs; no stage runs.

    Every stage must have finished (`reuse_only`); otherwise an input error names the stage.
    A several-dataset run is rebuilt by `prefbench run --out RUN` (its datasets' folders).
    """
    from prefbench.harness.pipeline import (
        generate,
        judge,
        measure_similarity,
        prepare_records,
        report,
    )

    context = _open_existing(run_dir, "none")
    context.runner.reuse_only = True
    records = prepare_records(context)
    generate(context, records)
    measure_similarity(context, records)
    judge(context)
    return report(context)


app.command("systems")(list_systems)
app.command("judges")(list_judges)
app.command("corpora")(list_corpora)
app.command("release")(release_command)
app.command("submit")(submit_command)
app.command("leaderboard")(leaderboard_command)


def _interrupted() -> int:
    console.print(
        "[yellow]interrupted: run the same command again to resume; finished work is kept.[/yellow]"
    )
    return interrupts.exit_code(130)


def _run_app() -> int:
    """Run the command; its exit code (the module docstring lists them)."""
    try:
        # typer turns a KeyboardInterrupt into Exit(130), which a non-standalone app returns
        exit_code = app(standalone_mode=False)
        if exit_code == 130:
            return _interrupted()
        return exit_code if isinstance(exit_code, int) else 0
    except (KeyboardInterrupt, typer.Abort):
        return _interrupted()
    except Exception as error:
        if interrupts.received() is not None:  # whatever a stopped eval raised on the way out
            return _interrupted()
        return _failure_code(error)


def _failure_code(error: Exception) -> int:
    """Print an error the CLI knows and return its exit code; re-raise any other."""
    if isinstance(error, PrefbenchInputError):
        console.print(f"[red]error:[/red] {error}", highlight=False)
        return 2
    if isinstance(error, StageInterrupted):
        console.print(f"[yellow]{error}[/yellow]", highlight=False)
        return 1
    if isinstance(error, CeilingReached):
        console.print(f"[yellow]{error}[/yellow]", highlight=False)
        return CEILING_EXIT_CODE
    if isinstance(error, typer.TyperException):  # click's usage errors, as typer vendors them
        error.show()
        return 2
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        where = f"writing {error.filename}" if error.filename else "writing a file"
        console.print(
            f"[red]error:[/red] out of disk space ({error.strerror}) {where}. "
            "Free disk space and run the same command again (finished work is kept).",
            highlight=False,
        )
        return 2
    raise error


def main() -> None:
    """Entry point of the `prefbench` console script.

    Ctrl-C and SIGTERM end any command within `GRACE_SECONDS` and a fraction (exit 130 and
    143), whatever it was doing, and stop the servers it started
    (`prefbench.harness.interrupts`).
    """
    with interrupts.ended_by_signals(deadline=interrupts.GRACE_SECONDS):
        code = _run_app()
    if interrupts.received() is not None:
        interrupts.exit_now(code)
    sys.exit(code)
