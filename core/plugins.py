"""Plug-ins: the modules that installed packages name under the `inspect_ai` entry points.

prefbench's own registrations (`prefbench.harness._registry`) and a third party's (a package whose
``pyproject.toml`` declares ``[project.entry-points.inspect_ai]``) are found the same way:
importing the named module runs its decorators (`@corpus`, `@generation_system`, ...).
"""

from importlib.metadata import entry_points

from prefbench.core.errors import PrefbenchInputError

__all__ = ["ENTRY_POINT_GROUP", "load_entry_point_plugins"]

ENTRY_POINT_GROUP = "inspect_ai"

_loaded: set[str] = set()


def load_entry_point_plugins() -> None:
    """Import every module named under the `inspect_ai` entry points, each once.

    The installed entry points are listed again on every call (a package installed since the
    last call is found); a module already imported is not imported again. Raises
    `PrefbenchInputError` naming the entry point and its package when a module fails to
    import.
    """
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.value in _loaded:
            continue
        try:
            entry_point.load()
        except Exception as error:
            package = entry_point.dist.name if entry_point.dist else "an installed package"
            raise PrefbenchInputError(
                f"the plug-in {entry_point.name!r} = {entry_point.value!r} of {package} does "
                f"not import ({type(error).__name__}: {error}); fix or uninstall that package"
            ) from error
        _loaded.add(entry_point.value)
