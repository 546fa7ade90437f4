"""Every table of the report, built once as `core.tables` models from a typed `Report`.

`report_sections` gives the report in reading order (win rates, a leaderboard per judge,
ratings per judge, the judge audit, the optional similarity, personalization and
multi-candidate sections, the human agreement, the cost); report.md, report.html and the
terminal draw the same `Section`s and `Table`s. Every table of one judge's results names
that judge; no table mixes two judges' rows. A None value shows as "–".
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefbench.core.display import MISSING, interval, number, p_value, percent, text
from prefbench.core.tables import Cell, Section, Table, cells, columns
from prefbench.harness.report.controls import controls_report_section
from prefbench.harness.report.decoding import decoding_report_section
from prefbench.harness.report.failures import failed_samples_report_section
from prefbench.harness.report.schema import (
    AggregateRow,
    ComparisonRow,
    CostSection,
    JudgeAudit,
    MultiCandidateSection,
    PersonalizationSection,
    Rate,
    RatingRow,
    Report,
    SimilaritySection,
    VerdictSources,
)
from prefbench.human_eval.agreement_render import agreement_report_section

TEMPLATES = Path(__file__).parent / "templates"
"""report.md.j2 and report.html.j2, which include the section and table templates of core."""

HOW_TO_READ = (
    "Win rate counts a tie as half a win; parse failures are excluded from n. The 95 % "
    "interval is clustered by user, for any numbers of pairs per user: the small-sample CR2 "
    "variance with a t quantile on Imbens–Kolesár degrees of freedom, on the logit scale "
    "(Wilson for a single user, or when every user has the same rate); from 5 users on it "
    "covered at least 93 % in every simulated design, below 5 users it is marked as not "
    "guaranteed. p is a two-sided exact sign test of wins against losses; position consistency "
    "is the share of pairs whose two judging orders agreed. The aggregate is the mean of the "
    "dataset win rates, as in the paper. LC is the length-controlled win rate (AlpacaEval 2.0): "
    "a logistic model of the verdict on the normalized length difference of the two outputs, "
    "read at zero difference, with the same user-clustered interval. A judge that fails the "
    "quality gate (position bias, position consistency, fallback verdicts; see the judge "
    "audit) is marked on every row it produced. docs/statistics.md explains every number."
)

NOT_GUARANTEED = (
    "interval from fewer than 5 users: its 95 % coverage is not guaranteed (at 3 users the "
    "measured coverage ranged from 88 % to 99 % by design; docs/statistics.md)"
)
"""The note of an interval whose `ci_guaranteed` is false."""

SEPARATION = (
    "separation: the length difference predicts every decided outcome, so a plain logistic "
    "fit has no finite estimate; the prior sets this value, and the interval is widened to "
    "hold the raw win rate's"
)
"""The note of a length-controlled win rate whose `lc_separation` is true."""


def interval_cell(
    low: Any, high: Any, guaranteed: Any = True, as_percent: bool = True, digits: int = 3
) -> Cell:
    """An interval's cell, with the "not guaranteed" note when `guaranteed` is False."""
    spread = interval(low, high, as_percent=as_percent, digits=digits)
    return Cell(spread, note=NOT_GUARANTEED if guaranteed is False and spread != MISSING else "")


def gate_note(judge: Any, reasons: Any) -> str:
    """The note on a row whose judge failed the quality gate; "" when it passed."""
    if not reasons:
        return ""
    return f"judge {judge} failed the quality gate: " + "; ".join(str(r) for r in reasons)


def flagged(label: str, judge: Any, reasons: Any) -> Cell:
    """A row label, marked ⚠ with the gate's reasons as its note when its judge failed."""
    note = gate_note(judge, reasons)
    return Cell(f"{label} ⚠" if note else label, note=note)


def win_cell(row: ComparisonRow) -> Cell:
    """Table 1's cell: win % and its 95 % interval, e.g. "61.1 [52.0, 70.3]"."""
    spread = interval_cell(row.ci_low, row.ci_high, row.ci_guaranteed)
    value = percent(row.win_rate)
    return Cell(value if spread.text == MISSING else f"{value} {spread.text}", note=spread.note)


