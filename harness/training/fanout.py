"""Train a build's queued adapters: in-process one after another, or fanned out on Ray.

The build steps queue one `AdapterJob` per (system, user) whose inputs changed; this module
runs them all with the executor the profile's `training.fanout` names:

- `local` (the default): in this process, adapter after adapter on one loaded base
  (`SharedBaseTrainer`), with a progress bar of each adapter's steps;
- `ray`: one Ray task per adapter (`prefbench.harness.training.ray_workers`), on one GPU each, or
  one CPU each on a machine without GPUs, on this machine or a cluster (`ray start` on every node,
  the run folder on a shared filesystem).

Either way each job installs its adapter and manifest through `run_adapter_job`: the same
adapters, manifests and input hashes, whichever way they ran; the driver shows adapters done
out of all with an ETA.
"""

import importlib.util
from collections.abc import Sequence

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.profile import TrainingFanout
from prefbench.harness.training.progress import AdapterProgress
from prefbench.solvers.training.jobs import (
    AdapterJob,
    AdapterTrainer,
    TrainerFactory,
    run_adapter_job,
)
from prefbench.solvers.training.lora import SharedBaseTrainer
from prefbench.solvers.training.manifest import AdapterManifest

RAY_EXTRA_INSTALL = "pip install 'prefbench[ray]'"


def require_ray(fanout: TrainingFanout) -> None:
    """Raise `PrefbenchInputError` when the fan-out asks for Ray and Ray is not installed."""
    if fanout.backend == "ray" and importlib.util.find_spec("ray") is None:
        raise PrefbenchInputError(
            "the profile sets training.fanout.backend: ray, but ray is not installed. Install "
            f"it with `{RAY_EXTRA_INSTALL}`, or set training.fanout.backend: local."
        )


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
        from prefbench.harness.training.ray_workers import train_on_ray

        return train_on_ray(jobs, fanout, checkpoint_every, progress, make_trainer)
    local = make_trainer()
    try:
        return train_in_process(jobs, local, checkpoint_every, progress)
    finally:
        close = getattr(local, "close", None)
        if close is not None:
            close()
