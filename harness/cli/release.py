"""`prefbench release`, `submit` and `leaderboard`: results that travel (docs/leaderboard.md).

Thin: each command calls one function of `prefbench.harness.release`.
"""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def release_command(
    run_dir: Annotated[Path, typer.Option("--run", help="A finished run folder, e.g. runs/demo.")],
    out: Annotated[Path, typer.Option("--out", help="The new release folder (never overwritten).")],
) -> None:
    """Publish a finished run as a benchmark release: split, outputs, judge, verdicts, report."""
    from prefbench.harness.release import make_release

    make_release(run_dir, out, console)


def submit_command(
    release: Annotated[Path, typer.Option("--release", help="The release folder.")],
    run_dir: Annotated[
        Path, typer.Option("--run", help="Your finished run on the release's split.")
    ],
    system: Annotated[str, typer.Option("--system", help="The method to submit.")],
    out: Annotated[Path, typer.Option("--out", help="The submission file to write (JSON).")],
) -> None:
    """Write one method's submission: build manifests, test outputs and provenance."""
    from prefbench.harness.release import make_submission

    make_submission(release, run_dir, system, out, console)


def leaderboard_command(
    release: Annotated[Path, typer.Option("--release", help="The release folder.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="The site folder (kept between builds: its verdicts are reused)."
        ),
    ],
    submissions: Annotated[
        list[Path] | None, typer.Argument(help="Submission files (`prefbench submit`).")
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost", min=0.0, help="Refuse when the new judgments would cost more (USD)."
        ),
    ] = None,
) -> None:
    """Judge each submission against the release's reference and write the leaderboard site."""
    from prefbench.harness.release import build_leaderboard

    build_leaderboard(release, list(submissions or []), out, console, max_cost=max_cost)