def _opponent(row: ComparisonRow, reference: str) -> str:
    """System B's name, prefixed by system A's when A is not the reference system."""
    return row.system_b if row.system_a == reference else f"{row.system_a} vs {row.system_b}"


def win_rate_tables(report: Report) -> list[Table]:
    """Table 1 of the paper per (judge, system A): rows = baselines; datasets, then Aggregate."""
    datasets = report.datasets_of()
    tables = []
    for judge in report.judges:
        rows = report.rows(judge)
        aggregates = {(row.system_a, row.system_b): row for row in report.aggregate.get(judge, [])}
        for system_a in dict.fromkeys(row.system_a for row in rows):
            group = [row for row in rows if row.system_a == system_a]
            by_cell = {(row.system_b, row.dataset): win_cell(row) for row in group}
            reasons = next((row.judge_flags for row in group if row.judge_flags), [])
            body = [
                cells(
                    flagged(system_b, judge, reasons),
                    *(by_cell.get((system_b, dataset), MISSING) for dataset in datasets),
                    percent(_aggregate_win_rate(aggregates.get((system_a, system_b)))),
                )
                for system_b in dict.fromkeys(row.system_b for row in group)
            ]
            warning = " ⚠ JUDGE FAILED THE QUALITY GATE" if reasons else ""
            tables.append(
                Table(
                    columns=columns("vs system", *datasets, "Aggregate"),
                    rows=body,
                    title=f"{system_a} win rate vs each baseline, % [95 % interval] "
                    f"(judge: {judge}){warning}",
                    caption="Aggregate: mean of the dataset win rates.",
                )
            )
    return tables


def _aggregate_win_rate(row: AggregateRow | None) -> float | None:
    return None if row is None else row.win_rate


def leaderboard(report: Report, judge: str) -> Table:
    """One judge's comparisons: counts, win %, interval, p-value and position consistency.

    The dataset column appears only when the comparisons span several datasets; a single
    dataset is named in the title, and so is the judge.
    """
    reference = report.reference_system
    comparisons = report.rows(judge)
    datasets = list(dict.fromkeys(text(row.dataset) for row in comparisons))
    several = len(datasets) > 1
    soft = any(row.soft_win_rate is not None for row in comparisons)
    audit = report.judge_audit.get(judge)
    blind = audit is not None and audit.order_blind
    body = [
        cells(
            *([text(row.dataset)] if several else []),
            flagged(_opponent(row, reference), row.judge, row.judge_flags),
            *(number(value) for value in (row.n, row.wins, row.losses, row.ties)),
            number(row.parse_failures),
            percent(row.win_rate),
            interval_cell(row.ci_low, row.ci_high, row.ci_guaranteed),
            Cell(
                percent(row.lc_win_rate) + (" ‡" if row.lc_separation else ""),
                note=SEPARATION if row.lc_separation else "",
            ),
            interval_cell(row.lc_ci_low, row.lc_ci_high, row.ci_guaranteed),
            *(
                (
                    percent(row.soft_win_rate),
                    interval_cell(row.soft_ci_low, row.soft_ci_high, row.soft_ci_guaranteed),
                )
                if soft
                else ()
            ),
            p_value(row.p_value),
            "n/a" if blind else percent(row.position_consistency),
        )
        for row in comparisons
    ]
    scope = "" if several or not datasets else f", dataset: {datasets[0]}"
    headers = ["vs system", "n", "win", "loss", "tie", "fail", "win %", "95% CI"]
    headers += ["LC win %", "LC 95% CI"]
    headers += ["soft win %", "soft 95% CI"] if soft else []
    headers += ["p", "cons %"]
    return Table(
        columns=columns(*(["dataset"] if several else []), *headers, labels=2 if several else 1),
        rows=body,
        title=f"{reference} vs each system (judge: {judge}{scope})",
        caption="fail: parse failures (not in n); a tie counts half; LC: length-controlled "
        "win rate (predicted at equal output length); "
        + ("soft: mean of the judge's probability that the system wins; " if soft else "")
        + "p: exact sign test; "
        "cons: pairs judged alike in both orders (n/a: the judge ignores the order); "
        "⚠: the judge failed the quality gate; ‡: separation",
    )


