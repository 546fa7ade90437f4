"""The build stage: each system's build step (rules, per-user adapters) over the train split.

A system's build function runs its evals through `BuildContext.run_eval` (logs in
`logs/build/`) and names the adapters it needs (`request_user_adapter`); the adapters whose
inputs changed are queued as jobs. Once every build step's shared work is done, the queued
jobs train with the executor of the profile's `training.fanout`
(`prefbench.harness.training.fanout`): in-process on one `SharedBaseTrainer` (the base model loaded
once, adapter after adapter), or on Ray. The context's `adapter_trainer`, when set, trains them
in-process instead (the dry run records the jobs). `training.checkpoint_every` makes each adapter
resumable after a kill.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspect_ai import Task
from inspect_ai.log import EvalLog
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from prefbench.core.fingerprint import fingerprint
from prefbench.harness.prompt_files import (
    prompts_fingerprint,
    system_code_key,
    text_kind_prompts_key,
)
from prefbench.harness.serving.models import training_base
from prefbench.harness.stages.base import PipelineContext, Stage
from prefbench.harness.training.fanout import require_ray, train_adapter_jobs
from prefbench.harness.training.progress import AdapterProgress
from prefbench.solvers import lookup_system
from prefbench.solvers.training.context import BuildContext
from prefbench.solvers.training.lora import SharedBaseTrainer, StepCallback
from prefbench.solvers.training.manifest import AdapterManifest

if TYPE_CHECKING:
    from prefbench.harness.cost.plan import Planner


@contextmanager
def _training_progress(context: PipelineContext, system: str, user: str) -> Iterator[StepCallback]:
    """A rich progress bar for one adapter trained right away (`ensure_user_adapter`)."""
    context.adapters_trained += 1
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=context.console) as progress:
        task_id = progress.add_task(f"LoRA {system} / {user}", total=None)

        def on_step(step: int, total: int, loss: float) -> None:
            description = f"LoRA {system} / {user}  loss {loss:.3f}"
            progress.update(task_id, completed=step, total=total, description=description)

        yield on_step


@dataclass(frozen=True)
class BuildStage(Stage):
    """Run the build step of every profile system that has one (or only of `only`)."""

    only: str | None = None
    name = "build"
    title = "build (rules and adapters)"

    def key(self, system_key: dict[str, Any]) -> dict[str, Any]:
        """A build eval's inputs: what the system's build step names, plus the prompt files."""
        return {**system_key, "prompts": prompts_fingerprint()}

    def build_context(
        self, context: PipelineContext, shared_trainer: SharedBaseTrainer
    ) -> BuildContext:
        """What the systems' build steps get: train records, base model, an eval runner.

        Adapters trained right away (`ensure_user_adapter`) train on `shared_trainer` unless
        the context has its own `adapter_trainer`; queued ones train in `run`.
        """
        profile = context.profile
        base_dir, base_id = training_base(profile)
        train = [record for record in context.require_records() if record.split == "train"]

        def run_eval(
            stage: str, task: Task, system_key: dict[str, Any], roles: tuple[str, ...] = ("large",)
        ) -> EvalLog:
            shared_trainer.close()
            key = {**self.key(system_key), **text_kind_prompts_key(train)}
            result = context.runner.run_stage("build", stage, task, roles, key)
            return result.read()

        return BuildContext(
            run_dir=context.run.root,
            train_records=train,
            base_model_dir=base_dir,
            base_model_id=base_id,
            lora=profile.training.lora(profile.seed),
            email_max_tokens=profile.generation.max_tokens,
            rules_max_tokens=profile.generation.rules_max_tokens,
            run_eval=run_eval,
            training_progress=partial(_training_progress, context),
            announce=context.console.print,
            profile_roles=frozenset(profile.roles),
            train_adapter=context.adapter_trainer or shared_trainer,
        )

    def run(self, context: PipelineContext) -> None:
        """Build every selected system that has a build step, in profile order.

        Then train the adapters their build steps queued.
        """
        self.heading(context)
        systems = [lookup_system(name) for name in context.profile.systems]
        to_build = [s for s in systems if s.build is not None and self.only in (None, s.name)]
        if not to_build:
            context.console.print("no system needs a build step")
            return
        training = context.profile.training
        if context.adapter_trainer is None:
            require_ray(training.fanout)  # before the build's evals, not after
        shared = SharedBaseTrainer()
        build_context = self.build_context(context, shared)
        try:
            for system in to_build:
                assert system.build is not None
                system.build(_with_code_key(build_context, system_code_key(system.build)))
        finally:
            shared.close()
        jobs = build_context.adapter_jobs
        if not jobs:
            return
        progress = AdapterProgress(
            context.console, len(jobs), on_done=partial(_count_trained, context)
        )
        with progress.shown():
            train_adapter_jobs(
                jobs,
                training.fanout,
                training.checkpoint_every,
                progress,
                trainer=context.adapter_trainer,
            )

    def plan(self, context: PipelineContext, planner: "Planner") -> None:
        """Plan every build step by running it (`Planner`).

        Its evals run against planning models unless the run folder has them finished; the
        adapters whose inputs changed are planned. An eval two systems share (the same stage
        and key, such as the drafts) is planned once, as the run reuses it. Planned adapters
        get a placeholder manifest in the context's run folder, so the generation stage's keys
        and solvers find them.

        """
        systems = [lookup_system(name) for name in context.profile.systems]
        to_build = [s for s in systems if s.build is not None and self.only in (None, s.name)]
        if not to_build:
            return
        evals: dict[str, EvalLog] = {}

        def run_eval(
            stage: str, task: Task, system_key: dict[str, Any], roles: tuple[str, ...] = ("large",)
        ) -> EvalLog:
            key = self.key(system_key)
            known = fingerprint({"stage": stage, "roles": roles, "key": key})
            if known not in evals:
                evals[known] = planner.build_eval(self.name, stage, task, roles, key)
            return evals[known]

        profile = context.profile
        recorder = planner.adapter_recorder(context.run.root)
        build_context = BuildContext(
            run_dir=context.run.root,
            train_records=[r for r in context.require_records() if r.split == "train"],
            base_model_dir=Path(profile.roles["small"].model),
            base_model_id=planner.base_model_id or "planned",
            lora=profile.training.lora(profile.seed),
            email_max_tokens=profile.generation.max_tokens,
            rules_max_tokens=profile.generation.rules_max_tokens,
            run_eval=run_eval,
            training_progress=recorder.progress,
            announce=lambda message: None,
            profile_roles=frozenset(profile.roles),
            train_adapter=recorder,
        )
        for system in to_build:
            assert system.build is not None
            system.build(build_context)
        recorder.queued(build_context.adapter_jobs)
        planner.adapter_rows(self.name, recorder)


def _with_code_key(build_context: BuildContext, code_key: dict[str, Any]) -> BuildContext:
    """The build context whose evals also key on a plug-in system's code (`{}`: unchanged)."""
    if not code_key:
        return build_context
    run_eval = build_context.run_eval

    def keyed_eval(
        stage: str, task: Task, system_key: dict[str, Any], roles: tuple[str, ...] = ("large",)
    ) -> EvalLog:
        return run_eval(stage, task, {**system_key, **code_key}, roles)

    return replace(build_context, run_eval=keyed_eval)


def _count_trained(context: PipelineContext, manifest: AdapterManifest) -> None:
    """Count an installed adapter for the run's recomputed-nothing check."""
    context.adapters_trained += 1
