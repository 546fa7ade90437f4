"""The report of a run over several datasets: the paper's Table 1 with its mean.

A `datasets` profile runs each dataset in its own sub-folder (`runs/NAME/<dataset>/`, a
complete run folder with its own report). `combined_report` gathers their comparisons, each
labelled with its dataset's name, and computes the aggregate as the paper does: the mean of
the per-dataset win rates (`prefbench.harness.report.build.aggregate_rows`), plus Bradley–Terry
ratings over every judged pair. `write_combined_report` writes `runs/NAME/report.json`, `report.md`,
`report.html` and `figures/`: the report's usual sections after a "Datasets" section
(`datasets_table`: each dataset's folder, records, and what the long-text policy did).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai.log import read_eval_log

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
from prefbench.harness.profile import Profile
from prefbench.harness.report.build import (
    REPORT_FORMAT,
    aggregate_rows,
    figures_folder,
    ratings_rows,
    read_comparison,
    read_previous_report,
    report_html_path,
    with_judge_flags,
)
from prefbench.harness.report.html import data_uri
from prefbench.harness.report.tables import TEMPLATES, page_context, terminal_tables
from prefbench.tasks.records import Record, records_fingerprint

COMBINED_FORMAT = 1
"""The combined report's layout version (beside `REPORT_FORMAT` of the sections it reuses)."""


@dataclass(frozen=True)
class DatasetResult:
    """One dataset's finished run: its name, folder, report, records and judge logs."""

    name: str
    folder: Path
    report: Mapping[str, Any]
    records: list[Record]
    judge_logs: list[Path]


def _dataset_rows(result: DatasetResult) -> list[dict[str, Any]]:
    """The dataset's comparisons, labelled with its name (`name/corpus` if it mixes corpora)."""
    rows = [dict(row) for row in result.report.get("comparisons") or []]
    corpora = {row.get("dataset") for row in rows}
    for row in rows:
        row["dataset"] = result.name if len(corpora) == 1 else f"{result.name}/{row['dataset']}"
    return rows


def _dataset_entry(run_root: Path, result: DatasetResult) -> dict[str, Any]:
    """The report.json `datasets` entry of one dataset."""
    return {
        "name": result.name,
        "run": result.folder.relative_to(run_root).as_posix(),
        "records": len(result.records),
        "users": len({record.user for record in result.records}),
        "test": sum(record.split == "test" for record in result.records),
        "long_texts": result.report.get("long_texts"),
    }


def combined_inputs_key(profile: Profile, results: list[DatasetResult]) -> str:
    """What the combined report is computed from: each dataset's report and records."""
    return fingerprint(
        {
            "datasets": {
                result.name: [
                    result.report.get("inputs_key"),
                    records_fingerprint(result.records),
                ]
                for result in results
            },
            "reference": profile.reference_system,
            "tie_policy": profile.judge.tie_policy,
            "seed": profile.seed,
            "formats": [REPORT_FORMAT, COMBINED_FORMAT],
        }
    )


def combined_report(
    run_root: Path, profile: Profile, results: list[DatasetResult]
) -> dict[str, Any]:
    """report.json of a several-dataset run: per-dataset rows, their mean, ratings over all."""
    rows = [row for result in results for row in _dataset_rows(result)]
    policy = profile.judge.tie_policy
    comparisons = [
        read_comparison(read_eval_log(str(path)), policy)  # type: ignore[arg-type]
        for result in results
        for path in result.judge_logs
    ]
    flags = {row["judge"]: row["judge_flags"] for row in rows if row.get("judge_flags")}
    return {
        "run": str(run_root),
        "profile": profile.name,
        "reference_system": profile.reference_system,
        "datasets": [_dataset_entry(run_root, result) for result in results],
        "comparisons": rows,
        "aggregate": with_judge_flags(aggregate_rows(rows), flags),
        "ratings": ratings_rows(comparisons, profile.reference_system, flags),
        "inputs_key": combined_inputs_key(profile, results),
    }


def _long_text_cell(section: Any) -> str:
    if not isinstance(section, Mapping):
        return "whole"
    return (
        f"{section.get('policy')} > {section.get('max_text_tokens')} tokens: "
        f"{number(section.get('truncated'), 0)} truncated, "
        f"{number(section.get('dropped'), 0)} dropped"
    )


def datasets_table(report: Mapping[str, Any]) -> Table:
    """Each dataset of a combined report: its run folder, records, users, test texts, policy."""
    entries = [entry for entry in report.get("datasets") or [] if isinstance(entry, Mapping)]
    body = [
        cells(
            text(entry.get("name")),
            text(entry.get("run")),
            number(entry.get("records"), 0),
            number(entry.get("users"), 0),
            number(entry.get("test"), 0),
            _long_text_cell(entry.get("long_texts")),
        )
        for entry in entries
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


def combined_terminal_tables(report: Mapping[str, Any]) -> list[Table]:
    """What a several-dataset run prints: the datasets, Table 1, the leaderboard, ratings."""
    return [datasets_table(report), *terminal_tables(report)]


def _page(report: Mapping[str, Any], figures: Mapping[str, str]) -> dict[str, Any]:
    context = page_context(report, figures)
    section = Section(key="datasets", title="Datasets", tables=[datasets_table(report)])
    context["sections"] = [section, *context["sections"]]
    return context


def write_combined_report(run: RunFolder, report: dict[str, Any]) -> None:
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
    atomic_write_text(run.report_json, json.dumps(report, indent=2) + "\n")


def is_combined(report: Mapping[str, Any]) -> bool:
    """Whether a report.json is a several-dataset run's (it lists its `datasets`)."""
    return isinstance(report.get("datasets"), list)


def report_combined_run(
    run: RunFolder, profile: Profile, results: list[DatasetResult]
) -> dict[str, Any]:
    """The combined report of `results`, written unless report.json has the same inputs."""
    previous = read_previous_report(run)
    if previous is not None and previous.get("inputs_key") == combined_inputs_key(profile, results):
        return previous
    report = combined_report(run.root, profile, results)
    write_combined_report(run, report)
    return report
