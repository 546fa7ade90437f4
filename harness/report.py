"""report.json and report.md from the judge logs (DESIGN §7), and the leaderboard table."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai.log import EvalLog, read_eval_log
from rich import box
from rich.table import Table

from harness.atomic import atomic_write_text
from harness.errors import PrefbenchInputError
from harness.profile import Profile
from harness.run_folder import RunFolder
from scorers.outcome import PairOutcome, TiePolicy
from scorers.pair_score import outcome_from_metadata
from scorers.stats import Battle, bradley_terry_ratings, per_user_win_rates, summarize_win_rate

LOG_KINDS = ("intents", "build", "gen", "judge")
REPORT_FORMAT = 2  # bump when report.json's content changes, so old reports are rebuilt


@dataclass(frozen=True)
class JudgedComparison:
    """The outcomes of one judge log (system A vs system B), record by record."""

    system_a: str
    system_b: str
    judge: str
    datasets: tuple[str, ...]
    outcomes: list[PairOutcome]
    users: list[str]
    log_name: str


def read_comparison(log: EvalLog, tie_policy: TiePolicy) -> JudgedComparison:
    """Outcomes of a pairwise judge log, re-applying `tie_policy` to the stored verdicts."""
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
    return JudgedComparison(
        system_a=str(metadata.get("system_a")),
        system_b=str(metadata.get("system_b")),
        judge=str(metadata.get("judge")),
        datasets=tuple(sorted(datasets)),
        outcomes=outcomes,
        users=users,
        log_name=Path(log.location).name,
    )


def comparison_row(comparison: JudgedComparison, tie_policy: TiePolicy, seed: int) -> dict:
    """One report.json comparison (DESIGN §7), with a per-user breakdown."""
    summary = summarize_win_rate(comparison.outcomes, comparison.users, seed=seed)
    per_user = per_user_win_rates(comparison.outcomes, comparison.users, seed=seed)
    return {
        "dataset": ",".join(comparison.datasets),
        "system_a": comparison.system_a,
        "system_b": comparison.system_b,
        "judge": comparison.judge,
        "tie_policy": tie_policy,
        "log": comparison.log_name,
        **summary.to_dict(),
        "per_user": {user: row.to_dict() for user, row in per_user.items()},
    }


def battles(comparisons: list[JudgedComparison]) -> list[Battle]:
    """Every judged pair as a Bradley–Terry battle (parse failures left out)."""
    return [
        Battle(comparison.system_a, comparison.system_b, pair.outcome, user)  # type: ignore[arg-type]
        for comparison in comparisons
        for pair, user in zip(comparison.outcomes, comparison.users, strict=True)
        if pair.outcome != "parse_failure"
    ]


def ratings_rows(comparisons: list[JudgedComparison], seed: int) -> list[dict[str, Any]]:
    """Bradley–Terry ratings of all systems with user-bootstrap intervals (empty if no data)."""
    judged = battles(comparisons)
    if not judged:
        return []
    return [rating.to_dict() for rating in bradley_terry_ratings(judged, seed=seed)]


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
    comparisons = [read_comparison(read_eval_log(str(path)), policy) for path in judge_logs]
    return {
        "run": str(run.root),
        "profile": profile.name,
        "reference_system": profile.reference_system,
        "comparisons": [comparison_row(c, policy, profile.seed) for c in comparisons],
        "ratings": ratings_rows(comparisons, profile.seed),
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


def ratings_table(report: dict[str, Any]) -> Table:
    """Bradley–Terry ratings of every system, from all judged pairs."""
    table = Table(
        title="Bradley–Terry ratings (95 % interval: bootstrap over users)", box=box.SIMPLE_HEAD
    )
    for header in ("system", "rating", "95% CI"):
        table.add_column(header, justify="left" if header == "system" else "right")
    for rating in report["ratings"]:
        interval = (
            f"[{rating['ci_low']:.0f}, {rating['ci_high']:.0f}]"
            if rating["ci_low"] is not None
            else "–"
        )
        table.add_row(rating["system"], f"{rating['rating']:.0f}", interval)
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
    if report["ratings"]:
        lines += [
            "",
            "## Bradley–Terry ratings (all pairings; 95 % interval from a bootstrap over users)",
            "",
            "| system | rating | 95% CI |",
            "|---|---|---|",
        ]
        for rating in report["ratings"]:
            interval = (
                f"[{rating['ci_low']:.0f}, {rating['ci_high']:.0f}]"
                if rating["ci_low"] is not None
                else "–"
            )
            lines.append(f"| {rating['system']} | {rating['rating']:.0f} | {interval} |")
    lines += ["", "## Tokens by stage", "", "| stage | input | output |", "|---|---|---|"]
    for stage, usage in report["cost"]["tokens_by_stage"].items():
        lines.append(f"| {stage} | {usage['input_tokens']} | {usage['output_tokens']} |")
    return "\n".join(lines) + "\n"


def read_previous_report(run: RunFolder) -> dict[str, Any] | None:
    """The run's report.json, or None when absent or unreadable (it is then rebuilt)."""
    try:
        return json.loads(run.report_json.read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def write_report(run: RunFolder, report: dict[str, Any]) -> None:
    """Write report.json and report.md atomically."""
    atomic_write_text(run.report_json, json.dumps(report, indent=2) + "\n")
    atomic_write_text(run.report_md, report_markdown(report))
