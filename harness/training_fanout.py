"""Train a build's queued adapters: in-process one after another, or fanned out on Ray.

The build steps queue one `AdapterJob` per (system, user) whose inputs changed; this module
runs them all with the executor the profile's `training.fanout` names:

- `local` (the default): in this process, adapter after adapter on one loaded base
  (`SharedBaseTrainer`), with a progress bar of each adapter's steps;
- `ray`: one Ray task per adapter (`harness.ray_training`), on one GPU each, or one CPU each
  on a machine without GPUs, on this machine or a cluster (`ray start` on every node, the run
  folder on a shared filesystem).

Either way each job installs its adapter and manifest through `run_adapter_job`: the same
adapters, manifests and input hashes, whichever way they ran; the driver shows adapters done
out of all with an ETA.
"""

import importlib.util
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from core.errors import PrefbenchInputError
from harness.profile import TrainingFanout
from solvers.training.jobs import AdapterJob, AdapterTrainer, run_adapter_job
from solvers.training.lora import SharedBaseTrainer, StepCallback
from solvers.training.manifest import AdapterManifest

RAY_EXTRA_INSTALL = "pip install 'prefbench[ray]'"

TrainerFactory = Callable[[], AdapterTrainer]
"""Makes the trainer a worker trains its adapters with (one per worker process)."""


def require_ray(fanout: TrainingFanout) -> None:
    """Raise `PrefbenchInputError` when the fan-out asks for Ray and Ray is not installed."""
    if fanout.backend == "ray" and importlib.util.find_spec("ray") is None:
        raise PrefbenchInputError(
            "the profile sets training.fanout.backend: ray, but ray is not installed. Install "
            f"it with `{RAY_EXTRA_INSTALL}`, or set training.fanout.backend: local."
        )


@dataclass
class AdapterProgress:
    """A rich progress display of a build's adapters: done out of all, with an ETA.

    In-process training adds a bar of the current adapter's steps (`steps_of`).
    """

    console: Console
    total: int
    on_done: Callable[[AdapterManifest], None] = lambda manifest: None
    _progress: Progress | None = field(default=None, init=False)
    _overall: TaskID | None = field(default=None, init=False)

    @contextmanager
    def shown(self) -> Iterator["AdapterProgress"]:
        """Show the display while the block runs."""
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console) as progress:
            self._progress = progress
            self._overall = progress.add_task("adapters", total=self.total)
            try:
                yield self
            finally:
                self._progress = None

    @contextmanager
    def steps_of(self, job: AdapterJob) -> Iterator[StepCallback]:
        """A bar of one adapter's training steps; yields the trainer's `on_step`."""
        progress = self._progress
        if progress is None:
            yield lambda step, total, loss: None
            return
        task_id = progress.add_task(f"LoRA {job.label}", total=None)

        def on_step(step: int, total: int, loss: float) -> None:
            description = f"LoRA {job.label}  loss {loss:.3f}"
            progress.update(task_id, completed=step, total=total, description=description)

        try:
            yield on_step
        finally:
            progress.remove_task(task_id)

    def done(self, manifest: AdapterManifest) -> None:
        """Count one installed adapter and report it."""
        if self._progress is not None and self._overall is not None:
            self._progress.advance(self._overall)
        step = manifest.resumed_from_step
        resumed = f", resumed at step {step}" if step else ""
        self.console.print(
            f"{manifest.system} / {manifest.user}: trained ({manifest.steps} steps on "
            f"{manifest.device or 'cpu'}, {manifest.device_seconds:.1f} s{resumed})"
        )
        self.on_done(manifest)


def train_in_process(
    jobs: Sequence[AdapterJob],
    trainer: AdapterTrainer,
    checkpoint_every: int,
    progress: AdapterProgress,
) -> list[AdapterManifest]:
    """Train `jobs` one after another in this process with `trainer`; their manifests."""
    manifests = []
    for job in jobs:
        with progress.steps_of(job) as on_step:
            manifest = run_adapter_job(job, trainer, on_step, checkpoint_every)
        progress.done(manifest)
        manifests.append(manifest)
    return manifests


def train_adapter_jobs(
    jobs: Sequence[AdapterJob],
    fanout: TrainingFanout,
    checkpoint_every: int,
    progress: AdapterProgress,
    trainer: AdapterTrainer | None = None,
    make_trainer: TrainerFactory = SharedBaseTrainer,
) -> list[AdapterManifest]:
    """Train every job with the executor `fanout` names; the manifests, in finishing order.

    `trainer`, when given (the dry run's recorder, a test's fake), trains in-process whatever
    the backend. Otherwise each worker trains with a trainer of `make_trainer` (in-process:
    one, closed at the end). Raises `PrefbenchInputError` when Ray is asked for but missing.
    """
    if not jobs:
        return []
    if trainer is not None:
        return train_in_process(jobs, trainer, checkpoint_every, progress)
    require_ray(fanout)
    if fanout.backend == "ray":
        from harness.ray_training import train_on_ray

        return train_on_ray(jobs, fanout, checkpoint_every, progress, make_trainer)
    local = make_trainer()
    try:
        return train_in_process(jobs, local, checkpoint_every, progress)
    finally:
        close = getattr(local, "close", None)
        if close is not None:
            close()
