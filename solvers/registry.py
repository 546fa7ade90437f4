"""Generation systems: inspect solvers plus an optional build step, registered by decorator.

A system is a solver factory decorated with `@generation_system(...)`. The decorator
registers the factory with inspect (so `--solver` and the logs know it) and records the
roles it uses and its build function, so the harness can list, validate, build and run
systems without a hand-kept list. `prefbench run --dry-run` plans a system by running its
own code against planning models, so a system declares nothing else about its calls.
Third-party packages register their own systems the same way, from a module named in
their `[project.entry-points.inspect_ai]`.

Every system factory takes `run_dir` (the run folder, where it finds records and adapters)
and its own keyword options with defaults.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from inspect_ai.solver import Solver, solver

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.plugins import load_entry_point_plugins

if TYPE_CHECKING:
    from prefbench.solvers.training.context import BuildContext

BuildFunction = Callable[["BuildContext"], None]
SolverFactory = TypeVar("SolverFactory", bound=Callable[..., Solver])


@dataclass(frozen=True)
class GenerationSystem:
    """What the harness knows about one system."""

    name: str
    solver_factory: Callable[..., Solver]
    roles: tuple[str, ...]
    build: BuildFunction | None
    uses_adapter: bool
    adapter_system: str
    """The system whose per-user adapters its solver loads (its own name unless borrowed)."""

    def make_solver(self, run_dir: str, **options: Any) -> Solver:
        """The system's solver for a run folder."""
        return self.solver_factory(run_dir=run_dir, **options)


_SYSTEMS: dict[str, GenerationSystem] = {}


def generation_system(
    *,
    roles: tuple[str, ...],
    build: BuildFunction | None = None,
    uses_adapter: bool = False,
    adapters_of: str | None = None,
) -> Callable[[SolverFactory], SolverFactory]:
    """Register a solver factory as a generation system named after the function.

    Args:
        roles: the model roles its solver uses.
        build: its build step (rules, adapters), run before generation; None when none.
        uses_adapter: whether its solver needs a per-user adapter from the build.
        adapters_of: the system whose adapters it uses, when not its own (a control that
            reuses another system's build); None for its own.
    """

    def register(factory: SolverFactory) -> SolverFactory:
        name = factory.__name__
        registered = solver(name=name)(factory)
        _SYSTEMS[name] = GenerationSystem(
            name=name,
            solver_factory=registered,
            roles=roles,
            build=build,
            uses_adapter=uses_adapter,
            adapter_system=adapters_of or name,
        )
        return registered

    return register


def system_names() -> list[str]:
    """Names of every registered system (prefbench's and plug-ins')."""
    load_entry_point_plugins()
    return sorted(_SYSTEMS)


def lookup_system(name: str) -> GenerationSystem:
    """The system called `name`; `PrefbenchInputError` listing the known ones otherwise.

    Plug-ins are loaded only for a name not registered yet (a lookup sits on every stage key).
    """
    if name not in _SYSTEMS:
        load_entry_point_plugins()
    if name not in _SYSTEMS:
        raise PrefbenchInputError(
            f"unknown system '{name}'; known systems: {', '.join(sorted(_SYSTEMS))}. "
            "Fix the profile's `systems` list, or install the package that registers it."
        )
    return _SYSTEMS[name]
