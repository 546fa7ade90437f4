"""What a build step gets from the harness: the run, its training data and an eval runner."""

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai import Task
from inspect_ai.log import EvalLog

from solvers.training.lora import LoraSettings, TrainingExample, TrainingResult, train_lora_adapter
from tasks.records import Record

EvalRunner = Callable[[str, Task, dict[str, Any]], EvalLog]
"""`run_eval(stage, task, key)`: run `task` as the named stage (logs under `logs/build/`),
or return the finished log of an earlier run whose `key` (a JSON-able description of
every input) is the same. Model roles are the run's."""

StepReporter = Callable[[str, str], AbstractContextManager[Callable[[int, int, float], None]]]
"""`with training_progress(system, user) as on_step:` shows progress while one adapter
trains; `on_step(step, total, loss)` is the trainer's callback."""


AdapterTrainer = Callable[
    [Path, Sequence[TrainingExample], LoraSettings, Path, Callable[[int, int, float], None] | None],
    TrainingResult,
]
"""`train(base_model_dir, examples, settings, adapter_dir, on_step)`: train and save one
adapter (`train_lora_adapter`; the dry run passes one that records the job instead)."""


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

    @property
    def users(self) -> list[str]:
        """Users with training records, sorted."""
        return sorted({record.user for record in self.train_records})
