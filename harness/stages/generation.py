"""The generation stage: one `personalized_writing` eval per system over the test split.

Logs go to `logs/gen/`. A system's solver gets the options its factory accepts (see
`system_options`), and the stage key includes them, with the hashes of the system's
adapters, so a changed setting or a retrained adapter regenerates that system only.
"""

import inspect as pyinspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inspect_ai import Task

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.profile import Profile
from prefbench.harness.prompt_files import (
    prompts_fingerprint,
    system_code_key,
    text_kind_prompts_key,
)
from prefbench.harness.stage_runner import StageRequest
from prefbench.harness.stages.base import PipelineContext, Stage
from prefbench.solvers import GenerationSystem, lookup_system
from prefbench.solvers.adapters import adapter_hashes, preload_adapters, release_adapter_models
from prefbench.tasks.generation import personalized_writing
from prefbench.tasks.records import Record, records_fingerprint

if TYPE_CHECKING:
    from prefbench.harness.cost.plan import Planner

ADAPTER_ROLE = "small"
"""The role whose model carries the per-user adapters."""

OPTION_ALIASES = {"k": "few_shot_k"}
"""Solver options offered under another name than their `generation` setting."""


def system_options(profile: Profile, system_name: str) -> dict[str, Any]:
    """The settings a system's solver factory accepts, by parameter name.

    Offered: every `generation` setting (and `k` for `few_shot_k`), the profile `seed`, and
    the profile's `system_options[system_name]`, which override them. Settings the factory
    does not take are left out; an entry of `system_options` it does not take is an input
    error naming the system and the options it accepts.
    """
    settings = profile.generation.model_dump()
    offered = {
        **settings,
        **{alias: settings[name] for alias, name in OPTION_ALIASES.items()},
        "seed": profile.seed,
    }
    accepted = pyinspect.signature(lookup_system(system_name).solver_factory).parameters
    takes = sorted(set(accepted) - {"run_dir"})
    chosen = profile.system_options.get(system_name, {})
    unknown = sorted(set(chosen) - set(takes))
    if unknown:
        raise PrefbenchInputError(
            f"profile system_options.{system_name}: {unknown} not accepted by the system's "
            f"solver; it takes {takes}."
        )
    options = {name: value for name, value in offered.items() if name in accepted}
    return {**options, **chosen}


def require_generation_logs(context: PipelineContext) -> None:
    """An input error naming the profile systems without a generation log in this run."""
    missing = [name for name in context.profile.systems if name not in context.generation_logs]
    if missing:
        raise PrefbenchInputError(
            f"no generation logs for {missing} in {context.run.logs('gen')}: run "
            f"`prefbench generate --run {context.run.root}` first."
        )


def system_request(
    context: PipelineContext,
    kind: str,
    task: Task,
    system: GenerationSystem,
    key: dict[str, Any],
    limit: int | None = None,
) -> StageRequest:
    """The eval `KIND-SYSTEM` (logs in `logs/KIND/`): `task` with `system`'s solver.

    `key["options"]` are the solver's options.
    """
    return StageRequest(
        kind,
        f"{kind}-{system.name}",
        task,
        system.roles,
        key,
        metadata={"system": system.name},
        solver=system.make_solver(str(context.run.root), **key["options"]),
        limit=limit,
    )


def load_adapters_of(
    context: PipelineContext, requests: list[StageRequest], users: list[str]
) -> None:
    """Load, before their eval, the adapters of `users` the requested systems will ask for."""
    for request in requests:
        system = lookup_system(str((request.metadata or {})["system"]))
        if system.uses_adapter and ADAPTER_ROLE in system.roles:
            base = context.runner.models.role_models((ADAPTER_ROLE,))[ADAPTER_ROLE]
            preload_adapters(base, context.run.root, system.adapter_system, users)


@dataclass(frozen=True)
class GenerationStage(Stage):
    """Generate the test split with every profile system (or only `only`)."""

    only: str | None = None
    name = "generation"
    title = "generation"

    def key(
        self, context: PipelineContext, system_name: str, records: list[Record]
    ) -> dict[str, Any]:
        """The inputs of one system's generation eval."""
        system = lookup_system(system_name)
        users = sorted({record.user for record in records if record.split == "test"})
        adapters = (
            adapter_hashes(context.run.root, system.adapter_system, users)
            if system.uses_adapter
            else {}
        )
        return {
            "system": system_name,
            "records": records_fingerprint(records),
            "options": system_options(context.profile, system_name),
            "adapters": adapters,
            "prompts": prompts_fingerprint(),
            "limit": context.limit,
            **system_code_key(lookup_system(system_name).solver_factory),
            **text_kind_prompts_key(records),
        }

    def run(self, context: PipelineContext) -> None:
        """Run (or reuse) each selected system's generation; fills `context.generation_logs`."""
        self.heading(context)
        records = context.require_records()
        names = [name for name in context.profile.systems if self.only in (None, name)]
        requests = [
            system_request(
                context,
                "gen",
                personalized_writing(records=str(context.run.records), split="test"),
                lookup_system(name),
                self.key(context, name, records),
                limit=context.limit,
            )
            for name in names
        ]
        # all systems in one eval: their samples share the engine's batches
        users = sorted({record.user for record in records if record.split == "test"})
        results = context.runner.run_stages(
            requests,
            on_done=release_adapter_models,
            before_eval=lambda pending: load_adapters_of(context, pending, users),
        )
        context.generation_logs.update(zip(names, results, strict=True))

    def plan(self, context: PipelineContext, planner: "Planner") -> None:
        """Plan each selected system's generation unless the run folder has it finished.

        A finished system's log goes to `context.generation_logs`, a planned one's answers to
        `planner.generations`. The system's own solver runs over the test samples.
        """
        records = context.require_records()
        names = [name for name in context.profile.systems if self.only in (None, name)]
        samples = list(planner.test_samples(context.run.records, context.limit).values())
        for name in names:
            system = lookup_system(name)
            key = self.key(context, name, records)
            stage = f"gen-{name}"
            finished = planner.finished("gen", stage, system.roles, key)
            if finished is not None and not finished.failed:
                context.generation_logs[name] = finished.result
                continue
            solver = system.make_solver(str(context.run.root), **key["options"])
            try:
                planner.generations[name] = planner.evaluate(
                    self.name, "gen", stage, samples, system.roles, solver=solver
                )
            finally:
                release_adapter_models()
