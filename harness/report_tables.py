"""The report's content as tables of display strings, shared by report.md, report.html and the CLI.

`result_sections` and `appendix_sections` turn a report.json object into titled sections
(paragraphs, tables, a figure name); `harness.report_markdown` and `harness.report_html` only
lay them out (with the agreement section, rendered by `human_eval`, between the two). Optional
report.json sections (`similarity`, `personalization`, `multi_candidate`, `cost`) are read
defensively: a missing key or a None value shows as "–". `leaderboard_table` and
`ratings_table` are the rich tables the CLI prints.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

MISSING = "–"

HOW_TO_READ = (
    "Win rate counts a tie as half a win; parse failures are excluded from n. The 95 % "
    "interval is clustered by user: a t interval with a cluster-robust variance below 30 "
    "users, a bootstrap over users from 30 on (Wilson for a single user); p is a two-sided exact "
    "sign test of wins against losses; position consistency is the share of pairs whose two "
    "judging orders agreed. The aggregate is the mean of the dataset win rates, as in the paper."
)


@dataclass(frozen=True)
class TextTable:
    """A table of display strings.

    The first `label_columns` columns are labels (left-aligned), the others values
    (right-aligned); `emphasis` holds the (row, column) cells to highlight.
    """

    headers: list[str]
    rows: list[list[str]]
    title: str = ""
    caption: str = ""
    emphasis: frozenset[tuple[int, int]] = frozenset()
    label_columns: int = 1


@dataclass(frozen=True)
class ReportSection:
    """One titled part of the report: paragraphs, an optional figure (by name), tables."""

    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    figure: str | None = None
    tables: list[TextTable] = field(default_factory=list)


def percent(value: Any) -> str:
    """A share as a percentage with one decimal, or "–"."""
    return MISSING if not isinstance(value, int | float) else f"{100 * value:.1f}"


def text(value: Any) -> str:
    """A value as text, "–" for None."""
    return MISSING if value is None else str(value)


def number(value: Any, digits: int = 3) -> str:
    """A count as is, a float rounded to `digits` decimals, anything else as text ("–" for None)."""
    if value is None:
        return MISSING
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def interval(low: Any, high: Any, as_percent: bool = True, digits: int = 3) -> str:
    """The interval as "[low, high]" in percent (or plain numbers); "–" when an end is missing."""
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        return MISSING
    if as_percent:
        return f"[{percent(low)}, {percent(high)}]"
    return f"[{number(float(low), digits)}, {number(float(high), digits)}]"


def p_value(value: Any) -> str:
    """A p-value with two significant digits, or "–"."""
    return MISSING if not isinstance(value, int | float) else f"{value:.2g}"


def win_cell(row: Mapping[str, Any]) -> str:
    """Table 1's cell: win % and its 95 % interval, e.g. "61.1 [52.0, 70.3]"."""
    spread = interval(row.get("ci_low"), row.get("ci_high"))
    value = percent(row.get("win_rate"))
    return value if spread == MISSING else f"{value} {spread}"


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


def win_rate_tables(report: Mapping[str, Any]) -> list[TextTable]:
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
        cells = {(row.get("system_b"), str(row.get("dataset"))): win_cell(row) for row in group}
        body = []
        for system_b in dict.fromkeys(row.get("system_b") for row in group):
            aggregate = aggregates.get((system_a, system_b, judge), {})
            body.append(
                [
                    str(system_b),
                    *(cells.get((system_b, dataset), MISSING) for dataset in datasets),
                    percent(aggregate.get("win_rate")),
                ]
            )
        tables.append(
            TextTable(
                headers=["vs system", *datasets, "Aggregate"],
                rows=body,
                title=f"{system_a} win rate vs each baseline, % [95 % interval] (judge: {judge})",
                caption="Aggregate: mean of the dataset win rates.",
            )
        )
    return tables


