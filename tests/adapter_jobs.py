"""Adapter jobs for the training fan-out and resume tests and the fan-out benchmark.

Jobs are queued the way build steps queue them (`request_user_adapter` on a `BuildContext`),
without the build's evals: two users' examples per system, tiny LoRA settings for the CPU.
"""

import io
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from prefbench.harness.training.progress import AdapterProgress
from prefbench.solvers.training.context import BuildContext
from prefbench.solvers.training.jobs import AdapterJob
from prefbench.solvers.training.lora import (
    Checkpointing,
    LoraSettings,
    SharedBaseTrainer,
    StepCallback,
    TrainingExample,
    TrainingResult,
)
from prefbench.solvers.training.training import request_user_adapter

TINY = LoraSettings(
    rank=4, alpha=8, learning_rate=1e-2, max_steps=3, batch_size=2, max_seq_len=64, seed=0
)
SYSTEMS = ("preference_agent", "naive_finetune")
USERS = ("ava", "ben")


def user_examples(system: str, user: str, count: int = 4) -> list[TrainingExample]:
    """A few chat examples whose target names the system and the user."""
    return [
        TrainingExample(
            prompt=[{"role": "user", "content": f"Write email {i} about the {system} lunch."}],
            target=f"Hello team, lunch is at noon. Cheers, {user.title()}",
        )
        for i in range(count)
    ]


@contextmanager
def _no_progress(system: str, user: str) -> Iterator[StepCallback]:
    yield lambda step, total, loss: None


def build_context(run_dir: Path, base_dir: Path, settings: LoraSettings = TINY) -> BuildContext:
    """A build context with no records and no evals: only what queuing adapters needs."""

    def no_eval(*args: object, **kwargs: object) -> None:
        raise AssertionError("no eval in these tests")

    return BuildContext(
        run_dir=run_dir,
        train_records=[],
        base_model_dir=base_dir,
        base_model_id="smollm2-test",
        lora=settings,
        email_max_tokens=8,
        rules_max_tokens=8,
        run_eval=no_eval,  # type: ignore[arg-type]
        training_progress=_no_progress,
        announce=lambda message: None,
    )


def queued_jobs(
    run_dir: Path,
    base_dir: Path,
    settings: LoraSettings = TINY,
    systems: tuple[str, ...] = SYSTEMS,
    users: tuple[str, ...] = USERS,
) -> list[AdapterJob]:
    """The jobs of every (system, user) as a build queues them (none when all are current)."""
    context = build_context(run_dir, base_dir, settings)
    for system in systems:
        for user in users:
            request_user_adapter(context, system, user, user_examples(system, user))
    return context.adapter_jobs


def quiet_progress(total: int) -> AdapterProgress:
    """An adapter progress display that prints into a string."""
    return AdapterProgress(Console(file=io.StringIO(), width=120), total)


@dataclass(frozen=True)
class KillOnceTrainer:
    """A trainer whose process dies (`os._exit`) at step `kill_at` of its first adapter.

    `marker` is created just before: the retried attempt (a new process) finds it and trains
    normally. Picklable, so Ray can build it inside a worker.
    """

    marker: Path
    kill_at: int = 2

    def _first_to_die(self) -> bool:
        """Create the marker; False when another process already did."""
        try:
            with open(self.marker, "x", encoding="utf-8") as marker:
                marker.write(f"killed in pid {os.getpid()}\n")
        except FileExistsError:
            return False
        return True

    def __call__(
        self,
        base_model_dir: Path,
        examples: list[TrainingExample],
        settings: LoraSettings,
        adapter_dir: Path,
        on_step: StepCallback | None = None,
        *,
        checkpoints: Checkpointing | None = None,
    ) -> TrainingResult:
        """Train on a fresh `SharedBaseTrainer`, dying once at step `kill_at`."""

        def die_once(step: int, total: int, loss: float) -> None:
            if step == self.kill_at and self._first_to_die():
                os._exit(137)
            if on_step is not None:
                on_step(step, total, loss)

        trainer = SharedBaseTrainer()
        try:
            return trainer(
                base_model_dir, examples, settings, adapter_dir, die_once, checkpoints=checkpoints
            )
        finally:
            trainer.close()


@dataclass(frozen=True)
class StepLoggingTrainer:
    """A `SharedBaseTrainer` that appends each trained step to `step_log`.

    With `stall_at`, the first adapter stops at that step (after logging it) and waits to be
    killed: a build killed in the middle of an adapter.
    """

    step_log: Path
    stall_at: int | None = None

    def __call__(
        self,
        base_model_dir: Path,
        examples: list[TrainingExample],
        settings: LoraSettings,
        adapter_dir: Path,
        on_step: StepCallback | None = None,
        *,
        checkpoints: Checkpointing | None = None,
    ) -> TrainingResult:
        """Train, logging every step (and stalling at `stall_at`)."""

        def logged(step: int, total: int, loss: float) -> None:
            with open(self.step_log, "a", encoding="utf-8") as log:
                log.write(f"{step}\n")
            if step == self.stall_at:
                time.sleep(3600)
            if on_step is not None:
                on_step(step, total, loss)

        trainer = SharedBaseTrainer()
        try:
            return trainer(
                base_model_dir, examples, settings, adapter_dir, logged, checkpoints=checkpoints
            )
        finally:
            trainer.close()