RATING_SEPARATED = (
    "won or lost every battle that links it to the reference: no finite estimate exists, the "
    "prior sets the rating, and there is no interval"
)


def _rating_interval(rating: RatingRow, reference: str) -> Cell:
    if rating.separated:
        return Cell("unbounded ‡", note=RATING_SEPARATED)
    if rating.system == reference and rating.ci_low is None:
        return Cell("pinned")
    return interval_cell(
        rating.ci_low, rating.ci_high, rating.ci_guaranteed, as_percent=False, digits=0
    )


def _rating_label(rating: RatingRow) -> Cell:
    if not rating.judge_flags:
        return Cell(rating.system)
    return Cell(
        f"{rating.system} ⚠",
        note="from a judge that failed the quality gate: " + "; ".join(rating.judge_flags),
    )


def ratings(report: Report, judge: str) -> Table:
    """Bradley–Terry ratings of every system over one judge's battles, best first as stored."""
    reference = report.reference_system
    body = [
        cells(_rating_label(rating), number(rating.rating, 0), _rating_interval(rating, reference))
        for rating in report.ratings.get(judge, [])
    ]
    return Table(
        columns=columns("system", "rating", "95% CI"),
        rows=body,
        title=f"Bradley–Terry ratings (judge: {judge}; Elo scale; 95 % interval clustered by user)",
        caption=f"{reference or MISSING} is pinned at 1000 when it played, and a nearly flat "
        "prior (sd 10 logits) on each system's difference from it only keeps a system that won "
        "or lost every battle finite (‡): a system that only tied the reference rates 1000.",
    )


def terminal_tables(report: Report) -> list[Table]:
    """What a run prints at its end: win rates per dataset (when several), then per judge.

    Each judge's leaderboard and ratings, in the profile's order.
    """
    tables = win_rate_tables(report) if len(report.datasets_of()) > 1 else []
    for judge in report.judges:
        tables.append(leaderboard(report, judge))
        if report.ratings.get(judge):
            tables.append(ratings(report, judge))
    return tables


def _rate_cells(rate: Rate) -> list[Cell]:
    """A judge-audit share: %, its 95 % interval and its n."""
    return cells(
        percent(rate.rate),
        interval_cell(rate.ci_low, rate.ci_high, rate.ci_guaranteed),
        number(rate.n),
    )


SLOPE_SEPARATION = (
    "separation: the length difference predicts every decided order, so a plain logistic fit "
    "has no finite slope; the prior (sd 2.5) sets this value"
)


def _fallback_cells(sources: VerdictSources) -> list[Cell]:
    counts = ", ".join(f"{name} {count}" for name, count in sources.counts.items())
    return cells(percent(sources.fallback_rate), Cell(counts or MISSING), number(sources.n))


def judge_audit_table(audit: JudgeAudit) -> Table:
    """One judge's position and length bias and verdict sources: each with its interval and n.

    A judge that ignores the order (`order_blind`) has no position rows: its first-slot rate
    and consistency hold by construction.
    """
    slope = audit.length_coefficient
    position = (
        []
        if audit.order_blind
        else [
            cells(
                "candidate 1 wins (50 = no position bias)",
                *_rate_cells(audit.first_slot_win_rate),
            ),
            cells("both orders agree", *_rate_cells(audit.position_consistency)),
        ]
    )
    sources = audit.verdict_sources
    rows = [
        *position,
        cells("longer candidate wins", *_rate_cells(audit.longer_win_rate)),
        cells(
            Cell(
                "length slope (logit per unit tanh(Δ/sd); 0 = none)"
                + (" ‡" if slope.separation else ""),
                note=SLOPE_SEPARATION if slope.separation else "",
            ),
            number(slope.coefficient),
            interval(slope.ci_low, slope.ci_high, as_percent=False),
            number(slope.n),
        ),
        *([cells("verdicts from a fallback", *_fallback_cells(sources))] if sources.n else []),
    ]
    return Table(
        columns=columns("measure", "value", "95% CI", "n"),
        rows=rows,
        title=f"Judge audit: {text(audit.judge)}",
        caption="n: single-order verdicts (pairs for agreement); the slope has one intercept "
        "per comparison, so a better system that is also longer is not length bias; the "
        "fallback row's CI column counts the parsed verdicts by source",
    )


