"""The report's "Failed samples" section, from report.json's `failed_samples`.

Lists every sample that still failed after the error policy's retries (stage, system, user,
sample id, error) and, per comparison, the records the judge skipped because a generation
failed. docs/error_policy.md says what a re-run does with them.
"""

from collections.abc import Mapping
from typing import Any

from prefbench.core.display import number, text
from prefbench.core.tables import Section, Table, cells, columns

EXPLANATION = (
    "These samples still failed after the retries of the profile's error policy "
    "(docs/error_policy.md); their stages finished within `errors.fail_on_error` "
    "({fail_on_error}). A comparison leaves out a record whose generation failed in either "
    "system. Running the same command again asks only these samples again: every other "
    "call is answered from the run's cache."
)


def failed_samples_report_section(section: Mapping[str, Any]) -> Section:
    """The failed samples and the per-comparison counts as report tables."""
    samples = [
        cells(
            text(entry.get("stage")),
            text(entry.get("system")),
            text(entry.get("user")),
            text(entry.get("sample_id")),
            text(entry.get("error")),
        )
        for entry in section.get("samples") or []
        if isinstance(entry, Mapping)
    ]
    comparisons = [
        cells(
            text(entry.get("comparison")),
            number(entry.get("skipped_failed_generation")),
            number(entry.get("judge_failed")),
        )
        for entry in section.get("by_comparison") or []
        if isinstance(entry, Mapping)
    ]
    policy = section.get("policy")
    threshold = policy.get("fail_on_error") if isinstance(policy, Mapping) else None
    tables = [
        Table(
            columns=columns("stage", "system", "user", "sample", "error", labels=5),
            rows=samples,
            title="Samples that failed",
        )
    ]
    if comparisons:
        tables.append(
            Table(
                columns=columns("comparison", "skipped (generation failed)", "judge failed"),
                rows=comparisons,
                title="By comparison",
            )
        )
    return Section(
        key="failed_samples",
        title="Failed samples",
        paragraphs=[EXPLANATION.format(fail_on_error=text(threshold))],
        tables=tables,
    )
