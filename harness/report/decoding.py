"""The report's "Decoding not honoured" section, from report.json's `decoding_not_honoured`.

prefbench asks every model for greedy decoding (temperature 0) and the profile's seed; some
providers cannot honour it (`prefbench.harness.serving.models.UNHONOURED_DECODING`: inspect's
`anthropic/` sends no temperature). Their roles' answers are sampled, so a re-run may differ:
the section names the roles, what was not sent and why.
"""

from collections.abc import Mapping

from prefbench.core.display import text
from prefbench.core.tables import Section, Table, cells, columns
from prefbench.harness.report.schema import UnhonouredDecoding

EXPLANATION = (
    "Every call asks for greedy decoding (temperature 0) and the profile's seed, except where "
    "a provider cannot honour it: these roles' settings were not sent, so their answers are "
    "sampled and a fresh run may answer differently (a re-run of this folder reads its cache)."
)


def decoding_report_section(section: Mapping[str, UnhonouredDecoding]) -> Section:
    """The roles whose provider did not honour the stated decoding, as one table."""
    rows = [
        cells(text(role), text(entry.model), text(", ".join(entry.settings)), text(entry.reason))
        for role, entry in section.items()
    ]
    table = Table(
        columns=columns("role", "model", "not sent", "why", labels=4),
        rows=rows,
        title="Decoding not honoured",
    )
    return Section(
        key="decoding_not_honoured",
        title="Decoding not honoured",
        paragraphs=[EXPLANATION],
        tables=[table],
    )