def gate_paragraph(audit: JudgeAudit) -> str:
    """The judge's quality gate: passed, or failed with every reason."""
    judge = text(audit.judge)
    blind = (
        " It ignores the order of the candidates, so its first-slot rate (50 %) and position "
        "consistency (100 %) hold by construction and are not tested."
        if audit.order_blind
        else ""
    )
    if not audit.quality_gate.flagged:
        return f"Quality gate ({judge}): passed.{blind}"
    return (
        f"Quality gate ({judge}): FAILED ⚠ — "
        + "; ".join(audit.quality_gate.reasons)
        + ". Every win rate, rating and table from this judge is marked ⚠: its numbers "
        f"measure these artifacts as much as the systems.{blind}"
    )


def self_preference_paragraph(audit: JudgeAudit) -> str:
    """Which systems share the judge's model, and their win rate under it (flagged > 50 %)."""
    judge = text(audit.judge)
    models = ", ".join(audit.judge_models)
    if not models:
        return f"Self-preference ({judge}): none possible, the judge calls no model."
    if not audit.self_preference:
        return f"Self-preference ({judge}): the judge's models ({models}) are no system's model."
    parts = []
    for row in audit.self_preference:
        above = row.ci_low is not None and row.ci_low > 0.5
        parts.append(
            f"{text(row.system)} {percent(row.win_rate)} % "
            f"{interval(row.ci_low, row.ci_high)} over {number(row.n)} pairs"
            + (" — FLAGGED: above 50 % beyond its interval" if above else "")
        )
    return (
        f"Self-preference ({judge}): the judge's models ({models}) also write for "
        + "; ".join(parts)
        + " (that system's win rate under this judge, from its side)."
    )


def judge_audit_section(audits: list[JudgeAudit]) -> Section:
    """Per judge: position bias, length bias and self-preference, each with its interval."""
    return Section(
        key="judge_audit",
        title="Judge audit: position, length and self-preference",
        paragraphs=[
            paragraph
            for audit in audits
            for paragraph in (gate_paragraph(audit), self_preference_paragraph(audit))
        ],
        figure="judge_audit",
        tables=[judge_audit_table(audit) for audit in audits],
    )


def similarity_section(section: SimilaritySection) -> Section:
    """BERTScore F1 (with interval) and the lexical metrics of each system's outputs."""
    body = [
        cells(
            text(row.system),
            text(row.dataset),
            number(row.n),
            number(row.bertscore_f1),
            interval_cell(
                row.bertscore_f1_ci_low,
                row.bertscore_f1_ci_high,
                row.ci_guaranteed,
                as_percent=False,
            ),
            number(row.bleu, 2),
            number(row.rouge_l),
            number(row.tfidf_cosine),
        )
        for row in section.rows
    ]
    headers = ["system", "dataset", "n", "BERTScore F1", "95% CI", "BLEU", "ROUGE-L", "TF-IDF cos"]
    return Section(
        key="similarity",
        title="Similarity to the ground truth",
        paragraphs=[
            f"BERTScore encoder: {section.encoder or MISSING}. BLEU, ROUGE-L and TF-IDF "
            "cosine are secondary metrics."
        ],
        tables=[Table(columns=columns(*headers, labels=2), rows=body)],
    )


