"""The report of a run over several datasets: the paper's Table 1 with its mean.

A `datasets` profile runs each dataset in its own sub-folder (`runs/NAME/<dataset>/`, a
complete run folder with its own report). `combined_report` gathers their comparisons, each
labelled with its dataset's name, and computes the aggregate as the paper does: the mean of
the per-dataset win rates (`prefbench.harness.report.build.aggregate_rows`), plus Bradley–Terry
ratings over every pair a judge judged; each judge's rows, aggregate and ratings are its own.
`write_combined_report` writes `runs/NAME/report.json`, `report.md`,
`report.html` and `figures/`: the report's usual sections after a "Datasets" section
(`datasets_table`: each dataset's folder, records, and what the long-text policy did).
"""

import json
from dataclasses import dataclass
from pathlib import Path

from prefbench.core.atomic import atomic_write_text
from prefbench.core.display import MISSING, number, text
from prefbench.core.fingerprint import fingerprint
from prefbench.core.run_folder import RunFolder
from prefbench.core.tables import (
    Column,
    Section,
    Table,
    cells,
    columns,
    render_html,
    render_markdown,
)
from prefbench.harness.judging import resolve_judges
from prefbench.harness.profile import Profile
from prefbench.harness.report.build import (
    aggregate_rows,
    figures_folder,
    ratings_rows,
    read_judge_logs,
    read_previous_report,
    report_html_path,
)
from prefbench.harness.report.html import data_uri
from prefbench.harness.report.schema import (
    SCHEMA_VERSION,
    ComparisonRow,
    DatasetEntry,
    LongTexts,
    Report,
)
from prefbench.harness.report.tables import TEMPLATES, page_context, terminal_tables
from prefbench.tasks.records import Record, records_fingerprint

COMBINED_FORMAT = 1
"""The combined report's layout version (beside `SCHEMA_VERSION` of the sections it reuses)."""


@dataclass(frozen=True)
class DatasetResult:
    """One dataset's finished run: its name, folder, report, records and judge logs."""

    name: str
    folder: Path
    report: Report
    records: list[Record]
    judge_logs: list[Path]


def _dataset_rows(result: DatasetResult, judge: str) -> list[ComparisonRow]:
    """A judge's comparisons of the dataset, labelled with its name.

    `name/corpus` where the dataset mixes corpora.
    """
    rows = result.report.rows(judge)
    corpora = {row.dataset for row in rows}
    return [
        row.model_copy(
            update={"dataset": result.name if len(corpora) == 1 else f"{result.name}/{row.dataset}"}
        )
        for row in rows
    ]


def _dataset_entry(run_root: Path, result: DatasetResult) -> DatasetEntry:
    """The report.json `datasets` entry of one dataset."""
    return DatasetEntry(
        name=result.name,
        run=result.folder.relative_to(run_root).as_posix(),
        records=len(result.records),
        users=len({record.user for record in result.records}),
        test=sum(record.split == "test" for record in result.records),
        long_texts=result.report.long_texts,
    )


def combined_inputs_key(profile: Profile, results: list[DatasetResult]) -> str:
    """What the combined report is computed from: each dataset's report and records."""
    return fingerprint(
        {
            "datasets": {
                result.name: [result.report.inputs_key, records_fingerprint(result.records)]
                for result in results
            },
            "reference": profile.reference_system,
            "tie_policies": [judge.tie_policy for judge in profile.judges],
            "seed": profile.seed,
            "formats": [SCHEMA_VERSION, COMBINED_FORMAT],
        }
    )


def combined_report(run_root: Path, profile: Profile, results: list[DatasetResult]) -> Report:
    """report.json of a several-dataset run.

    Per judge: the per-dataset rows, their mean and ratings over all its pairs.
    """
    judges = resolve_judges(profile)
    logs = [path for result in results for path in result.judge_logs]
    comparisons = read_judge_logs(judges, logs)
    rows = {
        judge.name: [row for result in results for row in _dataset_rows(result, judge.name)]
        for judge in judges
    }
    flags = {
        name: next((row.judge_flags for row in judged if row.judge_flags), [])
        for name, judged in rows.items()
    }
    return Report(
        run=str(run_root),
        profile=profile.name,
        reference_system=profile.reference_system,
        judges=list(rows),
        datasets=[_dataset_entry(run_root, result) for result in results],
        comparisons=rows,
        aggregate={name: aggregate_rows(judged) for name, judged in rows.items()},
        ratings={
            name: ratings_rows(comparisons[name], profile.reference_system, flags[name])
            for name in rows
        },
        inputs_key=combined_inputs_key(profile, results),
    )


def _long_text_cell(section: LongTexts | None) -> str:
    if section is None:
        return "whole"
    return (
        f"{section.policy} > {section.max_text_tokens} tokens: "
        f"{number(section.truncated, 0)} truncated, {number(section.dropped, 0)} dropped"
    )


def datasets_table(report: Report) -> Table:
    """Each dataset of a combined report: its run folder, records, users, test texts, policy."""
    body = [
        cells(
            text(entry.name),
            text(entry.run),
            number(entry.records, 0),
            number(entry.users, 0),
            number(entry.test, 0),
            _long_text_cell(entry.long_texts),
        )
        for entry in report.datasets or []
    ]
    return Table(
        columns=[
            *columns("dataset", "run folder", "records", "users", "test", labels=2),
            Column("long texts", "left", wrap=True),
        ],
        rows=body,
        title="Datasets (each a complete run in its own sub-folder, with its own report)",
        caption="long texts: the profile's policy for texts longer than the context; "
        f"whole: no policy, texts pass whole. {MISSING}: not recorded.",
    )


def combined_terminal_tables(report: Report) -> list[Table]:
    """What a several-dataset run prints: the datasets, Table 1, the leaderboard, ratings."""
    return [datasets_table(report), *terminal_tables(report)]


def _page(report: Report, figures: dict[str, str]) -> dict[str, object]:
    context = page_context(report, figures)
    section = Section(key="datasets", title="Datasets", tables=[datasets_table(report)])
    context["sections"] = [section, *context["sections"]]
    return context


def write_combined_report(run: RunFolder, report: Report) -> None:
    """Write figures, report.md, report.html, then report.json (last: see `write_report`)."""
    from prefbench.harness.report.figures import (
        write_figures,  # matplotlib: only when figures are drawn
    )

    figures = write_figures(report, figures_folder(run))
    relative = {name: path.relative_to(run.root).as_posix() for name, path in figures.items()}
    uris = {name: data_uri(path) for name, path in figures.items()}
    markdown = render_markdown("report.md.j2", TEMPLATES, **_page(report, relative))
    atomic_write_text(run.report_md, markdown)
    page = render_html("report.html.j2", TEMPLATES, **_page(report, uris))
    atomic_write_text(report_html_path(run), page)
    atomic_write_text(run.report_json, json.dumps(report.dump(), indent=2) + "\n")


def report_combined_run(run: RunFolder, profile: Profile, results: list[DatasetResult]) -> Report:
    """The combined report of `results`, written unless report.json has the same inputs."""
    previous = read_previous_report(run)
    if previous is not None and previous.inputs_key == combined_inputs_key(profile, results):
        return previous
    report = combined_report(run.root, profile, results)
    write_combined_report(run, report)
    return report