def leaderboard(report: Mapping[str, Any]) -> TextTable:
    """Every comparison: counts, win %, interval, p-value and position consistency.

    The dataset column appears only when the comparisons span several datasets; a single
    dataset is named in the title.
    """
    reference = report.get("reference_system")
    comparisons = _dicts(report.get("comparisons"))
    datasets = list(dict.fromkeys(text(row.get("dataset")) for row in comparisons))
    several = len(datasets) > 1
    body = []
    for row in comparisons:
        body.append(
            [
                *([text(row.get("dataset"))] if several else []),
                _opponent(row, reference),
                *(number(row.get(key)) for key in ("n", "wins", "losses", "ties")),
                number(row.get("parse_failures")),
                percent(row.get("win_rate")),
                interval(row.get("ci_low"), row.get("ci_high")),
                p_value(row.get("p_value")),
                percent(row.get("position_consistency")),
            ]
        )
    judges = sorted({str(row.get("judge")) for row in comparisons})
    scope = "" if several or not datasets else f", dataset: {datasets[0]}"
    return TextTable(
        headers=[
            *(["dataset"] if several else []),
            "vs system",
            "n",
            "win",
            "loss",
            "tie",
            "fail",
            "win %",
            "95% CI",
            "p",
            "cons %",
        ],
        rows=body,
        title=f"{reference} vs each system (judge: {', '.join(judges) or '?'}{scope})",
        caption="fail: parse failures (not in n); a tie counts half; p: exact sign test; "
        "cons: pairs judged alike in both orders",
        label_columns=2 if several else 1,
    )


def ratings(report: Mapping[str, Any]) -> TextTable:
    """Bradley–Terry ratings of every system, best first as stored."""
    body = [
        [
            text(rating.get("system")),
            number(rating.get("rating"), 0),
            interval(rating.get("ci_low"), rating.get("ci_high"), as_percent=False, digits=0),
        ]
        for rating in _dicts(report.get("ratings"))
    ]
    return TextTable(
        headers=["system", "rating", "95% CI"],
        rows=body,
        title="Bradley–Terry ratings (Elo scale; 95 % interval: bootstrap over users)",
    )


def similarity_section(section: Mapping[str, Any]) -> ReportSection:
    """BERTScore F1 (with interval) and the lexical metrics of each system's outputs."""
    body = [
        [
            text(row.get("system")),
            text(row.get("dataset")),
            number(row.get("n")),
            number(row.get("bertscore_f1")),
            interval(row.get("bertscore_f1_ci_low"), row.get("bertscore_f1_ci_high"), False),
            number(row.get("bleu"), 2),
            number(row.get("rouge_l")),
            number(row.get("tfidf_cosine")),
        ]
        for row in _dicts(section.get("rows"))
    ]
    headers = ["system", "dataset", "n", "BERTScore F1", "95% CI", "BLEU", "ROUGE-L", "TF-IDF cos"]
    return ReportSection(
        key="similarity",
        title="Similarity to the ground truth",
        paragraphs=[
            f"BERTScore encoder: {section.get('encoder') or MISSING}. BLEU, ROUGE-L and TF-IDF "
            "cosine are secondary metrics."
        ],
        tables=[TextTable(headers=headers, rows=body, label_columns=2)],
    )


def personalization_section(section: Mapping[str, Any]) -> ReportSection:
    """The K×K matrix: agent of user i (rows) on the test set of user j (columns)."""
    users = [str(user) for user in section.get("users") or []]
    matrix = [row if isinstance(row, list) else [] for row in section.get("matrix") or []]
    body = [
        [users[i] if i < len(users) else str(i), *(number(value) for value in row)]
        for i, row in enumerate(matrix)
    ]
    diagonal = frozenset((i, i + 1) for i in range(len(body)) if i < len(matrix[i]))
    summary = (
        f"{section.get('metric') or 'score'} of {section.get('system') or MISSING}: "
        f"k = {number(section.get('k'))} users; diagonal mean "
        f"{number(section.get('diagonal_mean'))}, off-diagonal mean "
        f"{number(section.get('off_diagonal_mean'))}; the user's own agent is best in "
        f"{number(section.get('diagonal_best_columns'))} of {number(section.get('k'))} test "
        f"sets (columns); one-sided permutation test of diagonal > off-diagonal, p = "
        f"{p_value(section.get('p_value'))}."
    )
    return ReportSection(
        key="personalization",
        title="Personalization: each user's agent on every user's test set",
        paragraphs=[summary],
        figure="personalization",
        tables=[
            TextTable(
                headers=["agent \\ test set", *users],
                rows=body,
                caption="Diagonal (highlighted): each agent on its own user's test set.",
                emphasis=diagonal,
            )
        ],
    )


