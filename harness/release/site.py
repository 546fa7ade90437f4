"""The leaderboard's files: `leaderboard.json`, `.csv`, `.md` and a static HTML site.

`index.html` holds one sortable table per judge (click a column heading), the controls and
the release's human agreement; `systems/NAME.html` one page per system with its row, its
provenance and a few sampled pairs from its verdict log against the reference (the real
text, both outputs, the verdict in each order and the judge's reason). Pages are Jinja2
templates (`templates/`) rendered with autoescaping; their CSS and script are inline, so the
site loads nothing from anywhere (no CDN, no web font) and works from `file://`. Every file
is staged and renamed into place together (`prefbench.core.atomic.StagedFiles`).
"""

import csv
import io
import random
from pathlib import Path
from typing import Any

from inspect_ai.log import read_eval_log
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from prefbench.core.atomic import StagedFiles
from prefbench.core.run_folder import RunFolder
from prefbench.core.safe_names import safe_name
from prefbench.harness.release.board import BoardRow, JudgeBoard, Leaderboard
from prefbench.scorers.pair_score import judge_score

__all__ = ["EXAMPLES_PER_SYSTEM", "leaderboard_csv", "system_page", "write_site"]

TEMPLATES = Path(__file__).parent / "templates"
EXAMPLES_PER_SYSTEM = 3
"""Pairs shown on a system's page, sampled from its verdict log (a fixed seed)."""
CSV_COLUMNS = [
    "judge",
    "system",
    "reference",
    "source",
    "status",
    "n",
    "wins",
    "losses",
    "ties",
    "win_rate",
    "ci_low",
    "ci_high",
    "ci_method",
    "lc_win_rate",
    "lc_ci_low",
    "lc_ci_high",
    "rating",
    "rating_ci_low",
    "rating_ci_high",
    "generation_usd",
    "prefbench",
    "split_fingerprint",
    "submission_sha256",
]
STANDARD_METADATA = {
    "judge",
    "winner_ab",
    "winner_ba",
    "exact_tie",
    "position_consistent",
    "tie_policy",
}


def system_page(system: str) -> str:
    """The site path of a system's page (`systems/NAME.html`, a safe file name)."""
    return f"systems/{safe_name(system)}.html"


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=lambda name: name is not None and name.endswith(".html.j2"),
        undefined=StrictUndefined,
    )
    environment.filters["percent"] = lambda value: "–" if value is None else f"{100 * value:.1f}"
    environment.filters["number"] = lambda value, digits=0: (
        "–" if value is None else f"{value:,.{digits}f}"
    )
    environment.filters["usd"] = lambda value: "–" if value is None else f"${value:,.4f}"
    environment.filters["page"] = system_page
    return environment


def leaderboard_csv(board: Leaderboard) -> str:
    """One CSV row per (judge, system)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for judge in board.judges:
        for row in judge.rows:
            values: dict[str, Any] = row.model_dump(exclude={"provenance", "verdict_log"})
            values |= {
                "judge": judge.judge.name,
                "source": row.provenance.source,
                "status": row.provenance.status,
                "prefbench": row.provenance.prefbench,
                "split_fingerprint": row.provenance.split_fingerprint,
                "submission_sha256": row.provenance.submission_sha256,
            }
            writer.writerow({name: values.get(name) for name in CSV_COLUMNS})
    return buffer.getvalue()


def examples(work: RunFolder, row: BoardRow, count: int = EXAMPLES_PER_SYSTEM) -> list[dict]:
    """Up to `count` pairs of the row's verdict log, sampled with a fixed seed, for its page."""
    if row.verdict_log is None:
        return []
    log = read_eval_log(str(work.logs("judge") / row.verdict_log))
    samples = [sample for sample in log.samples or [] if sample.error is None]
    chosen = sorted(random.Random(0).sample(range(len(samples)), min(count, len(samples))))
    shown = []
    for index in chosen:
        sample = samples[index]
        score = judge_score(log, sample.scores or {})
        metadata = dict(score.metadata or {}) if score is not None else {}
        details = {name: value for name, value in metadata.items() if name not in STANDARD_METADATA}
        target = sample.target if isinstance(sample.target, str) else "\n".join(sample.target)
        shown.append(
            {
                "id": str(sample.id),
                "user": (sample.metadata or {}).get("user"),
                "truth": target,
                "candidate_a": (sample.metadata or {}).get("candidate_a", ""),
                "candidate_b": (sample.metadata or {}).get("candidate_b", ""),
                "outcome": score.answer if score is not None else None,
                "winner_ab": metadata.get("winner_ab"),
                "winner_ba": metadata.get("winner_ba"),
                "reason": (score.explanation if score is not None else None) or "",
                "details": details,
            }
        )
    return shown


def _judge_context(judge: JudgeBoard) -> dict[str, Any]:
    return {"board": judge, "spec": judge.judge}


def write_site(site: Path, board: Leaderboard, work: RunFolder) -> None:
    """Write leaderboard.json/.csv/.md, index.html and systems/*.html into `site` together."""
    environment = _environment()
    files: dict[str, str] = {
        "leaderboard.json": board.model_dump_json(indent=2) + "\n",
        "leaderboard.csv": leaderboard_csv(board),
        "leaderboard.md": environment.get_template("leaderboard.md.j2").render(board=board),
        "index.html": environment.get_template("index.html.j2").render(
            board=board, judges=[_judge_context(judge) for judge in board.judges]
        ),
    }
    page = environment.get_template("system.html.j2")
    for judge in board.judges:
        reference = judge.reference_system
        for row in judge.rows:
            files[system_page(row.system)] = page.render(
                board=board,
                spec=judge.judge,
                row=row,
                reference=reference,
                examples=examples(work, row),
            )
    with StagedFiles() as staged:
        for relative, text in files.items():
            staged.new(site / relative).write_text(text, encoding="utf-8")
        staged.install()
