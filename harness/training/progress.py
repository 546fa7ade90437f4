"""What the driver shows while a build's adapters train: adapters done out of all, with an ETA.

In-process training adds a bar of the current adapter's steps; each installed adapter is
reported with its steps, device and device seconds.
"""

from collections.abc import Callable, Iterator
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

from prefbench.solvers.training.jobs import AdapterJob
from prefbench.solvers.training.lora import StepCallback
from prefbench.solvers.training.manifest import AdapterManifest


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