def multi_candidate_section(section: Mapping[str, Any]) -> ReportSection:
    """First choices of a judge that ranked all systems at once."""
    systems = section.get("systems")
    names = ", ".join(str(s) for s in systems) if isinstance(systems, list) else MISSING
    body = [
        [
            text(row.get("system")),
            number(row.get("votes"), digits=1),
            percent(row.get("share")),
            interval(row.get("ci_low"), row.get("ci_high")),
        ]
        for row in _dicts(section.get("first_choice"))
    ]
    return ReportSection(
        key="multi_candidate",
        title="All systems at once: the judge's first choice",
        paragraphs=[
            f"Judge {section.get('judge') or MISSING} saw {names} together on "
            f"{number(section.get('n'))} records ({number(section.get('rotations'))} rotations "
            f"of the candidate order); parse failures: {number(section.get('parse_failures'))}; "
            f"position consistency: {percent(section.get('position_consistency'))} %."
        ],
        tables=[TextTable(headers=["system", "first choices", "share %", "95% CI"], rows=body)],
    )


def cost_section(section: Mapping[str, Any]) -> ReportSection:
    """Tokens per stage and, when prices are known, US dollars per stage and model."""
    usd_by_stage = _dict(section.get("usd_by_stage"))
    stage_headers = ["stage", "input tokens", "output tokens", "total tokens"]
    stage_rows = []
    for stage, usage in _dict(section.get("tokens_by_stage")).items():
        usage = _dict(usage)
        keys = ("input_tokens", "output_tokens", "total_tokens")
        cells = [str(stage), *(number(usage.get(key)) for key in keys)]
        if usd_by_stage:
            cells.append(number(usd_by_stage.get(stage), 4))
        stage_rows.append(cells)
    tables = [
        TextTable(
            headers=stage_headers + (["USD"] if usd_by_stage else []),
            rows=stage_rows,
            title="Tokens by stage",
        )
    ]
    by_model = _dicts(section.get("by_stage_model"))
    if by_model:
        tables.append(
            TextTable(
                headers=["stage", "model", "input tokens", "output tokens", "USD"],
                rows=[
                    [
                        text(row.get("stage")),
                        text(row.get("model")),
                        number(row.get("input_tokens")),
                        number(row.get("output_tokens")),
                        number(row.get("usd"), 4),
                    ]
                    for row in by_model
                ],
                title="By stage and model",
                label_columns=2,
            )
        )
    paragraphs = []
    if "usd_total" in section:
        total = section.get("usd_total")
        paragraphs.append(
            f"Estimated cost: {number(total, 4)} USD (prices as of "
            f"{section.get('prices_as_of') or MISSING})."
            if total is not None
            else "Estimated cost: unknown (a model has no price in the profile)."
        )
    return ReportSection(key="cost", title="Cost", paragraphs=paragraphs, tables=tables)


def result_sections(report: Mapping[str, Any]) -> list[ReportSection]:
    """The results, in reading order: win rates, leaderboard, ratings, then optional sections."""
    sections = [
        ReportSection(
            key="win_rates",
            title="Win rates",
            paragraphs=[HOW_TO_READ],
            figure="win_rates",
            tables=win_rate_tables(report),
        ),
        ReportSection(key="leaderboard", title="Leaderboard", tables=[leaderboard(report)]),
    ]
    if _dicts(report.get("ratings")):
        sections.append(
            ReportSection(
                key="ratings",
                title="Bradley–Terry ratings (all pairings)",
                figure="ratings",
                tables=[ratings(report)],
            )
        )
    optional = {
        "similarity": similarity_section,
        "personalization": personalization_section,
        "multi_candidate": multi_candidate_section,
    }
    for key, build in optional.items():
        if _dict(report.get(key)):
            sections.append(build(report[key]))
    return sections


def appendix_sections(report: Mapping[str, Any]) -> list[ReportSection]:
    """What follows the results (and the agreement section): the cost."""
    return [cost_section(report["cost"])] if _dict(report.get("cost")) else []


def rich_table(table: TextTable) -> Table:
    """A `TextTable` as a rich table (labels left-aligned, values right-aligned)."""
    rendered = Table(
        title=Text(table.title) if table.title else None,
        caption=Text(table.caption) if table.caption else None,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for index, header in enumerate(table.headers):
        justify = "left" if index < table.label_columns else "right"
        rendered.add_column(header, justify=justify, no_wrap=True)
    for r, row in enumerate(table.rows):
        rendered.add_row(
            *(
                Text(cell, style="bold" if (r, c) in table.emphasis else "")
                for c, cell in enumerate(row)
            )
        )
    return rendered


def leaderboard_table(report: Mapping[str, Any]) -> Table:
    """The rich leaderboard printed at the end of `prefbench run` and by `prefbench report`."""
    return rich_table(leaderboard(report))


def ratings_table(report: Mapping[str, Any]) -> Table:
    """Bradley–Terry ratings of every system, as a rich table."""
    return rich_table(ratings(report))
