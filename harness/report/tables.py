"""Every table of the report, built once as `core.tables` models from a report.json object.

`report_sections` gives the report in reading order (win rates, leaderboard, ratings, the
judge audit, the optional similarity, personalization and multi-candidate sections, the
human agreement, the cost); report.md, report.html and the terminal draw the same
`Section`s and `Table`s.
Optional report.json sections are read defensively: a missing key or a None value shows as "–".
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefbench.core.display import MISSING, interval, number, p_value, percent, text
from prefbench.core.tables import Cell, Section, Table, cells, columns
from prefbench.harness.report.controls import controls_report_section
from prefbench.harness.report.decoding import decoding_report_section
from prefbench.harness.report.failures import failed_samples_report_section
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


def order_blind_judges(report: Mapping[str, Any]) -> set[str]:
    """Judges whose verdicts cannot depend on the candidates' order (judge audit rows)."""
    return {
        str(audit.get("judge"))
        for audit in _dicts(report.get("judge_audit"))
        if audit.get("order_blind")
    }


def win_cell(row: Mapping[str, Any]) -> Cell:
    """Table 1's cell: win % and its 95 % interval, e.g. "61.1 [52.0, 70.3]"."""
    spread = interval_cell(row.get("ci_low"), row.get("ci_high"), row.get("ci_guaranteed"))
    value = percent(row.get("win_rate"))
    return Cell(value if spread.text == MISSING else f"{value} {spread.text}", note=spread.note)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def datasets_of(report: Mapping[str, Any]) -> list[str]:
    """The datasets of the report's comparisons, in order of first appearance."""
    rows = _dicts(report.get("comparisons"))
    return list(dict.fromkeys(str(row.get("dataset")) for row in rows))


def _opponent(row: Mapping[str, Any], reference: Any) -> str:
    """System B's name, prefixed by system A's when A is not the reference system."""
    system_a, system_b = row.get("system_a"), str(row.get("system_b"))
    return system_b if system_a == reference else f"{system_a} vs {system_b}"


