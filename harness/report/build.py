"""report.json from the judge logs (docs/report_schema.md), and writing it with its renderings.

The report is built as a `prefbench.harness.report.schema.Report`: per judge of the profile
(the primary first), one comparison per (judge log, dataset), the paper's aggregate across
datasets (the unweighted mean of the dataset win rates), Bradley–Terry ratings over that
judge's battles only, its audit and its control checks; rows of two judges never mix. The
renderings live beside it: `prefbench.harness.report.markdown` (report.md),
`prefbench.harness.report.html` (report.html), `prefbench.harness.report.figures`
(figures/*.png, *.svg) and `prefbench.harness.report.csv_file` (report.csv, on request);
`write_report` writes them and is the one writer of report.json;
`prefbench.harness.report.file.read_report` is its one reader.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai.log import read_eval_log

from prefbench.core.atomic import atomic_write_text
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.harness.cost.spend import cost_section
from prefbench.harness.judging import ResolvedJudge, resolve_judges
from prefbench.harness.profile import Profile
from prefbench.harness.report.controls import controls_section
from prefbench.harness.report.file import read_report
from prefbench.harness.report.html import report_html
from prefbench.harness.report.judged import JudgedComparison, read_comparison
from prefbench.harness.report.markdown import report_markdown
from prefbench.harness.report.schema import (
    AggregateRow,
    ComparisonRow,
    JudgeAudit,
    JudgeControls,
    RatingRow,
    Report,
    UserWinRate,
)
from prefbench.harness.serving.decoding import unhonoured_decoding
from prefbench.human_eval.agreement import agreement_section
from prefbench.scorers.stats import (
    Battle,
    aggregate_across_datasets,
    audit_judge,
    bradley_terry_ratings,
    length_controlled_win_rate,
    per_user_win_rates,
    quality_gate,
    self_preference,
    soft_win_rate,
    summarize_win_rate,
)
from prefbench.solvers.registry import control_checks_of, lookup_system


def comparison_row(
    comparison: JudgedComparison, tie_policy: str, flags: list[str] | None = None
) -> ComparisonRow:
    """One report.json comparison (docs/report_schema.md) of one dataset, with per-user rows.

    Beside the raw win rate it holds the length-controlled one (`length_controlled_win_rate`)
    and, only when the verdicts carry soft scores (`verdict: logprobs`), the soft one.
    `users` counts the users with a scored pair and `ci_guaranteed` says whether the
    intervals rest on enough of them for their measured coverage
    (`prefbench.scorers.stats.GUARANTEED_MIN_USERS`). `identical_outputs` counts the pairs
    (of `compared_outputs`, parse failures included) whose two outputs were the same text:
    no judge can tell those apart. `flags` are its judge's quality-gate reasons.
    """
    outcomes, users = comparison.outcomes(), comparison.users()
    summary = summarize_win_rate(outcomes, users)
    per_user = per_user_win_rates(outcomes, users)
    length_controlled = length_controlled_win_rate(
        [pair.score for pair in outcomes], comparison.length_differences(), users
    )
    soft = soft_win_rate(comparison.soft_scores(), users)
    identical = comparison.identical()
    return ComparisonRow(
        dataset=",".join(dict.fromkeys(pair.dataset for pair in comparison.pairs)),
        system_a=comparison.system_a,
        system_b=comparison.system_b,
        judge=comparison.judge,
        tie_policy=tie_policy,
        log=comparison.log_name,
        **summary.to_dict(),
        **length_controlled.to_dict(),
        **(soft.to_dict() if soft is not None else {}),
        per_user={user: UserWinRate(**row.to_dict()) for user, row in per_user.items()},
        identical_outputs=sum(identical) if identical else None,
        compared_outputs=len(identical) if identical else None,
        judge_flags=list(flags or []),
    )


def comparison_rows(
    comparisons: list[JudgedComparison], tie_policy: str, flags: list[str] | None = None
) -> list[ComparisonRow]:
    """One judge's report.json `comparisons`: one row per (judge log, dataset)."""
    return [
        comparison_row(part, tie_policy, flags)
        for comparison in comparisons
        for part in comparison.by_dataset().values()
    ]


