"""report.json from the judge logs (docs/design.md §7), and writing it with its renderings.

report.json holds one comparison per (judge log, dataset) and the paper's aggregate across
datasets (the unweighted mean of the dataset win rates). The renderings live beside it:
`prefbench.harness.report.markdown` (report.md), `prefbench.harness.report.html` (report.html) and
`prefbench.harness.report.figures` (figures/*.png, *.svg); `write_report` writes them all and is the
one writer of report.json; `prefbench.harness.report.file.read_report` is its one reader.
"""

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from inspect_ai.log import EvalLog, read_eval_log

from prefbench.core.atomic import atomic_write_text
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.harness.cost.spend import cost_section
from prefbench.harness.profile import Profile
from prefbench.harness.report.controls import controls_section
from prefbench.harness.report.file import read_report
from prefbench.harness.report.html import report_html
from prefbench.harness.report.markdown import report_markdown
from prefbench.harness.serving.decoding import unhonoured_decoding
from prefbench.human_eval.agreement import agreement_section
from prefbench.scorers.outcome import PairOutcome, TiePolicy
from prefbench.scorers.pair_score import judge_score, outcome_from_metadata
from prefbench.scorers.registry import lookup_judge
from prefbench.scorers.stats import (
    AuditedPair,
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

REPORT_FORMAT = 6
"""report.json's layout version: bump it when the layout changes, so old reports are rebuilt."""


@dataclass(frozen=True)
class JudgedComparison:
    """The outcomes of one judge log (system A vs system B), pair by pair.

    `users` and `datasets` give each pair's user and dataset, `winners` the candidate
    number chosen in each order (``"ab"``, ``"ba"``; None where unparsed) and `lengths` the
    characters of A's and B's outputs, `soft_scores` A's probability of winning where the
    judge read log-probabilities (None elsewhere), `sources` where each order's verdict came
    from and `verdict_modes` how the judge read it (None for a judge that records none), all
    aligned with `outcomes`; `identical` says whether A's and B's outputs were the same text
    (empty when not read).
    """

    system_a: str
    system_b: str
    judge: str
    outcomes: list[PairOutcome]
    users: list[str]
    datasets: list[str]
    log_name: str
    winners: list[tuple[int | None, int | None]]
    lengths: list[tuple[int, int]]
    soft_scores: list[float | None]
    sources: list[tuple[str | None, str | None]]
    verdict_modes: list[str | None]
    identical: list[bool] = field(default_factory=list)

    def length_differences(self) -> list[int]:
        """``len(A's output) - len(B's output)`` per pair, in characters."""
        return [length_a - length_b for length_a, length_b in self.lengths]

    def audited_pairs(self) -> list[AuditedPair]:
        """Every pair as the judge audit reads it."""
        return [
            AuditedPair(
                self.system_a,
                self.system_b,
                user,
                winner_ab,
                winner_ba,
                length_a,
                length_b,
                pair.score,
                source_ab,
                source_ba,
                mode,
            )
            for pair, user, (winner_ab, winner_ba), (length_a, length_b), (
                source_ab,
                source_ba,
            ), mode in zip(
                self.outcomes,
                self.users,
                self.winners,
                self.lengths,
                self.sources,
                self.verdict_modes,
                strict=True,
            )
        ]

    def by_dataset(self) -> dict[str, "JudgedComparison"]:
        """The same comparison split by dataset, in order of first appearance."""
        names = list(dict.fromkeys(self.datasets))

        def part(values: list, name: str) -> list:
            return [v for v, d in zip(values, self.datasets, strict=True) if d == name]

        return {
            name: replace(
                self,
                outcomes=part(self.outcomes, name),
                users=part(self.users, name),
                datasets=[name] * self.datasets.count(name),
                winners=part(self.winners, name),
                lengths=part(self.lengths, name),
                soft_scores=part(self.soft_scores, name),
                sources=part(self.sources, name),
                verdict_modes=part(self.verdict_modes, name),
                identical=part(self.identical, name) if self.identical else [],
            )
            for name in names
        }


def read_comparison(log: EvalLog, tie_policy: TiePolicy) -> JudgedComparison:
    """Outcomes of a pairwise judge log, re-applying `tie_policy` to the stored verdicts.

    A sample that ended with an error (a judge call that failed within the profile's error
    policy) has no verdict and is left out; the report lists it under `failed_samples`.
    """
    metadata = log.eval.metadata or {}
    outcomes, users, datasets, winners, lengths, soft_scores = [], [], [], [], [], []
    sources, verdict_modes, identical = [], [], []
    for sample in log.samples or []:
        if sample.error is not None:  # failed within the error policy: in `failed_samples`
            continue
        score = judge_score(log, sample.scores or {})
        if score is None:
            raise PrefbenchInputError(
                f"judge log {log.location} has no judge score for sample {sample.id}: delete "
                "the log and run `prefbench judge` again."
            )
        verdicts = score.metadata or {}
        outcomes.append(outcome_from_metadata(verdicts, tie_policy))
        winners.append((verdicts.get("winner_ab"), verdicts.get("winner_ba")))
        soft_scores.append(verdicts.get("soft_score"))
        sources.append((verdicts.get("verdict_source_ab"), verdicts.get("verdict_source_ba")))
        verdict_modes.append(verdicts.get("verdict_mode"))
        sample_metadata = sample.metadata or {}
        users.append(str(sample_metadata.get("user")))
        datasets.append(str(sample_metadata.get("dataset")))
        text_a = str(sample_metadata.get("candidate_a") or "")
        text_b = str(sample_metadata.get("candidate_b") or "")
        lengths.append((len(text_a), len(text_b)))
        identical.append(text_a.strip() == text_b.strip())
    return JudgedComparison(
        system_a=str(metadata.get("system_a")),
        system_b=str(metadata.get("system_b")),
        judge=str(metadata.get("judge")),
        outcomes=outcomes,
        users=users,
        datasets=datasets,
        log_name=Path(log.location).name,
        winners=winners,
        lengths=lengths,
        soft_scores=soft_scores,
        sources=sources,
        verdict_modes=verdict_modes,
        identical=identical,
    )


def comparison_row(comparison: JudgedComparison, tie_policy: TiePolicy) -> dict:
    """One report.json comparison (docs/design.md §7) of one dataset, with per-user rows.

    Beside the raw win rate it holds the length-controlled one (`lc_win_rate`, `lc_ci_low`,
    `lc_ci_high`, `lc_ci_method`, `length_coefficient`, `lc_separation`:
    `length_controlled_win_rate`) and, only when the verdicts carry soft scores
    (`verdict: logprobs`), the soft one (`soft_n`, `soft_win_rate`, `soft_ci_low`,
    `soft_ci_high`, `soft_ci_method`, `soft_users`, `soft_ci_guaranteed`). `users` counts the
    users with a scored pair and `ci_guaranteed` says whether the intervals rest on enough of
    them for their measured coverage (`prefbench.scorers.stats.GUARANTEED_MIN_USERS`).
    `identical_outputs` counts the pairs (of `compared_outputs`, parse failures included)
    whose two outputs were the same text: no judge can tell those apart.
    """
    summary = summarize_win_rate(comparison.outcomes, comparison.users)
    per_user = per_user_win_rates(comparison.outcomes, comparison.users)
    length_controlled = length_controlled_win_rate(
        [pair.score for pair in comparison.outcomes],
        comparison.length_differences(),
        comparison.users,
    )
    soft = soft_win_rate(comparison.soft_scores, comparison.users)
    return {
        "dataset": ",".join(dict.fromkeys(comparison.datasets)),
        "system_a": comparison.system_a,
        "system_b": comparison.system_b,
        "judge": comparison.judge,
        "tie_policy": tie_policy,
        "log": comparison.log_name,
        **summary.to_dict(),
        **length_controlled.to_dict(),
        **(soft.to_dict() if soft is not None else {}),
        "per_user": {user: row.to_dict() for user, row in per_user.items()},
        "identical_outputs": sum(comparison.identical) if comparison.identical else None,
        "compared_outputs": len(comparison.identical) if comparison.identical else None,
    }


def comparison_rows(comparisons: list[JudgedComparison], tie_policy: TiePolicy) -> list[dict]:
    """report.json `comparisons`: one row per (judge log, dataset)."""
    return [
        comparison_row(part, tie_policy)
        for comparison in comparisons
        for part in comparison.by_dataset().values()
    ]


def aggregate_rows(rows: list[dict]) -> list[dict[str, Any]]:
    """report.json `aggregate`: per (system A, system B, judge), the mean of dataset win rates.

    As in the paper every dataset counts the same however many pairs it has
    (`aggregate_across_datasets`); `n` is the total of scored pairs. `lc_win_rate` is the
    same mean of the dataset length-controlled win rates, and `soft_win_rate` (only where the
    verdicts carry soft scores) that of the soft ones.
    """
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["system_a"], row["system_b"], row["judge"]), []).append(row)
    return [
        {
            "system_a": system_a,
            "system_b": system_b,
            "judge": judge,
            "datasets": [row["dataset"] for row in group],
            "win_rate": aggregate_across_datasets(
                {row["dataset"]: row["win_rate"] for row in group}
            ),
            "n": sum(row["n"] for row in group),
            "lc_win_rate": aggregate_across_datasets(
                {row["dataset"]: row.get("lc_win_rate") for row in group}
            ),
            **(
                {
                    "soft_win_rate": aggregate_across_datasets(
                        {row["dataset"]: row.get("soft_win_rate") for row in group}
                    )
                }
                if any("soft_win_rate" in row for row in group)
                else {}
            ),
        }
        for (system_a, system_b, judge), group in groups.items()
    ]


