"""The report's "Failed samples" section, from report.json's `failed_samples`.

Lists every sample that still failed after the error policy's retries (stage, system, user,
sample id, error) and, per comparison, the records the judge skipped because a generation
failed. docs/error_policy.md says what a re-run does with them.
"""

from prefbench.core.display import number, text
from prefbench.core.tables import Section, Table, cells, columns
from prefbench.harness.report.schema import FailedSamplesSection

EXPLANATION = (
    "These samples still failed after the retries of the profile's error policy "
    "(docs/error_policy.md); their stages finished within `errors.fail_on_error` "
    "({fail_on_error}). A comparison leaves out a record whose generation failed in either "
    "system. Running the same command again asks only these samples again: every other "
    "call is answered from the run's cache."
)


def failed_samples_report_section(section: FailedSamplesSection) -> Section:
    """The failed samples and the per-comparison counts as report tables."""
    samples = [
        cells(
            text(entry.stage),
            text(entry.system),
            text(entry.user),
            text(entry.sample_id),
            text(entry.error),
        )
        for entry in section.samples
    ]
    comparisons = [
        cells(
            text(entry.comparison + (f" ({entry.judge})" if entry.judge else "")),
            number(entry.skipped_failed_generation),
            number(entry.judge_failed),
        )
        for entry in section.by_comparison
    ]
    threshold = section.policy.fail_on_error
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
