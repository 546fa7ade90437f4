"""report.json `controls` and its report section: do the controls come out in order.

`controls_section(rows)` groups the control checks of the comparison rows
(`prefbench.scorers.stats.controls.control_checks`) by judge, with the answer to "can this judge
detect personalization at this sample size?"; `controls_report_section` draws it for report.md,
report.html and the terminal. A run without control systems gets an empty section, which the report
leaves out.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prefbench.core.display import MISSING, interval, number, percent, text
from prefbench.core.tables import Section, Table, cells, columns
from prefbench.scorers.stats.controls import (
    ControlCheck,
    control_checks,
    detects_personalization,
)

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
    rows: Iterable[Mapping[str, Any]], checks: Sequence[ControlCheck]
) -> dict[str, Any]:
    """report.json `controls`: per judge, its checks and whether it detects personalization.

    `checks` are the control checks of the run's systems
    (`prefbench.solvers.registry.control_checks_of`).
    """
    by_judge: dict[str, list] = {}
    for outcome in control_checks(rows, checks):
        by_judge.setdefault(outcome.judge, []).append(outcome)
    return {
        judge: {
            "detects_personalization": detects_personalization(outcomes),
            "answer": ANSWERS[detects_personalization(outcomes)],
            "checks": [outcome.to_dict() for outcome in outcomes],
        }
        for judge, outcomes in by_judge.items()
    }


def _needed(check: Mapping[str, Any]) -> str:
    required = check.get("required")
    if not isinstance(required, dict):
        return MISSING
    return (
        f"{required.get('pairs')} pairs: {required.get('pairs_per_user')}/user "
        f"or {required.get('users')} users"
    )


def _identical(check: Mapping[str, Any]) -> str:
    compared = check.get("compared_outputs")
    if not compared:
        return MISSING
    return f"{check.get('identical_outputs')} of {compared}"


def controls_report_section(section: Mapping[str, Any]) -> Section:
    """The controls section of report.md/html: one table per judge, then each failure's cause."""
    tables = []
    diagnoses = []
    for judge, result in section.items():
        diagnoses += [
            f"{judge}: {check.get('better')} vs {check.get('worse')} "
            f"({text(check.get('dataset'))}): {check.get('diagnosis')}."
            for check in result.get("checks", [])
            if check.get("diagnosis")
        ]
        body = [
            cells(
                f"{check.get('better')} beats {check.get('worse')}",
                text(check.get("dataset")),
                number(check.get("n")),
                percent(check.get("win_rate")),
                interval(check.get("ci_low"), check.get("ci_high")),
                "yes" if check.get("expected_order") else "no",
                _identical(check),
                _needed(check),
            )
            for check in result.get("checks", [])
        ]
        tables.append(
            Table(
                columns=columns(
                    "expected order",
                    "dataset",
                    "n",
                    "win %",
                    "95% CI",
                    "holds",
                    "identical",
                    "needed",
                ),
                rows=body,
                title=f"Controls (judge: {judge}): the judge can detect personalization at "
                f"this sample size: {result.get('answer')}",
                caption="needed: scored pairs for the interval to exclude 50 % at the observed "
                "effect (80 % power); – when the check holds or the effect is zero or reversed",
            )
        )
    return Section(
        key="controls", title="Controls", paragraphs=[HOW_TO_READ, *diagnoses], tables=tables
    )