def battles(comparisons: list[JudgedComparison]) -> list[Battle]:
    """Every judged pair as a Bradley–Terry battle (parse failures left out)."""
    return [
        Battle(comparison.system_a, comparison.system_b, pair.outcome, user)  # type: ignore[arg-type]
        for comparison in comparisons
        for pair, user in zip(comparison.outcomes, comparison.users, strict=True)
        if pair.outcome != "parse_failure"
    ]


def ratings_rows(
    comparisons: list[JudgedComparison],
    anchor: str | None = None,
    judge_flags: dict[str, list[str]] | None = None,
) -> list[dict[str, Any]]:
    """Bradley–Terry ratings of all systems with user-clustered intervals (empty if no data).

    `anchor` (the reference system) is pinned to 1000 when it played; otherwise the ratings
    are centered on a mean of 1000. Each row's `judge_flags` lists the quality-gate reasons
    of every flagged judge (`judge_flags`: judge → reasons) whose battles entered its rating,
    each prefixed by the judge's name.
    """
    judged = battles(comparisons)
    if not judged:
        return []
    played = {battle.system_a for battle in judged} | {battle.system_b for battle in judged}
    pinned = anchor if anchor in played else None
    judges_of: dict[str, set[str]] = {}
    for comparison in comparisons:
        for system in (comparison.system_a, comparison.system_b):
            judges_of.setdefault(system, set()).add(comparison.judge)
    flags = judge_flags or {}
    return [
        {
            **rating.to_dict(),
            "judge_flags": [
                f"{judge}: {reason}"
                for judge in sorted(judges_of.get(rating.system, set()))
                for reason in flags.get(judge, [])
            ],
        }
        for rating in bradley_terry_ratings(judged, anchor=pinned)
    ]