def win_rate_tables(report: Mapping[str, Any]) -> list[Table]:
    """Table 1 of the paper per (system A, judge): rows = baselines; datasets, then Aggregate."""
    rows = _dicts(report.get("comparisons"))
    datasets = datasets_of(report)
    aggregates = {
        (row.get("system_a"), row.get("system_b"), row.get("judge")): row
        for row in _dicts(report.get("aggregate"))
    }
    tables = []
    for system_a, judge in dict.fromkeys((row.get("system_a"), row.get("judge")) for row in rows):
        group = [
            row for row in rows if (row.get("system_a"), row.get("judge")) == (system_a, judge)
        ]
        by_cell = {(row.get("system_b"), str(row.get("dataset"))): win_cell(row) for row in group}
        reasons = next((row.get("judge_flags") for row in group if row.get("judge_flags")), [])
        body = [
            cells(
                flagged(str(system_b), judge, reasons),
                *(by_cell.get((system_b, dataset), MISSING) for dataset in datasets),
                percent(aggregates.get((system_a, system_b, judge), {}).get("win_rate")),
            )
            for system_b in dict.fromkeys(row.get("system_b") for row in group)
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


def leaderboard(report: Mapping[str, Any]) -> Table:
    """Every comparison: counts, win %, interval, p-value and position consistency.

    The dataset column appears only when the comparisons span several datasets; a single
    dataset is named in the title.
    """
    reference = report.get("reference_system")
    comparisons = _dicts(report.get("comparisons"))
    datasets = list(dict.fromkeys(text(row.get("dataset")) for row in comparisons))
    several = len(datasets) > 1
    soft = any(row.get("soft_win_rate") is not None for row in comparisons)
    blind = order_blind_judges(report)
    body = [
        cells(
            *([text(row.get("dataset"))] if several else []),
            flagged(_opponent(row, reference), row.get("judge"), row.get("judge_flags")),
            *(number(row.get(key)) for key in ("n", "wins", "losses", "ties", "parse_failures")),
            percent(row.get("win_rate")),
            interval_cell(row.get("ci_low"), row.get("ci_high"), row.get("ci_guaranteed")),
            Cell(
                percent(row.get("lc_win_rate")) + (" ‡" if row.get("lc_separation") else ""),
                note=SEPARATION if row.get("lc_separation") else "",
            ),
            interval_cell(row.get("lc_ci_low"), row.get("lc_ci_high"), row.get("ci_guaranteed")),
            *(
                (
                    percent(row.get("soft_win_rate")),
                    interval_cell(
                        row.get("soft_ci_low"),
                        row.get("soft_ci_high"),
                        row.get("soft_ci_guaranteed"),
                    ),
                )
                if soft
                else ()
            ),
            p_value(row.get("p_value")),
            "n/a" if str(row.get("judge")) in blind else percent(row.get("position_consistency")),
        )
        for row in comparisons
    ]
    judges = sorted({str(row.get("judge")) for row in comparisons})
    scope = "" if several or not datasets else f", dataset: {datasets[0]}"
    headers = ["vs system", "n", "win", "loss", "tie", "fail", "win %", "95% CI"]
    headers += ["LC win %", "LC 95% CI"]
    headers += ["soft win %", "soft 95% CI"] if soft else []
    headers += ["p", "cons %"]
    return Table(
        columns=columns(*(["dataset"] if several else []), *headers, labels=2 if several else 1),
        rows=body,
        title=f"{reference} vs each system (judge: {', '.join(judges) or '?'}{scope})",
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


def _rating_interval(rating: Mapping[str, Any], reference: Any) -> Cell:
    if rating.get("separated"):
        return Cell("unbounded ‡", note=RATING_SEPARATED)
    if rating.get("system") == reference and rating.get("ci_low") is None:
        return Cell("pinned")
    return interval_cell(
        rating.get("ci_low"),
        rating.get("ci_high"),
        rating.get("ci_guaranteed"),
        as_percent=False,
        digits=0,
    )


def _rating_label(rating: Mapping[str, Any]) -> Cell:
    flags = rating.get("judge_flags") or []
    system = text(rating.get("system"))
    if not flags:
        return Cell(system)
    return Cell(
        f"{system} ⚠", note="from a judge that failed the quality gate: " + "; ".join(flags)
    )


def ratings(report: Mapping[str, Any]) -> Table:
    """Bradley–Terry ratings of every system, best first as stored."""
    reference = report.get("reference_system")
    body = [
        cells(
            _rating_label(rating),
            number(rating.get("rating"), 0),
            _rating_interval(rating, reference),
        )
        for rating in _dicts(report.get("ratings"))
    ]
    return Table(
        columns=columns("system", "rating", "95% CI"),
        rows=body,
        title="Bradley–Terry ratings (Elo scale; 95 % interval clustered by user)",
        caption=f"{reference or MISSING} is pinned at 1000 when it played, and a nearly flat "
        "prior (sd 10 logits) on each system's difference from it only keeps a system that won "
        "or lost every battle finite (‡): a system that only tied the reference rates 1000.",
    )


def terminal_tables(report: Mapping[str, Any]) -> list[Table]:
    """What a run prints at its end: win rates per dataset (when several), leaderboard, ratings."""
    tables = win_rate_tables(report) if len(datasets_of(report)) > 1 else []
    tables.append(leaderboard(report))
    if _dicts(report.get("ratings")):
        tables.append(ratings(report))
    return tables


def _rate_cells(rate: Mapping[str, Any]) -> list[Cell]:
    """A judge-audit share: %, its 95 % interval and its n."""
    return cells(
        percent(rate.get("rate")),
        interval_cell(rate.get("ci_low"), rate.get("ci_high"), rate.get("ci_guaranteed")),
        number(rate.get("n")),
    )


SLOPE_SEPARATION = (
    "separation: the length difference predicts every decided order, so a plain logistic fit "
    "has no finite slope; the prior (sd 2.5) sets this value"
)


def _fallback_cells(sources: Mapping[str, Any]) -> list[Cell]:
    counts = ", ".join(f"{name} {count}" for name, count in _dict(sources.get("counts")).items())
    return cells(
        percent(sources.get("fallback_rate")),
        Cell(counts or MISSING),
        number(sources.get("n")),
    )


def judge_audit_table(audit: Mapping[str, Any]) -> Table:
    """One judge's position and length bias and verdict sources: each with its interval and n.

    A judge that ignores the order (`order_blind`) has no position rows: its first-slot rate
    and consistency hold by construction.
    """
    slope = _dict(audit.get("length_coefficient"))
    position = (
        []
        if audit.get("order_blind")
        else [
            cells(
                "candidate 1 wins (50 = no position bias)",
                *_rate_cells(_dict(audit.get("first_slot_win_rate"))),
            ),
            cells("both orders agree", *_rate_cells(_dict(audit.get("position_consistency")))),
        ]
    )
    sources = _dict(audit.get("verdict_sources"))
    rows = [
        *position,
        cells("longer candidate wins", *_rate_cells(_dict(audit.get("longer_win_rate")))),
        cells(
            Cell(
                "length slope (logit per unit tanh(Δ/sd); 0 = none)"
                + (" ‡" if slope.get("separation") else ""),
                note=SLOPE_SEPARATION if slope.get("separation") else "",
            ),
            number(slope.get("coefficient")),
            interval(slope.get("ci_low"), slope.get("ci_high"), as_percent=False),
            number(slope.get("n")),
        ),
        *(
            [cells("verdicts from a fallback", *_fallback_cells(sources))]
            if sources.get("n")
            else []
        ),
    ]
    return Table(
        columns=columns("measure", "value", "95% CI", "n"),
        rows=rows,
        title=f"Judge audit: {text(audit.get('judge'))}",
        caption="n: single-order verdicts (pairs for agreement); the slope has one intercept "
        "per comparison, so a better system that is also longer is not length bias; the "
        "fallback row's CI column counts the parsed verdicts by source",
    )


def gate_paragraph(audit: Mapping[str, Any]) -> str:
    """The judge's quality gate: passed, or failed with every reason."""
    judge = text(audit.get("judge"))
    gate = _dict(audit.get("quality_gate"))
    blind = (
        " It ignores the order of the candidates, so its first-slot rate (50 %) and position "
        "consistency (100 %) hold by construction and are not tested."
        if audit.get("order_blind")
        else ""
    )
    if not gate.get("flagged"):
        return f"Quality gate ({judge}): passed.{blind}"
    return (
        f"Quality gate ({judge}): FAILED ⚠ — "
        + "; ".join(str(reason) for reason in gate.get("reasons") or [])
        + ". Every win rate, rating and table from this judge is marked ⚠: its numbers "
        f"measure these artifacts as much as the systems.{blind}"
    )


def self_preference_paragraph(audit: Mapping[str, Any]) -> str:
    """Which systems share the judge's model, and their win rate under it (flagged > 50 %)."""
    judge = text(audit.get("judge"))
    models = ", ".join(str(m) for m in audit.get("judge_models") or [])
    rows = _dicts(audit.get("self_preference"))
    if not models:
        return f"Self-preference ({judge}): none possible, the judge calls no model."
    if not rows:
        return f"Self-preference ({judge}): the judge's models ({models}) are no system's model."
    parts = []
    for row in rows:
        low = row.get("ci_low")
        flagged = isinstance(low, int | float) and low > 0.5
        parts.append(
            f"{text(row.get('system'))} {percent(row.get('win_rate'))} % "
            f"{interval(row.get('ci_low'), row.get('ci_high'))} over {number(row.get('n'))} pairs"
            + (" — FLAGGED: above 50 % beyond its interval" if flagged else "")
        )
    return (
        f"Self-preference ({judge}): the judge's models ({models}) also write for "
        + "; ".join(parts)
        + " (that system's win rate under this judge, from its side)."
    )


def judge_audit_section(audits: list[dict[str, Any]]) -> Section:
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


def similarity_section(section: Mapping[str, Any]) -> Section:
    """BERTScore F1 (with interval) and the lexical metrics of each system's outputs."""
    body = [
        cells(
            text(row.get("system")),
            text(row.get("dataset")),
            number(row.get("n")),
            number(row.get("bertscore_f1")),
            interval_cell(
                row.get("bertscore_f1_ci_low"),
                row.get("bertscore_f1_ci_high"),
                row.get("ci_guaranteed"),
                as_percent=False,
            ),
            number(row.get("bleu"), 2),
            number(row.get("rouge_l")),
            number(row.get("tfidf_cosine")),
        )
        for row in _dicts(section.get("rows"))
    ]
    headers = ["system", "dataset", "n", "BERTScore F1", "95% CI", "BLEU", "ROUGE-L", "TF-IDF cos"]
    return Section(
        key="similarity",
        title="Similarity to the ground truth",
        paragraphs=[
            f"BERTScore encoder: {section.get('encoder') or MISSING}. BLEU, ROUGE-L and TF-IDF "
            "cosine are secondary metrics."
        ],
        tables=[Table(columns=columns(*headers, labels=2), rows=body)],
    )


def _smallest_p(smallest: Any) -> str:
    """What the permutation test can reach: its smallest p, and whether it can be significant."""
    if not isinstance(smallest, int | float):
        return ""
    verdict = (
        "; with so few users this test can never be significant at 0.05" if smallest > 0.05 else ""
    )
    return f" (smallest possible p = {p_value(smallest)}{verdict})"


def personalization_section(section: Mapping[str, Any]) -> Section:
    """The K×K matrix: agent of user i (rows) on the test set of user j (columns)."""
    users = [str(user) for user in section.get("users") or []]
    matrix = [row if isinstance(row, list) else [] for row in section.get("matrix") or []]
    body = [
        cells(
            users[i] if i < len(users) else str(i),
            *(Cell(number(value), emphasis=i == j) for j, value in enumerate(row)),
        )
        for i, row in enumerate(matrix)
    ]
    summary = (
        f"{section.get('metric') or 'score'} of {section.get('system') or MISSING}: "
        f"k = {number(section.get('k'))} users; diagonal mean "
        f"{number(section.get('diagonal_mean'))}, off-diagonal mean "
        f"{number(section.get('off_diagonal_mean'))}; the user's own agent is best in "
        f"{number(section.get('diagonal_best_columns'))} of {number(section.get('k'))} test "
        f"sets (columns); one-sided permutation test of diagonal > off-diagonal, p = "
        f"{p_value(section.get('p_value'))}{_smallest_p(section.get('min_p_value'))}."
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


def multi_candidate_section(section: Mapping[str, Any]) -> Section:
    """First choices of a judge that ranked all systems at once."""
    systems = section.get("systems")
    names = ", ".join(str(s) for s in systems) if isinstance(systems, list) else MISSING
    body = [
        cells(
            text(row.get("system")),
            number(row.get("votes"), digits=1),
            percent(row.get("share")),
            interval_cell(row.get("ci_low"), row.get("ci_high"), row.get("ci_guaranteed")),
        )
        for row in _dicts(section.get("first_choice"))
    ]
    return Section(
        key="multi_candidate",
        title="All systems at once: the judge's first choice",
        paragraphs=[
            f"Judge {section.get('judge') or MISSING} saw {names} together on "
            f"{number(section.get('n'))} records ({number(section.get('rotations'))} rotations "
            f"of the candidate order); parse failures: {number(section.get('parse_failures'))}; "
            f"position consistency: {percent(section.get('position_consistency'))} %."
        ],
        tables=[Table(columns=columns("system", "first choices", "share %", "95% CI"), rows=body)],
    )


def cost_section(section: Mapping[str, Any]) -> Section:
    """Tokens per stage and, when prices are known, US dollars per stage and model."""
    usd_by_stage = _dict(section.get("usd_by_stage"))
    keys = ("input_tokens", "output_tokens", "total_tokens")
    stage_rows = [
        cells(
            str(stage),
            *(number(_dict(usage).get(key)) for key in keys),
            *([number(usd_by_stage.get(stage), 4)] if usd_by_stage else []),
        )
        for stage, usage in _dict(section.get("tokens_by_stage")).items()
    ]
    stage_headers = ["stage", "input tokens", "output tokens", "total tokens"]
    tables = [
        Table(
            columns=columns(*stage_headers, *(["USD"] if usd_by_stage else [])),
            rows=stage_rows,
            title="Tokens by stage",
        )
    ]
    by_model = _dicts(section.get("by_stage_model"))
    if by_model:
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
                ),
                rows=[
                    cells(
                        text(row.get("stage")),
                        text(row.get("model")),
                        number(row.get("input_tokens")),
                        number(row.get("output_tokens")),
                        number(row.get("cached_calls", 0)),
                        number(row.get("usd"), 4),
                    )
                    for row in by_model
                ],
                title="By stage and model (cached calls: answered from the cache on resuming, "
                "counted with the tokens they cost when first made)",
            )
        )
    comparison = _dict(section.get("forecast_vs_spend"))
    if _dicts(comparison.get("rows")):
        tables.append(
            Table(
                columns=columns(
                    "stage", "forecast USD", "with retries ≤", "spent USD", "spent/forecast"
                ),
                rows=[
                    cells(
                        text(row.get("stage")),
                        number(row.get("forecast_usd"), 4),
                        number(row.get("forecast_usd_max"), 4),
                        number(row.get("spent_usd"), 4),
                        number(row.get("ratio"), 2),
                    )
                    for row in _dicts(comparison.get("rows"))
                ],
                title="Forecast (dry run) against spend",
            )
        )
    hours = _dicts(section.get("device_hours"))
    if hours:
        tables.append(
            Table(
                columns=columns("stage", "wall s", "CPU s", "GPUs", "GPU-hours"),
                rows=[
                    cells(
                        text(row.get("stage")),
                        number(row.get("wall_seconds"), 1),
                        number(row.get("cpu_seconds"), 1),
                        number(row.get("gpus")),
                        number(row.get("gpu_hours"), 3),
                    )
                    for row in hours
                ],
                title="Time and GPU-hours by pipeline stage",
            )
        )
    paragraphs = []
    if comparison.get("ratio") is not None:
        paragraphs.append(
            f"Spent {number(comparison.get('spent_usd'), 4)} USD against a forecast of "
            f"{number(comparison.get('forecast_usd'), 4)} USD (ratio "
            f"{number(comparison.get('ratio'), 2)}; the forecast aims at ±20 %)."
        )
    if "usd_total" in section:
        total = section.get("usd_total")
        paragraphs.append(
            f"Estimated cost: {number(total, 4)} USD (prices as of "
            f"{section.get('prices_as_of') or MISSING})."
            if total is not None
            else "Estimated cost: unknown (a model has no price in the profile)."
        )
    return Section(key="cost", title="Cost", paragraphs=paragraphs, tables=tables)


