"""Plug-ins: the modules installed packages name under prefbench's own entry-point group.

A third-party system, judge or corpus lives in a package whose ``pyproject.toml`` declares

    [project.entry-points.prefbench]
    my_plugin = "my_package.my_module"

Importing the named module runs its decorators (`@generation_system`, `@judge`, `@corpus`,
`register_text_kind`). The registries load plug-ins lazily: only when they are asked for a
name they do not know, or for a listing, so a run whose profile names only prefbench's own
systems imports no plug-in. A plug-in that fails to import is a `PluginWarning` naming it
and its package, never an error by itself: the registry's "unknown name" error then names the
broken plug-ins (`broken_plugins_note`), because one of them may be what a profile asks for.

prefbench's own systems, judges and corpora register because their packages import every
module in them (`prefbench.solvers`, `prefbench.scorers`, `prefbench.tasks.corpora`); the
``inspect_ai`` entry point (`prefbench.harness._registry`) registers only prefbench's model
providers with inspect.
"""

import warnings
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points, packages_distributions

__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenPlugin",
    "PluginWarning",
    "broken_plugins",
    "broken_plugins_note",
    "distribution_of",
    "load_plugins",
]

ENTRY_POINT_GROUP = "prefbench"


class PluginWarning(UserWarning):
    """An installed prefbench plug-in could not be imported."""


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point whose module failed to import, and why."""

    name: str
    module: str
    distribution: str
    error: str

    def describe(self) -> str:
        """E.g. ``the plug-in 'x' = 'pkg.mod' of my-package (ImportError: ...)``."""
        return f"the plug-in {self.name!r} = {self.module!r} of {self.distribution} ({self.error})"


_loaded: set[str] = set()
_broken: dict[str, BrokenPlugin] = {}


def _distribution(entry_point: EntryPoint) -> str:
    return entry_point.dist.name if entry_point.dist is not None else "an installed package"


def load_plugins() -> None:
    """Import every module named under the `prefbench` entry points, each once.

    The installed entry points are listed again on every call (a package installed since the
    last call is found); a module already imported is not imported again, and a module that
    failed is tried again (it may have been fixed). A module that fails to import is a
    `PluginWarning` naming the entry point, its module and its package; it is remembered in
    `broken_plugins()` until it imports.
    """
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.value in _loaded:
            continue
        try:
            entry_point.load()
        except Exception as error:
            broken = BrokenPlugin(
                name=entry_point.name,
                module=entry_point.value,
                distribution=_distribution(entry_point),
                error=f"{type(error).__name__}: {error}",
            )
            if _broken.get(entry_point.value) != broken:
                warnings.warn(
                    f"{broken.describe()} does not import; what it registers is missing. Fix "
                    "or uninstall that package.",
                    PluginWarning,
                    stacklevel=2,
                )
            _broken[entry_point.value] = broken
            continue
        _broken.pop(entry_point.value, None)
        _loaded.add(entry_point.value)


def broken_plugins() -> list[BrokenPlugin]:
    """The plug-ins whose module failed to import at the last `load_plugins`, by module."""
    return [_broken[module] for module in sorted(_broken)]


def broken_plugins_note() -> str:
    """A sentence for an "unknown name" error naming the broken plug-ins; "" when none.

    A broken plug-in may be the one that would have registered the name a profile asks for,
    so the error that refuses the name names them and the fix.
    """
    broken = broken_plugins()
    if not broken:
        return ""
    listed = "; ".join(plugin.describe() for plugin in broken)
    return (
        f" It may come from a plug-in that does not import: {listed}; fix or reinstall that "
        "package."
    )


@cache
def _distributions() -> dict[str, list[str]]:
    return packages_distributions()


def distribution_of(module: str) -> str:
    """The installed distribution a module comes from (e.g. ``prefbench-retrieval``).

    The module's top-level package when no installed distribution provides it.
    """
    top = module.split(".", 1)[0]
    found = _distributions().get(top)
    return found[0] if found else top