def aggregate_rows(rows: list[ComparisonRow]) -> list[AggregateRow]:
    """report.json `aggregate`: per (system A, system B, judge), the mean of dataset win rates.

    As in the paper every dataset counts the same however many pairs it has
    (`aggregate_across_datasets`); `n` is the total of scored pairs. `lc_win_rate` is the
    same mean of the dataset length-controlled win rates, and `soft_win_rate` (only where the
    verdicts carry soft scores) that of the soft ones. Each row keeps its rows' gate flags.
    """
    groups: dict[tuple[str, str, str], list[ComparisonRow]] = {}
    for row in rows:
        groups.setdefault((row.system_a, row.system_b, row.judge), []).append(row)
    return [
        AggregateRow(
            system_a=system_a,
            system_b=system_b,
            judge=judge,
            datasets=[row.dataset for row in group],
            win_rate=aggregate_across_datasets({row.dataset: row.win_rate for row in group}),
            n=sum(row.n for row in group),
            lc_win_rate=aggregate_across_datasets({row.dataset: row.lc_win_rate for row in group}),
            soft_win_rate=aggregate_across_datasets(
                {row.dataset: row.soft_win_rate for row in group}
            )
            if any(row.soft_win_rate is not None for row in group)
            else None,
            judge_flags=next((row.judge_flags for row in group if row.judge_flags), []),
        )
        for (system_a, system_b, judge), group in groups.items()
    ]


def battles(comparisons: list[JudgedComparison]) -> list[Battle]:
    """Every judged pair as a Bradley–Terry battle (parse failures left out)."""
    return [
        Battle(comparison.system_a, comparison.system_b, pair.outcome.outcome, pair.user)  # type: ignore[arg-type]
        for comparison in comparisons
        for pair in comparison.pairs
        if pair.outcome.outcome != "parse_failure"
    ]


def ratings_rows(
    comparisons: list[JudgedComparison], anchor: str | None = None, flags: list[str] | None = None
) -> list[RatingRow]:
    """Bradley–Terry ratings over one judge's battles, user-clustered intervals (empty if none).

    `anchor` (the reference system) is pinned to 1000 when it played; otherwise the ratings
    are centered on a mean of 1000. `flags` (the judge's quality-gate reasons) are on every
    row, each prefixed by the judge's name.
    """
    judged = battles(comparisons)
    if not judged:
        return []
    played = {battle.system_a for battle in judged} | {battle.system_b for battle in judged}
    pinned = anchor if anchor in played else None
    judges = sorted({comparison.judge for comparison in comparisons})
    marked = [f"{judge}: {reason}" for judge in judges for reason in flags or []]
    return [
        RatingRow(**rating.to_dict(), judge_flags=marked)
        for rating in bradley_terry_ratings(judged, anchor=pinned)
    ]


def role_models(profile: Profile, roles: tuple[str, ...]) -> set[str]:
    """The model names the profile gives these roles (roles it leaves unset are skipped)."""
    return {profile.roles[role].model for role in roles if role in profile.roles}


def system_models(profile: Profile, systems: set[str]) -> dict[str, set[str]]:
    """The models each registered system calls under the profile (unknown systems left out)."""
    models = {}
    for system in sorted(systems):
        try:
            models[system] = role_models(profile, lookup_system(system).roles)
        except PrefbenchInputError:
            continue
    return models


def judge_audit(
    judge: ResolvedJudge, comparisons: list[JudgedComparison], profile: Profile
) -> JudgeAudit:
    """report.json `judge_audit` of one judge: position and length bias, self-preference, gate.

    `audit_judge`, `self_preference` and `quality_gate` (`prefbench.scorers.stats`) over
    every pair the judge judged, across comparisons and datasets.
    """
    pairs = [pair for comparison in comparisons for pair in comparison.audited_pairs()]
    systems = {c.system_a for c in comparisons} | {c.system_b for c in comparisons}
    models = role_models(profile, judge.definition.roles)
    blind = judge.definition.order_blind
    audit = audit_judge(pairs)
    return JudgeAudit(
        judge=judge.name,
        judge_models=sorted(models),
        order_blind=blind,
        **audit,
        self_preference=self_preference(pairs, models, system_models(profile, systems)),
        quality_gate=quality_gate(audit, order_blind=blind),
    )


@dataclass(frozen=True)
class JudgeResults:
    """One judge's part of the report: its rows, ratings, audit and controls."""

    comparisons: list[ComparisonRow]
    aggregate: list[AggregateRow]
    ratings: list[RatingRow]
    audit: JudgeAudit
    controls: JudgeControls | None


