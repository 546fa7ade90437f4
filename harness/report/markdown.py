"""report.md: the report's sections (`prefbench.harness.report.tables`) through `report.md.j2`.

Figures are linked by their path relative to the run folder (`figures/win_rates.png`). Every
text taken from report.json is escaped by `prefbench.core.tables.escape_markdown`, so a name with
`|` or `<` cannot break a table or inject HTML into a Markdown viewer.
"""

from collections.abc import Mapping

from prefbench.core.tables import render_markdown
from prefbench.harness.report.schema import Report
from prefbench.harness.report.tables import TEMPLATES, page_context


def report_markdown(report: Report, figures: Mapping[str, str] | None = None) -> str:
    """report.md of a report; `figures` maps figure names to relative paths."""
    return render_markdown("report.md.j2", TEMPLATES, **page_context(report, figures or {}))
