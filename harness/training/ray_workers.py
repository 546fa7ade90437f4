"""Adapter training fanned out on Ray: one actor per GPU (or CPU), one adapter per call.

Each actor (`AdapterWorker`) loads the base model once and trains the adapters it is given,
like the in-process path; `ray.util.ActorPool` hands the jobs to idle actors. An actor whose
process dies (killed, out of memory) is restarted by Ray and its call retried, up to
`training.fanout.max_retries` times (`max_restarts`, `max_task_retries`); with checkpoints
the retry resumes the adapter from its last one. Only imported when the profile asks for Ray.
"""

from collections.abc import Sequence
from typing import Any

import ray
from ray.util import ActorPool

from prefbench.harness.profile import TrainingFanout
from prefbench.harness.training.progress import AdapterProgress
from prefbench.solvers.training.jobs import AdapterJob, TrainerFactory, run_adapter_job
from prefbench.solvers.training.manifest import AdapterManifest


class AdapterWorker:
    """A Ray actor that trains adapter after adapter on its own trainer (one loaded base)."""

    def __init__(self, checkpoint_every: int, make_trainer: TrainerFactory) -> None:
        self._trainer = make_trainer()
        self._checkpoint_every = checkpoint_every

    def train(self, job: AdapterJob) -> AdapterManifest:
        """Train `job`, install its adapter and manifest in the run folder; its manifest."""
        return run_adapter_job(job, self._trainer, None, self._checkpoint_every)


def worker_resources(cluster: dict[str, float]) -> tuple[dict[str, Any], int]:
    """Each actor's resource request and how many fit the cluster: a GPU each, else a CPU."""
    gpus = int(cluster.get("GPU", 0))
    if gpus:
        return {"num_gpus": 1}, gpus
    return {"num_cpus": 1}, max(1, int(cluster.get("CPU", 1)))


def train_on_ray(
    jobs: Sequence[AdapterJob],
    fanout: TrainingFanout,
    checkpoint_every: int,
    progress: AdapterProgress,
    make_trainer: TrainerFactory,
) -> list[AdapterManifest]:
    """Train `jobs` on the Ray cluster of `fanout.address`; their manifests as they finish.

    Connects to the running Ray instance when this process already has one (`ray.init` in a
    notebook or test), else to `fanout.address` (none: an existing local cluster, else a new
    one, shut down afterwards). Workers must see the run folder and the base model at the same
    paths (a shared filesystem on a cluster).
    """
    connected_here = not ray.is_initialized()
    if connected_here:
        client = (fanout.address or "").startswith("ray://")  # Ray Client takes no options
        options = {} if client else {"include_dashboard": False, "log_to_driver": False}
        ray.init(address=fanout.address, **options)
    actors: list[Any] = []
    try:
        per_actor, capacity = worker_resources(ray.cluster_resources())
        count = min(len(jobs), capacity, fanout.workers or capacity)
        worker = ray.remote(AdapterWorker).options(
            **per_actor,
            max_restarts=fanout.max_retries,
            max_task_retries=fanout.max_retries,
        )
        actors = [worker.remote(checkpoint_every, make_trainer) for _ in range(count)]
        pool = ActorPool(actors)
        for job in jobs:
            pool.submit(lambda actor, job: actor.train.remote(job), job)
        manifests = []
        while pool.has_next():
            manifest = pool.get_next_unordered()
            progress.done(manifest)
            manifests.append(manifest)
        return manifests
    finally:
        for actor in actors:
            ray.kill(actor)
        if connected_here:
            ray.shutdown()