def _smallest_p(smallest: float | None) -> str:
    """What the permutation test can reach: its smallest p, and whether it can be significant."""
    if smallest is None:
        return ""
    verdict = (
        "; with so few users this test can never be significant at 0.05" if smallest > 0.05 else ""
    )
    return f" (smallest possible p = {p_value(smallest)}{verdict})"


def personalization_section(section: PersonalizationSection) -> Section:
    """The K×K matrix: agent of user i (rows) on the test set of user j (columns)."""
    users = section.users
    body = [
        cells(
            users[i] if i < len(users) else str(i),
            *(Cell(number(value), emphasis=i == j) for j, value in enumerate(row)),
        )
        for i, row in enumerate(section.matrix)
    ]
    summary = (
        f"{section.metric} of {section.system}: k = {number(section.k)} users; diagonal mean "
        f"{number(section.diagonal_mean)}, off-diagonal mean "
        f"{number(section.off_diagonal_mean)}; the user's own agent is best in "
        f"{number(section.diagonal_best_columns)} of {number(section.k)} test "
        f"sets (columns); one-sided permutation test of diagonal > off-diagonal, p = "
        f"{p_value(section.p_value)}{_smallest_p(section.min_p_value)}."
    )
    return Section(
        key="personalization",
        title="Personalization: each user's agent on every user's test set",
        paragraphs=[summary],
        figure="personalization",
        tables=[
            Table(
                columns=columns("agent \\ test set", *users),
                rows=body,
                caption="Diagonal (highlighted): each agent on its own user's test set.",
            )
        ],
    )


def multi_candidate_section(sections: Mapping[str, MultiCandidateSection]) -> Section:
    """First choices of each judge that ranked all systems at once, one table per judge."""
    paragraphs, tables = [], []
    for judge, section in sections.items():
        paragraphs.append(
            f"Judge {judge} saw {', '.join(section.systems)} together on "
            f"{number(section.n)} records ({number(section.rotations)} rotations of the "
            f"candidate order); parse failures: {number(section.parse_failures)}; position "
            f"consistency: {percent(section.position_consistency)} %."
        )
        body = [
            cells(
                text(row.system),
                number(row.votes, digits=1),
                percent(row.share),
                interval_cell(row.ci_low, row.ci_high, row.ci_guaranteed),
            )
            for row in section.first_choice
        ]
        tables.append(
            Table(
                columns=columns("system", "first choices", "share %", "95% CI"),
                rows=body,
                title=f"First choices (judge: {judge})",
            )
        )
    return Section(
        key="multi_candidate",
        title="All systems at once: the judge's first choice",
        paragraphs=paragraphs,
        tables=tables,
    )


