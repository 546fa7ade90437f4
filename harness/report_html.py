"""report.html: the report's sections (`harness.report_tables`) as one self-contained page.

The page is `report_templates/report.html.j2` rendered by Jinja2 with autoescaping on, so any text
from report.json is escaped. Figures are embedded as base64 PNG `data:` URIs: the file
needs nothing beside it and loads nothing from the network.
"""

import base64
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from harness.report_tables import appendix_sections, result_sections

TEMPLATES = Path(__file__).parent / "report_templates"


@cache
def report_template() -> Template:
    """The page template (autoescaping on; an undefined name is an error)."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined
    )
    return environment.get_template("report.html.j2")


def data_uri(png: Path) -> str:
    """A PNG file as a `data:image/png;base64,...` URI."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def agreement_html(section: Mapping[str, Any]) -> Markup | None:
    """The human–judge agreement section, rendered by `human_eval.agreement_render`."""
    if not section:
        return None
    from human_eval.agreement_render import agreement_html as render

    return Markup(render(section))


def report_html(report: Mapping[str, Any], figures: Mapping[str, Path] | None = None) -> str:
    """report.html of a report.json object; `figures` maps figure names to PNG files."""
    return report_template().render(
        report=report,
        results=result_sections(report),
        agreement=agreement_html(report.get("agreement") or {}),
        appendix=appendix_sections(report),
        figures={name: data_uri(path) for name, path in (figures or {}).items()},
    )
