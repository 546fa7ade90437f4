"""Plug-in discovery: import every module named in a package's entry points.

prefbench and third-party packages list a module under `[project.entry-points.inspect_ai]`
in their `pyproject.toml`; importing that module runs its decorators (`@generation_system`,
`@judge`, inspect's `@task`, `@scorer`, ...), which register what it adds. Registries call
`load_entry_point_plugins()` before they list or look up a name.
"""

from importlib.metadata import entry_points

from core.errors import PrefbenchInputError

PLUGIN_GROUP = "inspect_ai"
"""The entry-point group inspect itself reads, so one entry registers with both."""


def load_entry_point_plugins(group: str = PLUGIN_GROUP) -> None:
    """Import the module of every installed entry point in `group` (once; later calls are cheap).

    A module that fails to import is an input error naming the entry point, the package that
    declares it and the fix.
    """
    for entry_point in entry_points(group=group):
        try:
            entry_point.load()
        except Exception as error:
            package = entry_point.dist.name if entry_point.dist else "an unknown package"
            raise PrefbenchInputError(
                f"the plug-in {entry_point.name} = {entry_point.value} (entry point group "
                f"{group}, declared by {package}) cannot be imported: "
                f"{type(error).__name__}: {error}. Fix or reinstall {package}, or uninstall it."
            ) from error
