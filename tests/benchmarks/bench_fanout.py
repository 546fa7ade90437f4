"""Benchmark of adapter training fanned out on Ray versus in-process, on the offline SmolLM2.

Trains the same adapters (2 systems x 2 users by default, tiny LoRA settings) twice in one
process: in-process one after another on one loaded base (`training.fanout.backend: local`),
then on a local Ray instance with `--workers` CPUs (`backend: ray`, one actor per CPU). Prints
the wall seconds of each, the speed-up (in-process / Ray) and the device seconds the manifests
record. On a machine with few cores the speed-up is near 1 (the in-process path already uses
every core through torch's threads); the point of Ray is one adapter per GPU, and per node on a
cluster. Usage:

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_fanout.py [--workers 2] [--steps 8]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from prefbench.core.offline_models import smollm2_dir  # noqa: E402
from prefbench.harness.profile import TrainingFanout  # noqa: E402
from prefbench.harness.training.fanout import train_adapter_jobs  # noqa: E402
from prefbench.solvers.training.lora import LoraSettings  # noqa: E402
from prefbench.solvers.training.manifest import training_device_seconds  # noqa: E402
from tests.adapter_jobs import SYSTEMS, USERS, queued_jobs, quiet_progress  # noqa: E402


def timed_training(run_dir: Path, base_dir: Path, settings: LoraSettings, fanout: TrainingFanout):
    """Train every job into `run_dir`; wall seconds and the manifests' device seconds."""
    jobs = queued_jobs(run_dir, base_dir, settings)
    started = time.perf_counter()
    manifests = train_adapter_jobs(jobs, fanout, 0, quiet_progress(len(jobs)))
    wall = time.perf_counter() - started
    assert len(manifests) == len(SYSTEMS) * len(USERS)
    return wall, training_device_seconds(run_dir)


def main() -> None:
    """Run both executors and print the numbers."""
    import ray

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="Ray CPUs (one actor each)")
    parser.add_argument("--steps", type=int, default=8, help="LoRA steps per adapter")
    args = parser.parse_args()
    settings = LoraSettings(
        rank=4, alpha=8, learning_rate=1e-2, max_steps=args.steps, batch_size=2, max_seq_len=64
    )
    with tempfile.TemporaryDirectory(prefix="prefbench-bench-fanout-") as folder:
        base_dir = smollm2_dir(Path(folder) / "smollm2")
        local_wall, local_device = timed_training(
            Path(folder) / "local", base_dir, settings, TrainingFanout()
        )
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        try:  # Ray's wall time includes starting the actors, each loading the base
            ray_wall, ray_device = timed_training(
                Path(folder) / "ray", base_dir, settings, TrainingFanout(backend="ray")
            )
        finally:
            ray.shutdown()
    adapters = len(SYSTEMS) * len(USERS)
    print(f"adapters: {adapters} ({args.steps} steps each, SmolLM2, CPU)")
    print(f"in-process: {local_wall:.1f} s wall, {local_device:.1f} device s")
    print(f"ray ({args.workers} workers): {ray_wall:.1f} s wall, {ray_device:.1f} device s")
    print(f"speed-up (in-process / ray): {local_wall / ray_wall:.2f}x")


if __name__ == "__main__":
    main()
