"""report.csv: one row per judge × comparison, with the provenance to compare rows across runs.

`prefbench report --run R --format csv` writes it beside report.json (docs/report_schema.md
lists the columns). Each row is one comparison of one judge on one dataset: the systems, the
scored pairs and users, the win rate with its user-clustered interval and `ci_method`, the
length-controlled win rate, the quality-gate flags, and where the numbers come from:
prefbench's version, the split's fingerprint and the judge's spec hash
(`prefbench.harness.judging.ResolvedJudge.spec_hash`). The file is written atomically.
"""

import csv
import io
from pathlib import Path

from prefbench.core.atomic import atomic_write_text
from prefbench.core.run_folder import RunFolder
from prefbench.harness.report.schema import ComparisonRow, Report

__all__ = ["CSV_COLUMNS", "report_csv", "report_csv_path", "write_report_csv"]

CSV_COLUMNS = (
    "judge",
    "dataset",
    "system_a",
    "system_b",
    "n",
    "users",
    "wins",
    "losses",
    "ties",
    "parse_failures",
    "win_rate",
    "ci_low",
    "ci_high",
    "ci_method",
    "ci_guaranteed",
    "lc_win_rate",
    "lc_ci_low",
    "lc_ci_high",
    "lc_ci_method",
    "p_value",
    "position_consistency",
    "tie_policy",
    "judge_flags",
    "prefbench_version",
    "split_fingerprint",
    "judge_spec_hash",
    "log",
)
"""report.csv's columns, in order."""


def report_csv_path(run: RunFolder) -> Path:
    """`runs/NAME/report.csv`."""
    return run.root / "report.csv"


def _cell(value: object) -> str:
    """A CSV cell: empty for None, `true`/`false` for booleans, the value's text otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _row(report: Report, row: ComparisonRow) -> list[str]:
    provenance = report.provenance
    judge_spec = provenance.judges.get(row.judge) if provenance else None
    split = provenance.split if provenance else None
    values = {
        **row.model_dump(),
        "judge_flags": "; ".join(row.judge_flags),
        "prefbench_version": provenance.prefbench if provenance else None,
        "split_fingerprint": split.fingerprint if split else None,
        "judge_spec_hash": judge_spec.spec_hash if judge_spec else None,
    }
    return [_cell(values[column]) for column in CSV_COLUMNS]


def report_csv(report: Report) -> str:
    """report.csv's text: a header, then every judge's comparison rows, judges in order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows():
        writer.writerow(_row(report, row))
    return buffer.getvalue()


def write_report_csv(run: RunFolder, report: Report) -> Path:
    """Write `report.csv` of a report atomically; its path."""
    path = report_csv_path(run)
    atomic_write_text(path, report_csv(report))
    return path