def report_sections(report: Mapping[str, Any]) -> list[Section]:
    """The whole report in reading order; optional sections only when report.json has them."""
    sections = [
        Section(
            key="win_rates",
            title="Win rates",
            paragraphs=[HOW_TO_READ],
            figure="win_rates",
            tables=win_rate_tables(report),
        ),
        Section(key="leaderboard", title="Leaderboard", tables=[leaderboard(report)]),
    ]
    if _dicts(report.get("ratings")):
        sections.append(
            Section(
                key="ratings",
                title="Bradley–Terry ratings (all pairings)",
                figure="ratings",
                tables=[ratings(report)],
            )
        )
    audits = _dicts(report.get("judge_audit"))
    if audits:
        sections.append(judge_audit_section(audits))
    optional = {
        "controls": controls_report_section,
        "similarity": similarity_section,
        "personalization": personalization_section,
        "multi_candidate": multi_candidate_section,
        "agreement": agreement_report_section,
        "cost": cost_section,
        "decoding_not_honoured": decoding_report_section,
        "failed_samples": failed_samples_report_section,
    }
    for key, build in optional.items():
        if _dict(report.get(key)):
            sections.append(build(report[key]))
    return sections


def page_context(report: Mapping[str, Any], figures: Mapping[str, str]) -> dict[str, Any]:
    """What the report.md and report.html templates read: the heading, sections and figures."""
    return {
        "profile": text(report.get("profile")),
        "run": text(report.get("run")),
        "reference_system": text(report.get("reference_system")),
        "sections": report_sections(report),
        "figures": figures,
    }
