"""`prefbench human import|agreement`: bring answers in and compare them with the LLM judge.

Two typer-annotated functions, registered on the `human` app by the command line. Bad input
raises PrefbenchInputError; the `prefbench` entry point turns it into exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.core.tables import Column, Table, cells, columns, rich_table, rich_tables
from prefbench.harness.report.file import read_report

if TYPE_CHECKING:
    from prefbench.harness.report.schema import Report
    from prefbench.human_eval.attach import AttachSummary
    from prefbench.human_eval.importers import FileImport

__all__ = ["agreement_command", "import_answers_command"]

console = Console()

RunOption = Annotated[Path, typer.Option("--run", help="The run folder, e.g. runs/demo.")]
FORMATS = ("md", "json")


def _imports_table(results: list[FileImport]) -> Table:
    headers = ("file", "kind", "read", "new", "collapsed", "conflicts", "in database", "blank")
    return Table(
        title="Imported answer files",
        columns=[*columns(*headers, labels=2), Column("status", "left")],
        rows=[
            cells(
                result.path.name,
                result.kind,
                *(
                    str(count)
                    for count in (
                        result.read,
                        result.appended,
                        result.collapsed,
                        result.conflicts,
                        result.already_present,
                        result.blank,
                    )
                ),
                "already imported" if result.already_imported else "imported",
            )
            for result in results
        ],
    )


def _print_attach(summary: AttachSummary) -> None:
    console.print(
        f"{summary.items} items, {summary.answers} current answers attached to the judge logs "
        f"({summary.logs_written} logs rewritten); {summary.changes} superseded answers kept "
        f"in the history; {summary.missing} item × annotator pairs without an answer (dropped "
        "from the statistics).",
        highlight=False,
    )
    if summary.orphan_answers:
        console.print(
            f"[yellow]{summary.orphan_answers} answers name items this bundle does not have; "
            "they are ignored.[/yellow]"
        )
    missing = Table(
        title="Missing answers per annotator",
        columns=columns("annotator", "missing"),
        rows=[cells(name, str(count)) for name, count in summary.missing_by_annotator.items()],
    )
    console.print(rich_table(missing))


def import_answers_command(
    run_dir: RunOption,
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Answer files: CSV/TSV or JSON lines (annotator, item_id, choice, "
            "answered_at), a Label Studio JSON export, or another annotations.sqlite. "
            "None: only attach the app's answers to the judge logs.",
            show_default=False,
        ),
    ] = None,
    add_annotators: Annotated[
        bool,
        typer.Option("--add-annotators", help="Accept annotators that are not in bundle.json."),
    ] = False,
) -> None:
    """Import answers collected elsewhere and attach all answers to the judge logs.

    All or nothing: the answers are committed only together with their attachment.
    """
    from prefbench.human_eval.attach import attach_human_scores
    from prefbench.human_eval.importers import import_answers

    with RunFolder(run_dir).locked():
        if files:
            outcome = import_answers(run_dir, files, add_annotators, announce=_warn)
            console.print(rich_table(_imports_table(outcome.files)))
            _print_attach(outcome.attached)
        else:
            _print_attach(attach_human_scores(run_dir, announce=_warn))


def _warn(line: str) -> None:
    console.print(line, highlight=False)


def _judge_logs(run: RunFolder, report: Report) -> list[Path]:
    """The judge logs of the report's comparisons, each once (plain names in logs/judge/)."""
    from prefbench.human_eval.judge_logs import judge_log_path

    names = dict.fromkeys(row.log for row in report.rows())
    return [judge_log_path(run.root, name, run.report_json) for name in names]


def agreement_command(
    run_dir: RunOption,
    output_format: Annotated[
        str, typer.Option("--format", help="md (print the tables) or json.")
    ] = "md",
) -> None:
    """Human–human and human–LLM agreement, and human win rates; saved into the report."""
    from prefbench.harness.profile import read_run_profile
    from prefbench.harness.report.build import write_report
    from prefbench.human_eval.agreement import agreement_section
    from prefbench.human_eval.agreement_render import agreement_tables
    from prefbench.human_eval.attach import attach_human_scores

    if output_format not in FORMATS:
        raise PrefbenchInputError(f"unknown --format '{output_format}'; use md or json")
    run = RunFolder(run_dir)
    with run.locked():  # report.json is read, changed and written back
        profile = read_run_profile(run.profile)
        report = read_report(run)
        attach_human_scores(run_dir, announce=_warn)
        section = agreement_section(
            run_dir,
            _judge_logs(run, report),
            profile.seed,
            tie_policy=profile.judge.tie_policy,
            announce=_warn,
        )
        if not section:
            raise PrefbenchInputError(
                f"no human answers for the judge logs of {run.report_json} yet: collect them "
                f"with `prefbench human serve --run {run_dir}` or `prefbench human import --run "
                f"{run_dir} FILE`"
            )
        write_report(run, report.model_copy(update={"agreement": section}))
    if output_format == "json":
        print(json.dumps(section, indent=2))
    else:
        console.print(rich_tables(agreement_tables(section)))
        console.print(f"Saved into {run.report_json} (agreement) and {run.report_md}.")