def judge_results(
    judge: ResolvedJudge, comparisons: list[JudgedComparison], profile: Profile
) -> JudgeResults:
    """Everything the report says about one judge, from its comparisons alone."""
    audit = judge_audit(judge, comparisons, profile)
    flags = audit.quality_gate.reasons if audit.quality_gate.flagged else []
    rows = comparison_rows(comparisons, judge.tie_policy, flags)
    controls = controls_section(rows, control_checks_of(profile.systems))
    return JudgeResults(
        comparisons=rows,
        aggregate=aggregate_rows(rows),
        ratings=ratings_rows(comparisons, profile.reference_system, flags),
        audit=audit,
        controls=controls.get(judge.name),
    )


def read_judge_logs(
    judges: list[ResolvedJudge], judge_logs: list[Path]
) -> dict[str, list[JudgedComparison]]:
    """Each judge's comparisons, by judge name in the profile's order.

    Each log is read with its judge's tie policy; a log of a judge the profile does not name
    is an input error.
    """
    policies = {judge.name: judge.tie_policy for judge in judges}
    by_judge: dict[str, list[JudgedComparison]] = {judge.name: [] for judge in judges}
    for path in judge_logs:
        log = read_eval_log(str(path))
        name = str((log.eval.metadata or {}).get("judge"))
        if name not in policies:
            raise PrefbenchInputError(
                f"judge log {path} was written by judge '{name}', which the run's profile "
                f"does not list (its judges: {list(policies)}): add it with `prefbench judge "
                f"--run RUN --judge {name}` or move the log out of logs/judge/"
            )
        by_judge[name].append(read_comparison(log, policies[name]))  # type: ignore[arg-type]
    return by_judge


def build_report(
    run: RunFolder,
    profile: Profile,
    judge_logs: list[Path],
    sections: dict[str, Any],
    inputs_key: str,
) -> Report:
    """The report of a run whose judge logs are given, with the stages' `sections`."""
    judges = resolve_judges(profile)
    results = {
        name: judge_results(judge, comparisons, profile)
        for judge, (name, comparisons) in zip(
            judges, read_judge_logs(judges, judge_logs).items(), strict=True
        )
    }
    decoding = unhonoured_decoding(profile)
    return Report.model_validate(
        {
            "run": str(run.root),
            "profile": profile.name,
            "reference_system": profile.reference_system,
            "judges": list(results),
            "comparisons": {name: part.comparisons for name, part in results.items()},
            "aggregate": {name: part.aggregate for name, part in results.items()},
            "ratings": {name: part.ratings for name, part in results.items()},
            "judge_audit": {name: part.audit for name, part in results.items()},
            "controls": {name: part.controls for name, part in results.items() if part.controls},
            "agreement": agreement_section(
                run.root, judge_logs, profile.seed, tie_policy=profile.judge.tie_policy
            ),
            "cost": cost_section(run, profile, judge_logs),
            **({"decoding_not_honoured": decoding} if decoding else {}),
            **{name: value for name, value in sections.items() if name in Report.model_fields},
            "stage_sections": {
                name: value for name, value in sections.items() if name not in Report.model_fields
            },
            "inputs_key": inputs_key,
        }
    )


def read_previous_report(run: RunFolder) -> Report | None:
    """The run's report.json, or None when it is missing, unreadable or of another layout.

    The run then builds it again.
    """
    try:
        return read_report(run)
    except PrefbenchInputError:
        return None


def report_html_path(run: RunFolder) -> Path:
    """`runs/NAME/report.html`: the report as one self-contained page."""
    return run.root / "report.html"


def figures_folder(run: RunFolder) -> Path:
    """`runs/NAME/figures/`: the report's figures as PNG and SVG."""
    return run.root / "figures"


def render_report(run: RunFolder, report: Report) -> None:
    """(Re)write the figures, report.md and report.html of a report, each atomically."""
    from prefbench.harness.report.figures import (
        write_figures,  # matplotlib: only when figures are drawn
    )

    figures = write_figures(report, figures_folder(run))
    relative = {name: path.relative_to(run.root).as_posix() for name, path in figures.items()}
    atomic_write_text(run.report_md, report_markdown(report, relative))
    atomic_write_text(report_html_path(run), report_html(report, figures))


def write_report(run: RunFolder, report: Report) -> None:
    """Write the renderings, then report.json: the one writer of that file.

    report.json comes last, so a run interrupted while rendering finds no up-to-date report
    and renders again.
    """
    render_report(run, report)
    atomic_write_text(run.report_json, json.dumps(report.dump(), indent=2) + "\n")
