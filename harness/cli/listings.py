"""`prefbench systems|judges|corpora`: what is registered, prefbench's own and plug-ins'.

Each listing is a table model (`prefbench.core.tables`) built from a registry, so a notebook
can call `systems_table()` and the rest; the commands print them with rich. Listing loads
every plug-in (`prefbench.core.plugins`); one that does not import is a warning naming it.
"""

import inspect as pyinspect
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from prefbench.core.plugins import distribution_of
from prefbench.core.tables import Column, Table, cells, rich_table
from prefbench.core.text_kinds import PURPOSES, text_kinds
from prefbench.scorers.registry import all_judges
from prefbench.solvers.registry import all_systems
from prefbench.tasks.corpora.registry import corpora

__all__ = [
    "corpora_table",
    "judges_table",
    "list_corpora",
    "list_judges",
    "list_systems",
    "systems_table",
    "text_kinds_table",
]

console = Console()


def _wrapping(*headers: str) -> list[Column]:
    return [Column(header, "left", wrap=True) for header in headers]


def _package(function: Any) -> str:
    return distribution_of(getattr(function, "__module__", "") or "")


def _defaults(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values.items()) or "none"


def _settings(model: type[BaseModel]) -> dict[str, Any]:
    return {name: field.default for name, field in model.model_fields.items()}


def systems_table() -> Table:
    """Every registered system: package, roles, solver options, build step, control pair."""
    rows = []
    for system in all_systems():
        roles = ", ".join(system.roles)
        if system.optional_roles:
            roles += f" (optional: {', '.join(system.optional_roles)})"
        build = "none" if system.build is None else "adapters" if system.uses_adapter else "yes"
        if system.adapter_system != system.name:
            build += f" (of {system.adapter_system})"
        control = system.control_check()
        rows.append(
            cells(
                system.name,
                _package(system.solver_factory),
                roles,
                _defaults(system.options()),
                build,
                f"{control.name}: {control.better} beats {control.worse}" if control else "",
            )
        )
    headers = ("system", "package", "roles", "options", "build", "control")
    return Table(title="systems", columns=_wrapping(*headers), rows=rows)


def judges_table() -> Table:
    """Every registered judge: package, roles, settings with defaults, forms."""
    rows = [
        cells(
            definition.name,
            _package(definition.pairwise),
            ", ".join(definition.roles) or "none (calls no model)",
            _defaults(_settings(definition.settings)),
            "pairwise" + (", multi-candidate" if definition.multi_candidate else ""),
            pyinspect.getdoc(definition.pairwise).splitlines()[0]
            if pyinspect.getdoc(definition.pairwise)
            else "",
        )
        for definition in all_judges()
    ]
    headers = ("judge", "package", "roles", "settings", "forms", "what it does")
    return Table(title="judges", columns=_wrapping(*headers), rows=rows)


def corpora_table() -> Table:
    """Every registered corpus: package, text kind, split rule, what --source takes, options."""
    rows = [
        cells(
            f"{entry.name}\n{entry.description}",
            _package(entry.read_texts or entry.generate_records),
            entry.text_kind,
            entry.split.describe(),
            entry.source_help or "none (generated)",
            "; ".join(f"{name}: {text}" for name, text in entry.option_help().items()) or "none",
        )
        for entry in corpora()
    ]
    headers = ("corpus", "package", "text kind", "split", "--source", "options")
    return Table(title="corpora", columns=_wrapping(*headers), rows=rows)


def text_kinds_table() -> Table:
    """Every registered text kind: its prompt folder and any prompts beyond prefbench's."""
    rows = []
    for kind in text_kinds():
        extra = sorted(path.stem for path in kind.folder.glob("*.txt") if path.stem not in PURPOSES)
        rows.append(
            cells(kind.name, kind.description, str(kind.folder), ", ".join(extra) or "none")
        )
    headers = ("text kind", "texts", "prompt folder", "extra prompts")
    return Table(
        title="text kinds",
        columns=_wrapping(*headers),
        rows=rows,
        caption=f"every folder holds {', '.join(f'{p}.txt' for p in PURPOSES)}",
    )


def list_systems() -> None:
    """The registered generation systems, prefbench's and plug-ins'."""
    console.print(rich_table(systems_table()))


def list_judges() -> None:
    """The registered judges, prefbench's and plug-ins'."""
    console.print(rich_table(judges_table()))


def list_corpora() -> None:
    """The registered corpora and text kinds, prefbench's and plug-ins'."""
    console.print(rich_table(corpora_table()))
    console.print(rich_table(text_kinds_table()))