def cost_section(section: CostSection) -> Section:
    """Tokens per stage and, when prices are known, US dollars per stage and model."""
    usd_by_stage = section.usd_by_stage
    stage_rows = [
        cells(
            stage,
            number(usage.input_tokens),
            number(usage.output_tokens),
            number(usage.total_tokens),
            *([number(usd_by_stage.get(stage), 4)] if usd_by_stage else []),
        )
        for stage, usage in section.tokens_by_stage.items()
    ]
    stage_headers = ["stage", "input tokens", "output tokens", "total tokens"]
    tables = [
        Table(
            columns=columns(*stage_headers, *(["USD"] if usd_by_stage else [])),
            rows=stage_rows,
            title="Tokens by stage",
        )
    ]
    if section.by_stage_model:
        tables.append(
            Table(
                columns=columns(
                    "stage",
                    "model",
                    "input tokens",
                    "output tokens",
                    "cached calls",
                    "USD",
                    labels=2,
                ),  # fmt: skip
                rows=[
                    cells(
                        text(row.stage),
                        text(row.model),
                        number(row.input_tokens),
                        number(row.output_tokens),
                        number(row.cached_calls),
                        number(row.usd, 4),
                    )
                    for row in section.by_stage_model
                ],
                title="By stage and model (cached calls: answered from the cache on resuming, "
                "counted with the tokens they cost when first made)",
            )
        )
    comparison = section.forecast_vs_spend
    if comparison is not None and comparison.rows:
        tables.append(
            Table(
                columns=columns(
                    "stage", "forecast USD", "with retries ≤", "spent USD", "spent/forecast"
                ),
                rows=[
                    cells(
                        text(row.stage),
                        number(row.forecast_usd, 4),
                        number(row.forecast_usd_max, 4),
                        number(row.spent_usd, 4),
                        number(row.ratio, 2),
                    )
                    for row in comparison.rows
                ],
                title="Forecast (dry run) against spend",
            )
        )
    if section.device_hours:
        tables.append(
            Table(
                columns=columns("stage", "wall s", "CPU s", "GPUs", "GPU-hours"),
                rows=[
                    cells(
                        text(row.stage),
                        number(row.wall_seconds, 1),
                        number(row.cpu_seconds, 1),
                        number(row.gpus),
                        number(row.gpu_hours, 3),
                    )
                    for row in section.device_hours
                ],
                title="Time and GPU-hours by pipeline stage",
            )
        )
    paragraphs = []
    if comparison is not None and comparison.ratio is not None:
        paragraphs.append(
            f"Spent {number(comparison.spent_usd, 4)} USD against a forecast of "
            f"{number(comparison.forecast_usd, 4)} USD (ratio "
            f"{number(comparison.ratio, 2)}; the forecast aims at ±20 %)."
        )
    total = section.usd_total
    paragraphs.append(
        f"Estimated cost: {number(total, 4)} USD (prices as of {section.prices_as_of or MISSING})."
        if total is not None
        else "Estimated cost: unknown (a model has no price in the profile)."
    )
    return Section(key="cost", title="Cost", paragraphs=paragraphs, tables=tables)


def _judge_key(key: str, judge: str, report: Report) -> str:
    """A per-judge section's key: plain for the primary judge, `KEY-JUDGE` for the others."""
    return key if judge == report.judges[0] else f"{key}-{judge}"


def report_sections(report: Report) -> list[Section]:
    """The whole report in reading order; optional sections only when the report has them.

    Each judge has its own leaderboard and ratings section, titled with its name; the
    figures of win rates and ratings draw the primary judge's.
    """
    sections = [
        Section(
            key="win_rates",
            title="Win rates",
            paragraphs=[HOW_TO_READ],
            figure="win_rates",
            tables=win_rate_tables(report),
        ),
    ]
    for judge in report.judges:
        sections.append(
            Section(
                key=_judge_key("leaderboard", judge, report),
                title=f"Leaderboard (judge: {judge})",
                tables=[leaderboard(report, judge)],
            )
        )
    for judge in report.judges:
        if report.ratings.get(judge):
            primary = judge == report.judges[0]
            sections.append(
                Section(
                    key=_judge_key("ratings", judge, report),
                    title=f"Bradley–Terry ratings (judge: {judge}; all its pairings)",
                    figure="ratings" if primary else None,
                    tables=[ratings(report, judge)],
                )
            )
    if report.judge_audit:
        sections.append(judge_audit_section(list(report.judge_audit.values())))
    if report.controls:
        sections.append(controls_report_section(report.controls))
    if report.similarity is not None:
        sections.append(similarity_section(report.similarity))
    if report.personalization is not None:
        sections.append(personalization_section(report.personalization))
    if report.multi_candidate:
        sections.append(multi_candidate_section(report.multi_candidate))
    if report.agreement:
        sections.append(agreement_report_section(report.agreement))
    if report.cost is not None:
        sections.append(cost_section(report.cost))
    if report.decoding_not_honoured:
        sections.append(decoding_report_section(report.decoding_not_honoured))
    if report.failed_samples is not None:
        sections.append(failed_samples_report_section(report.failed_samples))
    return sections


def page_context(report: Report, figures: Mapping[str, str]) -> dict[str, Any]:
    """What the report.md and report.html templates read: the heading, sections and figures."""
    return {
        "profile": text(report.profile),
        "run": text(report.run),
        "reference_system": text(report.reference_system),
        "judges": ", ".join(report.judges),
        "sections": report_sections(report),
        "figures": figures,
    }
