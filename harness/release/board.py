"""`leaderboard.json` (`Leaderboard`), and its rows from the pipeline's report of the work run.

The numbers are the report's (`prefbench.harness.report.build.build_report` over every
verdict log of the working run folder, computed by `prefbench.scorers.stats`): for each
system, its comparison with the release's reference seen from the system's side (its win
rate = 1 − the reference's, ties half, with the user-clustered interval; the same for the
length-controlled win rate) and its Bradley–Terry rating with the user-bootstrap interval.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from prefbench.harness.release.manifest import JudgeSpec
from prefbench.harness.report.schema import Report

__all__ = [
    "LEADERBOARD_SCHEMA_VERSION",
    "BoardRow",
    "JudgeBoard",
    "Leaderboard",
    "RowProvenance",
    "board_rows",
]

LEADERBOARD_SCHEMA_VERSION = 1


class RowProvenance(BaseModel):
    """Where a row's outputs come from.

    `status` is `verified` when the release owner's run generated them (a release system),
    `submitted` when a contributor sent them (judged here, not re-generated).
    """

    model_config = ConfigDict(extra="forbid")

    source: Literal["release", "submission"]
    status: Literal["verified", "submitted"]
    prefbench: str
    plugins: dict[str, str]
    split_fingerprint: str
    models: dict[str, str]
    """Each role's model name in the run that generated the outputs."""
    submission_file: str | None = None
    submission_sha256: str | None = None
    created: str | None = None


class BoardRow(BaseModel):
    """One system on one judge's leaderboard."""

    model_config = ConfigDict(extra="forbid")

    system: str
    reference: bool
    n: int | None = None
    wins: int | None = None
    losses: int | None = None
    ties: int | None = None
    win_rate: float | None = None
    """The system's win rate against the reference (ties count half), 0–1."""
    ci_low: float | None = None
    ci_high: float | None = None
    ci_method: str | None = None
    lc_win_rate: float | None = None
    lc_ci_low: float | None = None
    lc_ci_high: float | None = None
    rating: float | None = None
    rating_ci_low: float | None = None
    rating_ci_high: float | None = None
    generation_usd: float | None = None
    """Dollars of the system's generation calls at the price list (None: unknown)."""
    verdict_log: str | None = None
    judge_flags: list[str] = []
    """Why the judge failed its quality gate on this row (`prefbench.scorers.stats.judge_gate`);
    empty when it passed."""
    provenance: RowProvenance


class JudgeBoard(BaseModel):
    """The leaderboard of one judge: never mixed with another judge's verdicts."""

    model_config = ConfigDict(extra="forbid")

    judge: JudgeSpec
    reference_system: str
    rows: list[BoardRow]
    controls: dict[str, Any]
    """The report's control checks of this judge (`controls` of report.json), if any."""
    agreement: dict[str, Any]
    """The release's human agreement section (empty when it has no human answers)."""


class Leaderboard(BaseModel):
    """`leaderboard.json`."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = LEADERBOARD_SCHEMA_VERSION
    kind: Literal["prefbench-leaderboard"] = "prefbench-leaderboard"
    created: str
    release_profile: str
    split_fingerprint: str
    release_manifest_sha256: str
    new_judgments: int
    """Judgments (pairs × both orders) made by this build."""
    reused_judgments: int
    judges: list[JudgeBoard]


def _flipped(value: float | None) -> float | None:
    return None if value is None else 1.0 - value


def board_rows(
    report: Report,
    judge: str,
    reference: str,
    systems: list[str],
    provenance: dict[str, RowProvenance],
    costs: dict[str, float | None],
) -> list[BoardRow]:
    """One row per system, from `judge`'s comparisons with the reference and ratings.

    The reference's own row holds only its rating (it is what the others are measured
    against). Rows are ordered by win rate, best first (the reference last among equals).
    """
    ratings = {row.system: row for row in report.ratings.get(judge, [])}
    comparisons = {row.system_b: row for row in report.rows(judge) if row.system_a == reference}
    rows = []
    for system in systems:
        rating = ratings.get(system)
        row: dict[str, Any] = {
            "system": system,
            "reference": system == reference,
            "rating": rating.rating if rating else None,
            "rating_ci_low": rating.ci_low if rating else None,
            "rating_ci_high": rating.ci_high if rating else None,
            "generation_usd": costs.get(system),
            "provenance": provenance[system],
            "judge_flags": list(rating.judge_flags) if rating else [],
        }
        compared = comparisons.get(system)
        if compared is not None:
            row |= {
                "n": compared.n,
                "wins": compared.losses,  # the reference's losses are the system's wins
                "losses": compared.wins,
                "ties": compared.ties,
                "win_rate": _flipped(compared.win_rate),
                "ci_low": _flipped(compared.ci_high),
                "ci_high": _flipped(compared.ci_low),
                "ci_method": compared.ci_method,
                "lc_win_rate": _flipped(compared.lc_win_rate),
                "lc_ci_low": _flipped(compared.lc_ci_high),
                "lc_ci_high": _flipped(compared.lc_ci_low),
                "verdict_log": compared.log,
                "judge_flags": list(compared.judge_flags),
            }
        rows.append(BoardRow(**row))
    return sorted(rows, key=lambda row: (row.win_rate is None, -(row.win_rate or 0.0), row.system))
