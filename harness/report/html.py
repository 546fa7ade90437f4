"""report.html: the report's sections (`report.tables`) as one self-contained page.

The page is `templates/report.html.j2` rendered by Jinja2 with autoescaping on, so any text
from report.json is escaped. Figures are embedded as base64 PNG `data:` URIs: the file
needs nothing beside it and loads nothing from the network.
"""

import base64
from collections.abc import Mapping
from pathlib import Path

from prefbench.core.tables import render_html
from prefbench.harness.report.schema import Report
from prefbench.harness.report.tables import TEMPLATES, page_context


def data_uri(png: Path) -> str:
    """A PNG file as a `data:image/png;base64,...` URI."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def report_html(report: Report, figures: Mapping[str, Path] | None = None) -> str:
    """report.html of a report; `figures` maps figure names to PNG files."""
    uris = {name: data_uri(path) for name, path in (figures or {}).items()}
    return render_html("report.html.j2", TEMPLATES, **page_context(report, uris))