def role_models(profile: Profile, roles: tuple[str, ...]) -> set[str]:
    """The model names the profile gives these roles (roles it leaves unset are skipped)."""
    return {profile.roles[role].model for role in roles if role in profile.roles}


def judge_models(profile: Profile, judge: str) -> set[str]:
    """The models a registered judge calls under the profile; empty for an unknown judge."""
    try:
        return role_models(profile, lookup_judge(judge).roles)
    except PrefbenchInputError:
        return set()


def system_models(profile: Profile, systems: set[str]) -> dict[str, set[str]]:
    """The models each registered system calls under the profile (unknown systems left out)."""
    models = {}
    for system in sorted(systems):
        try:
            models[system] = role_models(profile, lookup_system(system).roles)
        except PrefbenchInputError:
            continue
    return models


def order_blind(judge: str) -> bool:
    """Whether a registered judge ignores the candidates' order (False for an unknown one)."""
    try:
        return lookup_judge(judge).order_blind
    except PrefbenchInputError:
        return False


def judge_audit_rows(comparisons: list[JudgedComparison], profile: Profile) -> list[dict[str, Any]]:
    """report.json `judge_audit`: per judge, position and length bias, self-preference, gate.

    Each row is `{"judge", "judge_models", "order_blind", **audit_judge(...),
    "self_preference": [...], "quality_gate": {"flagged", "reasons"}}`
    (`prefbench.scorers.stats.audit_judge`, `prefbench.scorers.stats.self_preference`,
    `prefbench.scorers.stats.quality_gate`) over every pair the judge judged, across
    comparisons and datasets.
    """
    rows = []
    for judge in dict.fromkeys(comparison.judge for comparison in comparisons):
        judged = [comparison for comparison in comparisons if comparison.judge == judge]
        pairs = [pair for comparison in judged for pair in comparison.audited_pairs()]
        systems = {c.system_a for c in judged} | {c.system_b for c in judged}
        models = judge_models(profile, judge)
        blind = order_blind(judge)
        audit = audit_judge(pairs)
        rows.append(
            {
                "judge": judge,
                "judge_models": sorted(models),
                "order_blind": blind,
                **audit,
                "self_preference": self_preference(pairs, models, system_models(profile, systems)),
                "quality_gate": quality_gate(audit, order_blind=blind),
            }
        )
    return rows


