"""Generation systems: inspect solvers plus an optional build step, registered by decorator.

A system is a solver factory decorated with `@generation_system(...)`. The decorator
registers the factory with inspect (so `--solver` and the logs know it) and records the
roles it uses, its build function and its call plan (the model calls it makes per test
sample and per training record, `ModelCall`), so the harness can list, validate, build and
cost systems (`prefbench run --dry-run`) without a hand-kept list. Third-party packages
register their own systems the same way, from a module named in their
`[project.entry-points.inspect_ai]`; a system that declares no call plan still runs, and the
dry run lists its calls as unknown.

Every system factory takes `run_dir` (the run folder, where it finds records and adapters)
and its own keyword options with defaults.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from inspect_ai.solver import Solver, solver

from core.errors import PrefbenchInputError
from solvers.writer import PROMPTS as WRITER_PROMPTS

if TYPE_CHECKING:
    from solvers.training.context import BuildContext

BuildFunction = Callable[["BuildContext"], None]
SolverFactory = TypeVar("SolverFactory", bound=Callable[..., Solver])

GROUND_TRUTH = "ground_truth"
"""`ModelCall.fills` source: the record's real text (what a build step learns from)."""
TRAIN_EXAMPLES = "train_examples"
"""`ModelCall.fills` source: `generation.few_shot_k` of the user's training records, chosen
and rendered as `few_shot` does."""


@dataclass(frozen=True)
class ModelCall:
    """One model call a system makes per test sample (or, in its build, per training record).

    The harness renders `template` for each record (its context, sender and intent) to
    estimate the input tokens before a run, and takes `max_tokens` as the answer's bound.

    Attributes:
        role: the profile role that answers (`small`, `large`).
        label: what the call writes, e.g. `"email"`, `"rules"`, `"drafts"`.
        max_tokens: the `generation` setting that bounds the answer (`max_tokens`,
            `rules_max_tokens`).
        template: the prompt template, a file `<template>.txt` in `prompts_dir`.
        prompts_dir: the template's folder (default: `solvers/prompts`).
        fills: the template's other fields and their sources: `GROUND_TRUTH`,
            `TRAIN_EXAMPLES`, or the name of a `generation` token setting for text written
            earlier in the run (its estimate is that whole budget), e.g.
            `{"rules": "rules_max_tokens"}`.
        adapter: whether the role's model runs with the user's adapter.
    """

    role: str
    label: str
    max_tokens: str = "max_tokens"
    template: str = "write_email_v1"
    prompts_dir: Path = WRITER_PROMPTS
    fills: Mapping[str, str] = field(default_factory=dict)
    adapter: bool = False

    def __post_init__(self) -> None:
        if not self.max_tokens.endswith("max_tokens"):
            raise ValueError(
                f"ModelCall {self.label!r}: max_tokens must name a generation token setting "
                f"such as 'max_tokens' or 'rules_max_tokens', not {self.max_tokens!r}"
            )
        for name, source in self.fills.items():
            if source not in (GROUND_TRUTH, TRAIN_EXAMPLES) and not source.endswith("max_tokens"):
                raise ValueError(
                    f"ModelCall {self.label!r}: field {name!r} has unknown source {source!r}; "
                    "use GROUND_TRUTH, TRAIN_EXAMPLES or a generation token setting"
                )


@dataclass(frozen=True)
class GenerationSystem:
    """What the harness knows about one system.

    `calls` are the model calls per test sample, `build_calls_per_train_record` those of
    the build step per training record, and `trains_adapter` whether the build trains one
    adapter per user; None means the system did not declare them (unknown to a dry run).
    """

    name: str
    solver_factory: Callable[..., Solver]
    roles: tuple[str, ...]
    build: BuildFunction | None
    uses_adapter: bool
    calls: tuple[ModelCall, ...] | None = None
    build_calls_per_train_record: tuple[ModelCall, ...] | None = None
    trains_adapter: bool = False

    def make_solver(self, run_dir: str, **options: Any) -> Solver:
        """The system's solver for a run folder."""
        return self.solver_factory(run_dir=run_dir, **options)


_SYSTEMS: dict[str, GenerationSystem] = {}


def generation_system(
    *,
    roles: tuple[str, ...],
    build: BuildFunction | None = None,
    uses_adapter: bool = False,
    calls: tuple[ModelCall, ...] | None = None,
    build_calls_per_train_record: tuple[ModelCall, ...] | None = None,
    trains_adapter: bool = False,
) -> Callable[[SolverFactory], SolverFactory]:
    """Register a solver factory as a generation system named after the function.

    Args:
        roles: the model roles its solver uses.
        build: its build step (rules, adapters), run before generation; None when none.
        uses_adapter: whether its solver needs a per-user adapter from the build.
        calls: the model calls its solver makes per test sample, in order (the last one
            writes the output); None leaves them undeclared.
        build_calls_per_train_record: the model calls its build makes per training record
            (`()` when it only trains); None leaves them undeclared.
        trains_adapter: whether its build trains one adapter per user.

    Raises `ValueError` when a call uses a role outside `roles`, or a build plan is
    declared without a build step.
    """
    for call in calls or ():
        if call.role not in roles:
            raise ValueError(f"call {call.label!r} uses role {call.role!r}, not in roles {roles}")
    if build is None and (build_calls_per_train_record or trains_adapter):
        raise ValueError("build_calls_per_train_record and trains_adapter need a build step")

    def register(factory: SolverFactory) -> SolverFactory:
        name = factory.__name__
        registered = solver(name=name)(factory)
        _SYSTEMS[name] = GenerationSystem(
            name=name,
            solver_factory=registered,
            roles=roles,
            build=build,
            uses_adapter=uses_adapter,
            calls=calls,
            build_calls_per_train_record=build_calls_per_train_record,
            trains_adapter=trains_adapter,
        )
        return registered

    return register


def _load_plugins() -> None:
    for entry_point in entry_points(group="inspect_ai"):
        entry_point.load()


def system_names() -> list[str]:
    """Names of every registered system (prefbench's and plug-ins')."""
    _load_plugins()
    return sorted(_SYSTEMS)


def lookup_system(name: str) -> GenerationSystem:
    """The system called `name`; `PrefbenchInputError` listing the known ones otherwise."""
    _load_plugins()
    if name not in _SYSTEMS:
        raise PrefbenchInputError(
            f"unknown system '{name}'; known systems: {', '.join(sorted(_SYSTEMS))}. "
            "Fix the profile's `systems` list, or install the package that registers it."
        )
    return _SYSTEMS[name]
