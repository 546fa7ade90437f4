"""The report's figures: win rates, ratings, the judge audit, the personalization heatmap.

Drawn with matplotlib's object API on the Agg canvas (no pyplot state, no display), each
written as `figures/NAME.png` and `figures/NAME.svg` through a temporary file and a rename.
A figure is drawn only when the report has its data; the agreement section has none. The
win rates and ratings are the primary judge's (each judge's tables are in the report); the
judge audit draws every judge side by side.
"""

import math
import os
import tempfile
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import PercentFormatter

from prefbench.harness.report.schema import ComparisonRow, PersonalizationSection, Report

FIGURE_NAMES = ("win_rates", "ratings", "judge_audit", "personalization")
FORMATS = ("png", "svg")
PLAIN_TEXT = matplotlib.rc_context({"text.parse_math": False, "svg.hashsalt": "prefbench"})
"""Names are drawn as written (a `$` never starts mathtext); SVG ids are reproducible."""


def _number(value: float | None) -> float:
    """A float, or NaN for a missing value (matplotlib leaves NaN undrawn)."""
    return math.nan if value is None else float(value)


def _errors(values: list[float], lows: list[float], highs: list[float]) -> np.ndarray:
    """Asymmetric error bars (2 × N) from interval ends, never negative."""
    below = np.clip(np.array(values) - np.array(lows), 0, None)
    above = np.clip(np.array(highs) - np.array(values), 0, None)
    return np.vstack([below, above])


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


@PLAIN_TEXT
def win_rate_figure(report: Report) -> Figure | None:
    """Bars of the reference system's win rate vs each system, 95 % intervals, 50 % dashed.

    One bar per compared system; with several datasets the bars are grouped by dataset. When a
    comparison does not start from the reference (a control pair), every bar is labelled
    "A vs B" and the axis reads "win rate of the first system named". None when no
    comparison has a win rate. The bars are the primary judge's, named in the title.
    """
    reference = report.reference_system
    judge = report.judges[0] if report.judges else ""
    rows = [row for row in report.rows(judge) if row.win_rate is not None]
    if not rows:
        return None

    # a control pair (system A is not the reference) is labelled "A vs B", and then every bar
    # is, so that no bar reads as the reference's win rate when it is not
    mixed = any(row.system_a != reference for row in rows)

    def label(row: ComparisonRow) -> str:
        return f"{row.system_a} vs {row.system_b}" if mixed else row.system_b

    datasets = list(dict.fromkeys(row.dataset for row in rows))
    labels = list(dict.fromkeys(label(row) for row in rows))
    by_key = {(label(row), row.dataset): row for row in rows}
    grouped = len(datasets) > 1
    width = 0.8 / len(labels) if grouped else 0.6
    figure = _new_figure(max(4.0, 1.5 + 0.7 * len(datasets) * len(labels)), 3.6)
    axes = figure.add_subplot()
    for index, name in enumerate(labels):
        cells = [by_key.get((name, dataset)) for dataset in datasets]
        values = [_number(cell.win_rate if cell else None) for cell in cells]
        lows = [_number(cell.ci_low if cell else None) for cell in cells]
        highs = [_number(cell.ci_high if cell else None) for cell in cells]
        if grouped:
            positions = np.arange(len(datasets)) + (index - (len(labels) - 1) / 2) * width
        else:
            positions = np.array([index], dtype=float)
        axes.bar(
            positions,
            values,
            width,
            yerr=_errors(values, lows, highs),
            capsize=4,
            label=name,
            color=f"C{index % 10}",
        )
    axes.axhline(0.5, linestyle="--", color="0.4", linewidth=1)
    axes.set_ylim(0, 1)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_ylabel("win rate of the first system named" if mixed else f"win rate of {reference}")
    if grouped:
        axes.set_xticks(np.arange(len(datasets)), datasets)
        axes.legend(title="vs system", fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
        axes.set_title(f"judge: {judge} (error bars: 95 % interval)", fontsize="medium")
    else:
        axes.set_xticks(np.arange(len(labels)), labels, rotation=20, ha="right")
        axes.set_title(
            f"{datasets[0]}, judge: {judge} (error bars: 95 % interval)", fontsize="medium"
        )
    return figure


@PLAIN_TEXT
def ratings_figure(report: Report) -> Figure | None:
    """The primary judge's Bradley–Terry ratings as dots with 95 % intervals, best on top.

    None when that judge has no rating.
    """
    judge = report.judges[0] if report.judges else ""
    ratings = sorted(report.ratings.get(judge, []), key=lambda row: row.rating)
    if not ratings:
        return None
    values = [row.rating for row in ratings]
    lows = [_number(row.ci_low) for row in ratings]
    highs = [_number(row.ci_high) for row in ratings]
    figure = _new_figure(5.5, 1.2 + 0.4 * len(ratings))
    axes = figure.add_subplot()
    positions = np.arange(len(ratings))
    axes.errorbar(values, positions, xerr=_errors(values, lows, highs), fmt="o", capsize=4)
    axes.set_yticks(positions, [row.system for row in ratings])
    axes.set_xlabel(f"Bradley–Terry rating (judge: {judge}; Elo scale, 95 % interval)")
    axes.grid(axis="x", linewidth=0.5, alpha=0.5)
    return figure


AUDIT_SHARES = (
    ("first_slot_win_rate", "candidate 1 wins"),
    ("longer_win_rate", "longer wins"),
    ("position_consistency", "orders agree"),
)
"""The judge audit's shares drawn as bars: the `JudgeAudit` field and bar label."""


@PLAIN_TEXT
def judge_audit_figure(report: Report) -> Figure | None:
    """Each judge's audit: its bias shares with 95 % intervals, and win rate by length lead.

    Left: per judge, the share of verdicts for candidate 1, for the longer candidate, and of
    pairs judged alike in both orders (dashed: 50 %, no bias). Right: the win rate of a
    candidate against its normalized length lead over its rival, tanh(Δ / sd), by quantile
    bin, drawn at the bin's mean lead (flat at 50 % for a judge without length bias). None
    when no judge has a parsed single-order verdict to show.
    """
    audits = [
        audit
        for audit in report.judge_audit.values()
        if audit.length_bins or any(getattr(audit, key).rate is not None for key, _ in AUDIT_SHARES)
    ]
    if not audits:
        return None
    figure = _new_figure(9.0, 3.6)
    shares, lengths = figure.subplots(1, 2)
    width = 0.8 / len(audits)
    for index, audit in enumerate(audits):
        rates = [getattr(audit, key) for key, _ in AUDIT_SHARES]
        values = [_number(rate.rate) for rate in rates]
        lows = [_number(rate.ci_low) for rate in rates]
        highs = [_number(rate.ci_high) for rate in rates]
        positions = np.arange(len(AUDIT_SHARES)) + (index - (len(audits) - 1) / 2) * width
        color = f"C{index % 10}"
        shares.bar(
            positions,
            values,
            width,
            yerr=_errors(values, lows, highs),
            capsize=4,
            color=color,
            label=audit.judge,
        )
        lengths.plot(
            [b.lead_mean for b in audit.length_bins],
            [b.win_rate for b in audit.length_bins],
            "o-",
            color=color,
            label=audit.judge,
        )
    for axes in (shares, lengths):
        axes.axhline(0.5, linestyle="--", color="0.4", linewidth=1)
        axes.set_ylim(0, 1)
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    shares.set_xticks(np.arange(len(AUDIT_SHARES)), [label for _, label in AUDIT_SHARES])
    shares.set_title("position and length bias (95 % interval)", fontsize="medium")
    shares.set_ylabel("share of verdicts")
    shares.legend(title="judge", fontsize="small")
    lengths.set_xlim(-1, 1)
    lengths.set_xlabel("length lead over the rival, tanh(Δ / sd)")
    lengths.set_ylabel("win rate")
    lengths.set_title("win rate by length lead", fontsize="medium")
    return figure


@PLAIN_TEXT
def personalization_figure(section: PersonalizationSection) -> Figure | None:
    """The K×K heatmap: agent of user i (rows) on the test set of user j (columns).

    Every cell is annotated with its value and the diagonal (each agent on its own user)
    is outlined. None when the matrix is empty.
    """
    rows = section.matrix
    columns = max((len(row) for row in rows), default=0)
    if not columns:
        return None
    matrix = np.full((len(rows), columns), np.nan)
    for i, row in enumerate(rows):
        matrix[i, : len(row)] = row
    users = section.users
    row_labels = [users[i] if i < len(users) else str(i) for i in range(len(rows))]
    column_labels = [users[j] if j < len(users) else str(j) for j in range(columns)]
    figure = _new_figure(2.5 + 0.8 * columns, 1.8 + 0.7 * len(rows))
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="viridis")
    figure.colorbar(image, ax=axes, label=section.metric)
    for i in range(len(rows)):
        for j in range(columns):
            value = matrix[i, j]
            if math.isnan(value):
                continue
            shade = float(image.norm(value))
            axes.text(
                j,
                i,
                f"{value:.3f}",
                ha="center",
                va="center",
                fontsize="small",
                color="black" if shade > 0.5 else "white",
            )
    for i in range(min(len(rows), columns)):
        axes.add_patch(
            Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2)
        )
    axes.set_xticks(np.arange(columns), column_labels, rotation=30, ha="right")
    axes.set_yticks(np.arange(len(rows)), row_labels)
    axes.set_xlabel("test set of user j")
    axes.set_ylabel("agent of user i")
    axes.set_title(section.system, fontsize="medium")
    return figure


