"""report.json `controls` and its report section: do the controls come out in order.

`controls_section(rows)` groups the control checks of the comparison rows
(`prefbench.scorers.stats.controls.control_checks`) by judge, with the answer to "can this judge
detect personalization at this sample size?"; `controls_report_section` draws it for report.md,
report.html and the terminal. A run without control systems gets an empty section, which the report
leaves out.
"""

from collections.abc import Mapping, Sequence

from prefbench.core.display import MISSING, interval, number, percent, text
from prefbench.core.tables import Section, Table, cells, columns
from prefbench.harness.report.schema import ComparisonRow, ControlCheck, JudgeControls
from prefbench.scorers.stats.controls import ControlCheck as ControlCheckSpec
from prefbench.scorers.stats.controls import control_checks, detects_personalization

ANSWERS = {True: "yes", False: "no", None: "not measured (a control system is missing)"}

HOW_TO_READ = (
    "Controls bracket the method: positive_control writes with the truth's rules (the persona "
    "definition on the demo, rules from the held-out emails otherwise) and must beat "
    "large_zero_shot; negative_control is the preference agent of another user and must lose "
    "to the user's own agent (preference_agent). A judge detects personalization at this "
    "sample size when both win rates have a 95 % interval above 50 %. When one does not, "
    "'needed' is the sample the observed effect would need for that (80 % power; Cohen's h "
    "with a design effect for clustering by user, docs/controls_and_verdicts.md). 'identical' "
    "counts the pairs whose two systems wrote the same text: when most are, a failed check "
    "says the systems do not differ, not that the judge cannot see a difference."
)


def controls_section(
    rows: Sequence[ComparisonRow], checks: Sequence[ControlCheckSpec]
) -> dict[str, JudgeControls]:
    """report.json `controls`: per judge, its checks and whether it detects personalization.

    `checks` are the control checks of the run's systems
    (`prefbench.solvers.registry.control_checks_of`).
    """
    by_judge: dict[str, list] = {}
    for outcome in control_checks([row.model_dump() for row in rows], checks):
        by_judge.setdefault(outcome.judge, []).append(outcome)
    return {
        judge: JudgeControls(
            detects_personalization=detects_personalization(outcomes),
            answer=ANSWERS[detects_personalization(outcomes)],
            checks=[ControlCheck.model_validate(outcome.to_dict()) for outcome in outcomes],
        )
        for judge, outcomes in by_judge.items()
    }


def _needed(check: ControlCheck) -> str:
    required = check.required
    if required is None:
        return MISSING
    return f"{required.pairs} pairs: {required.pairs_per_user}/user or {required.users} users"


def _identical(check: ControlCheck) -> str:
    if not check.compared_outputs:
        return MISSING
    return f"{check.identical_outputs} of {check.compared_outputs}"


def controls_table(judge: str, result: JudgeControls) -> Table:
    """One judge's control checks as a table, titled with its answer."""
    body = [
        cells(
            f"{check.better} beats {check.worse}",
            text(check.dataset),
            number(check.n),
            percent(check.win_rate),
            interval(check.ci_low, check.ci_high),
            "yes" if check.expected_order else "no",
            _identical(check),
            _needed(check),
        )
        for check in result.checks
    ]
    return Table(
        columns=columns(
            "expected order", "dataset", "n", "win %", "95% CI", "holds", "identical", "needed"
        ),
        rows=body,
        title=f"Controls (judge: {judge}): the judge can detect personalization at this sample "
        f"size: {result.answer}",
        caption="needed: scored pairs for the interval to exclude 50 % at the observed "
        "effect (80 % power); – when the check holds or the effect is zero or reversed",
    )


def diagnoses(judge: str, result: JudgeControls) -> list[str]:
    """Why each of a judge's failed checks failed, one line each."""
    return [
        f"{judge}: {check.better} vs {check.worse} ({text(check.dataset)}): {check.diagnosis}."
        for check in result.checks
        if check.diagnosis
    ]


def controls_report_section(section: Mapping[str, JudgeControls]) -> Section:
    """The controls section of report.md/html: one table per judge, then each failure's cause."""
    return Section(
        key="controls",
        title="Controls",
        paragraphs=[
            HOW_TO_READ,
            *(line for judge, result in section.items() for line in diagnoses(judge, result)),
        ],
        tables=[controls_table(judge, result) for judge, result in section.items()],
    )
