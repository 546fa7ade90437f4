"""report.json and report.md from the judge logs (DESIGN §7), and the leaderboard table."""

import json
from pathlib import Path
from typing import Any

from inspect_ai.log import EvalLog, read_eval_log
from rich import box
from rich.table import Table

from harness.atomic import atomic_write_text
from harness.errors import PrefbenchInputError
from harness.profile import Profile
from harness.run_folder import RunFolder
from scorers.outcome import TiePolicy
from scorers.pair_score import outcome_from_metadata
from scorers.stats import summarize_win_rate

LOG_KINDS = ("intents", "build", "gen", "judge")


def comparison_from_log(log: EvalLog, tie_policy: TiePolicy, seed: int) -> dict[str, Any]:
    """One comparison row (DESIGN §7) from a pairwise judge log, re-applying `tie_policy`."""
    metadata = log.eval.metadata or {}
    outcomes, users, datasets = [], [], set()
    for sample in log.samples or []:
        scores = sample.scores or {}
        if not scores:
            raise PrefbenchInputError(
                f"judge log {log.location} has an unscored sample {sample.id}: delete the log "
                "and run `prefbench judge` again."
            )
        score = next(iter(scores.values()))
        outcomes.append(outcome_from_metadata(score.metadata or {}, tie_policy))
        users.append(str((sample.metadata or {}).get("user")))
        datasets.add(str((sample.metadata or {}).get("dataset")))
    summary = summarize_win_rate(outcomes, users, seed=seed)
    return {
        "dataset": ",".join(sorted(datasets)),
        "system_a": metadata.get("system_a"),
        "system_b": metadata.get("system_b"),
        "judge": metadata.get("judge"),
        "tie_policy": tie_policy,
        "log": Path(log.location).name,
        **summary.to_dict(),
    }


def usage_by_stage(run: RunFolder) -> dict[str, dict[str, int]]:
    """Tokens used per stage kind, summed from the finished logs' statistics."""
    usage: dict[str, dict[str, int]] = {}
    for kind in LOG_KINDS:
        totals = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        folder = run.logs(kind)
        for path in sorted(folder.glob("*.eval")) if folder.exists() else []:
            header = read_eval_log(str(path), header_only=True)
            if header.status != "success":
                continue
            for model_usage in header.stats.model_usage.values():
                totals["input_tokens"] += model_usage.input_tokens
                totals["output_tokens"] += model_usage.output_tokens
                totals["total_tokens"] += model_usage.total_tokens
        usage[kind] = totals
    return usage


def build_report(run: RunFolder, profile: Profile, judge_logs: list[Path]) -> dict[str, Any]:
    """The report.json object for a run whose judge logs are given."""
    policy: TiePolicy = profile.judge.tie_policy  # type: ignore[assignment]
    comparisons = [
        comparison_from_log(read_eval_log(str(path)), policy, profile.seed) for path in judge_logs
    ]
    return {
        "run": str(run.root),
        "profile": profile.name,
        "reference_system": profile.reference_system,
        "comparisons": comparisons,
        "ratings": [],
        "agreement": {},
        "cost": {"tokens_by_stage": usage_by_stage(run)},
    }


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def leaderboard_rows(report: dict[str, Any]) -> list[list[str]]:
    """Rows of the leaderboard: reference vs each system."""
    rows = []
    for row in report["comparisons"]:
        interval = (
            f"[{_percent(row['ci_low'])}, {_percent(row['ci_high'])}]"
            if row["ci_low"] is not None
            else "–"
        )
        p_value = "–" if row["p_value"] is None else f"{row['p_value']:.2g}"
        rows.append(
            [
                str(row["system_b"]),
                str(row["n"]),
                str(row["wins"]),
                str(row["losses"]),
                str(row["ties"]),
                str(row["parse_failures"]),
                _percent(row["win_rate"]),
                interval,
                p_value,
            ]
        )
    return rows


HEADERS = ["vs system", "n", "win", "loss", "tie", "fail", "win %", "95% CI", "p"]


def leaderboard_table(report: dict[str, Any]) -> Table:
    """The rich table printed at the end of `prefbench run`."""
    judge = report["comparisons"][0]["judge"] if report["comparisons"] else "?"
    table = Table(
        title=f"{report['reference_system']} vs each system (judge: {judge})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption="fail = parse failures (not in n); tie counts half; p = exact sign test",
    )
    for header in HEADERS:
        justify = "left" if header == "vs system" else "right"
        table.add_column(
            header, justify=justify, no_wrap=True, min_width=len(header) if header != "p" else 4
        )
    for row in leaderboard_rows(report):
        table.add_row(*row)
    return table


def report_markdown(report: dict[str, Any]) -> str:
    """report.md: the leaderboard, how to read it, and token usage."""
    lines = [
        f"# prefbench report: {report['profile']}",
        "",
        f"Run folder: `{report['run']}`. Reference system: `{report['reference_system']}`.",
        "",
        "Win rate counts a tie as half a win; parse failures are excluded from n. The 95 % "
        "interval is a bootstrap over users (Wilson for a single user); p is a two-sided exact "
        "sign test of wins against losses.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" for _ in HEADERS) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in leaderboard_rows(report)]
    lines += ["", "## Tokens by stage", "", "| stage | input | output |", "|---|---|---|"]
    for stage, usage in report["cost"]["tokens_by_stage"].items():
        lines.append(f"| {stage} | {usage['input_tokens']} | {usage['output_tokens']} |")
    return "\n".join(lines) + "\n"


def write_report(run: RunFolder, report: dict[str, Any]) -> None:
    """Write report.json and report.md atomically."""
    atomic_write_text(run.report_json, json.dumps(report, indent=2) + "\n")
    atomic_write_text(run.report_md, report_markdown(report))
