"""Generation systems: inspect solvers plus an optional build step, registered by decorator.

A system is a solver factory decorated with `@generation_system(...)`. The decorator
registers the factory with inspect (so `--solver` and the logs know it) and records the
roles it uses, its build function and whether it is a control, so the harness can list,
validate, build and run systems without a hand-kept list. `prefbench run --dry-run` plans a
system by running its own code against planning models, so a system declares nothing else
about its calls. Third-party packages register their own systems the same way, from a
module named under their `[project.entry-points.prefbench]` (`prefbench.core.plugins`),
loaded when a name is not registered yet or when every system is listed.

Every system factory takes `run_dir` (the run folder, where it finds records and adapters)
and its own keyword options with defaults.
"""

import inspect as pyinspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from inspect_ai.solver import Solver, solver

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.plugins import broken_plugins_note, load_plugins
from prefbench.scorers.stats.controls import ControlCheck

if TYPE_CHECKING:
    from prefbench.solvers.training.context import BuildContext

__all__ = [
    "Control",
    "GenerationSystem",
    "all_systems",
    "control_checks_of",
    "generation_system",
    "lookup_system",
    "system_names",
]

BuildFunction = Callable[["BuildContext"], None]
SolverFactory = TypeVar("SolverFactory", bound=Callable[..., Solver])


@dataclass(frozen=True)
class Control:
    """A system that is a control of a pair: a judge that sees personalization must rank it.

    Make one with `Control.beats(other)` (a positive control: it must win against `other`)
    or `Control.loses_to(other)` (a negative control: it must lose to `other`). The pairwise
    judge stage judges the pair when both systems are in the profile, and the report's
    controls section checks its order (`prefbench.scorers.stats.controls`).
    """

    kind: Literal["positive", "negative"]
    other: str

    @classmethod
    def beats(cls, other: str) -> "Control":
        """A positive control: it must beat `other`."""
        return cls("positive", other)

    @classmethod
    def loses_to(cls, other: str) -> "Control":
        """A negative control: it must lose to `other`."""
        return cls("negative", other)

    def check(self, system: str) -> ControlCheck:
        """The check of this control for `system`, oriented better-vs-worse."""
        if self.kind == "positive":
            return ControlCheck(self.kind, better=system, worse=self.other)
        return ControlCheck(self.kind, better=self.other, worse=system)


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
    optional_roles: tuple[str, ...] = ()
    """Roles it uses when the profile sets them (e.g. `rule_writer`), another role otherwise."""
    control: Control | None = None
    """The pair it is a control of, if it is one."""

    def make_solver(self, run_dir: str, **options: Any) -> Solver:
        """The system's solver for a run folder."""
        return self.solver_factory(run_dir=run_dir, **options)

    def options(self) -> dict[str, Any]:
        """Its solver options (besides `run_dir`) and their defaults, from the signature."""
        parameters = pyinspect.signature(self.solver_factory).parameters.values()
        return {
            parameter.name: parameter.default
            for parameter in parameters
            if parameter.name != "run_dir"
            and parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
        }

    def control_check(self) -> ControlCheck | None:
        """Its control check (better, worse), when it is a control."""
        return self.control.check(self.name) if self.control is not None else None


_SYSTEMS: dict[str, GenerationSystem] = {}


def generation_system(
    *,
    roles: tuple[str, ...],
    build: BuildFunction | None = None,
    uses_adapter: bool = False,
    adapters_of: str | None = None,
    optional_roles: tuple[str, ...] = (),
    control: Control | None = None,
) -> Callable[[SolverFactory], SolverFactory]:
    """Register a solver factory as a generation system named after the function.

    Args:
        roles: the model roles its solver and build use; a profile that names the system
            must set each of them. A role no built-in system uses (e.g. `critic`) becomes a
            role profiles may set.
        build: its build step (rules, adapters), run before generation; None when none.
        uses_adapter: whether its solver needs a per-user adapter from the build.
        adapters_of: the system whose adapters it uses, when not its own (a control that
            reuses another system's build); None for its own.
        optional_roles: roles it uses when the profile sets them and replaces otherwise
            (e.g. `rule_writer`, the `large` model when absent).
        control: `Control.beats(other)` or `Control.loses_to(other)` when the system is a
            control of a pair; None otherwise.
    """

    def register(factory: SolverFactory) -> SolverFactory:
        name = factory.__name__
        registered = solver(name=name)(factory)
        _SYSTEMS[name] = GenerationSystem(
            name=name,
            solver_factory=registered,
            roles=tuple(roles),
            build=build,
            uses_adapter=uses_adapter,
            adapter_system=adapters_of or name,
            optional_roles=tuple(optional_roles),
            control=control,
        )
        return registered

    return register


def all_systems(*, plugins: bool = True) -> list[GenerationSystem]:
    """Every registered system by name; with `plugins` False, only those imported so far."""
    if plugins:
        load_plugins()
    return [_SYSTEMS[name] for name in sorted(_SYSTEMS)]


def system_names() -> list[str]:
    """Names of every registered system (prefbench's and plug-ins')."""
    return [system.name for system in all_systems()]


def lookup_system(name: str) -> GenerationSystem:
    """The system called `name`; `PrefbenchInputError` listing the known ones otherwise.

    Plug-ins are loaded only for a name not registered yet (a lookup sits on every stage key).
    """
    if name not in _SYSTEMS:
        load_plugins()
    if name not in _SYSTEMS:
        raise PrefbenchInputError(
            f"unknown system '{name}'; known systems: {', '.join(sorted(_SYSTEMS))}. "
            "Fix the profile's `systems` list, or install the package that registers it."
            f"{broken_plugins_note()}"
        )
    return _SYSTEMS[name]


def control_checks_of(systems: Sequence[str]) -> list[ControlCheck]:
    """The control checks the named systems declare, in their order (`Control`)."""
    checks = (lookup_system(name).control_check() for name in systems)
    return [check for check in checks if check is not None]