def flagged_judges(audits: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Judge → its quality-gate reasons, for every judge that failed the gate."""
    return {
        audit["judge"]: audit["quality_gate"]["reasons"]
        for audit in audits
        if audit["quality_gate"]["flagged"]
    }


def with_judge_flags(rows: list[dict], flags: dict[str, list[str]]) -> list[dict]:
    """Rows (comparisons, aggregates) with `judge_flags`: their judge's gate reasons, or []."""
    return [{**row, "judge_flags": flags.get(row["judge"], [])} for row in rows]


def build_report(run: RunFolder, profile: Profile, judge_logs: list[Path]) -> dict[str, Any]:
    """The report.json object for a run whose judge logs are given."""
    policy: TiePolicy = profile.judge.tie_policy  # type: ignore[assignment]
    comparisons = [read_comparison(read_eval_log(str(path)), policy) for path in judge_logs]
    audits = judge_audit_rows(comparisons, profile)
    flags = flagged_judges(audits)
    rows = with_judge_flags(comparison_rows(comparisons, policy), flags)
    return {
        "run": str(run.root),
        "profile": profile.name,
        "reference_system": profile.reference_system,
        "comparisons": rows,
        "aggregate": with_judge_flags(aggregate_rows(rows), flags),
        "ratings": ratings_rows(comparisons, profile.reference_system, flags),
        "judge_audit": audits,
        "controls": controls_section(rows, control_checks_of(profile.systems)),
        "agreement": agreement_section(run.root, judge_logs, profile.seed, tie_policy=policy),
        "cost": cost_section(run, profile, judge_logs),
        **_decoding_section(profile),
    }


def _decoding_section(profile: Profile) -> dict[str, Any]:
    """report.json `decoding_not_honoured`, only when a role's provider cannot honour it."""
    stated = unhonoured_decoding(profile)
    return {"decoding_not_honoured": stated} if stated else {}


def read_previous_report(run: RunFolder) -> dict[str, Any] | None:
    """The run's report.json, or None when it is missing or unreadable (it is then rebuilt)."""
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


def render_report(run: RunFolder, report: dict[str, Any]) -> None:
    """(Re)write the figures, report.md and report.html of a report, each atomically."""
    from prefbench.harness.report.figures import (
        write_figures,  # matplotlib: only when figures are drawn
    )

    figures = write_figures(report, figures_folder(run))
    relative = {name: path.relative_to(run.root).as_posix() for name, path in figures.items()}
    atomic_write_text(run.report_md, report_markdown(report, relative))
    atomic_write_text(report_html_path(run), report_html(report, figures))


def write_report(run: RunFolder, report: dict[str, Any]) -> None:
    """Write the renderings, then report.json: the one writer of that file.

    report.json comes last, so a run interrupted while rendering finds no up-to-date report
    and renders again.
    """
    render_report(run, report)
    atomic_write_text(run.report_json, json.dumps(report, indent=2) + "\n")
