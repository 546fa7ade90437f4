"""What a build step gets from the harness: the run, its training data and an eval runner."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from inspect_ai import Task
from inspect_ai.log import EvalLog

from prefbench.solvers.training.jobs import AdapterJob, AdapterTrainer
from prefbench.solvers.training.lora import LoraSettings, StepCallback, train_lora_adapter
from prefbench.tasks.records import Record


class EvalRunner(Protocol):
    """How a build step runs an eval: `run_eval(stage, task, key, roles=("large",))`."""

    def __call__(
        self, stage: str, task: Task, key: dict[str, Any], roles: tuple[str, ...] = ("large",)
    ) -> EvalLog:
        """Run `task` as `stage` (logs in `logs/build/`) with the models of `roles`.

        Returns the finished log of an earlier run instead when its `key` (a JSON-able
        description of every input) is the same.
        """
        ...


StepReporter = Callable[[str, str], AbstractContextManager[StepCallback]]
"""`with training_progress(system, user) as on_step:` shows progress while one adapter
trains; `on_step(step, total, loss)` is the trainer's callback."""

__all__ = ["AdapterTrainer", "BuildContext", "EvalRunner", "StepReporter"]


@dataclass(frozen=True)
class BuildContext:
    """Everything a system's build step needs, and nothing about how the harness runs."""

    run_dir: Path
    train_records: list[Record]
    base_model_dir: Path
    base_model_id: str
    lora: LoraSettings
    email_max_tokens: int
    rules_max_tokens: int
    run_eval: EvalRunner
    training_progress: StepReporter
    announce: Callable[[str], None]
    train_adapter: AdapterTrainer = train_lora_adapter
    """Trains an adapter right away (`ensure_user_adapter`); queued jobs run in the harness."""
    adapter_jobs: list[AdapterJob] = field(default_factory=list)
    """The adapters the build steps asked for whose inputs changed (`request_user_adapter`),
    in the order asked; the harness trains them after every build step's shared work."""
    profile_roles: frozenset[str] = frozenset({"small", "large"})
    """The roles the profile gives a model (a system may fall back on another role)."""

    def role_or(self, role: str, fallback: str) -> str:
        """`role` when the profile gives it a model, else `fallback`."""
        return role if role in self.profile_roles else fallback

    @property
    def users(self) -> list[str]:
        """Users with training records, sorted."""
        return sorted({record.user for record in self.train_records})