def report_figures(report: Report) -> dict[str, Figure]:
    """Every figure the report has data for, by name (see `FIGURE_NAMES`)."""
    personalization = report.personalization
    drawn = {
        "win_rates": win_rate_figure(report),
        "ratings": ratings_figure(report),
        "judge_audit": judge_audit_figure(report),
        "personalization": personalization_figure(personalization) if personalization else None,
    }
    return {name: figure for name, figure in drawn.items() if figure is not None}


@PLAIN_TEXT
def save_figure(figure: Figure, path: Path) -> None:
    """Save `figure` in the format of `path`'s suffix via a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    file_format = path.suffix.lstrip(".")
    try:
        with os.fdopen(fd, "wb") as handle:
            figure.savefig(
                handle,
                format=file_format,
                dpi=150,
                metadata={"Date": None} if file_format == "svg" else None,
            )
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_figures(report: Report, folder: Path) -> dict[str, Path]:
    """Write each figure as `folder/NAME.png` and `.svg`; return the PNG paths by name.

    Figures of `FIGURE_NAMES` that the report no longer has data for are removed, so the
    folder never shows a stale figure.
    """
    figures = report_figures(report)
    written = {}
    for name in FIGURE_NAMES:
        paths = [folder / f"{name}.{suffix}" for suffix in FORMATS]
        if name not in figures:
            for path in paths:
                path.unlink(missing_ok=True)
            continue
        for path in paths:
            save_figure(figures[name], path)
        written[name] = paths[0]
    return written
