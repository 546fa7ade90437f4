"""Resumable training: a build SIGKILLed in the middle of an adapter resumes from its last
checkpoint, trains fewer steps than from scratch and ends with the uninterrupted losses.

The killed process is a child running the build's training phase (`train_adapter_jobs`,
in-process, `checkpoint_every=2`) on the offline SmolLM2; it stalls at step 3 of its first
adapter (after the step-2 checkpoint) until the test kills it.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prefbench.core.offline_models import smollm2_dir
from prefbench.harness.profile import TrainingFanout
from prefbench.harness.training.fanout import train_adapter_jobs
from prefbench.solvers.training.lora import LoraSettings
from prefbench.solvers.training.manifest import read_manifest
from tests.adapter_jobs import StepLoggingTrainer, queued_jobs, quiet_progress
from tests.test_training_fanout import adapter_config

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = LoraSettings(
    rank=4, alpha=8, learning_rate=1e-2, max_steps=6, batch_size=2, max_seq_len=64, seed=0
)
EVERY = 2
STALL_AT = 3
SYSTEMS, USERS = ("preference_agent",), ("ava", "ben")


def train(run_dir: Path, base_dir: Path, step_log: Path, every: int, stall_at: int | None):
    """The build's training phase over both users' adapters (what the child runs too)."""
    jobs = queued_jobs(run_dir, base_dir, SETTINGS, systems=SYSTEMS, users=USERS)
    return train_adapter_jobs(
        jobs,
        TrainingFanout(),
        every,
        quiet_progress(len(jobs)),
        make_trainer=lambda: StepLoggingTrainer(step_log, stall_at),
    )


def logged_steps(step_log: Path) -> list[int]:
    return [int(line) for line in step_log.read_text().split()] if step_log.exists() else []


@pytest.fixture(scope="module")
def base_model() -> Path:
    return smollm2_dir()


@pytest.mark.integration
def test_a_killed_build_resumes_each_adapter_from_its_checkpoint(base_model: Path, tmp_path):
    run_dir, killed_log = tmp_path / "run", tmp_path / "killed-steps.log"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from tests.test_training_resume import train; "
            "train(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), "
            f"{EVERY}, {STALL_AT})",
            str(run_dir),
            str(base_model),
            str(killed_log),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 300
        while STALL_AT not in logged_steps(killed_log):
            assert child.poll() is None, f"the build ended early ({child.returncode})"
            assert time.monotonic() < deadline, "the build never reached the stall"
            time.sleep(0.2)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    checkpoints = run_dir / "artifacts" / "preference_agent" / ".checkpoints"
    assert [p.name for p in checkpoints.glob("*/*/checkpoint-*")] == [f"checkpoint-{EVERY}"]
    assert read_manifest(run_dir, "preference_agent", "ava") is None

    resumed_log = tmp_path / "resumed-steps.log"
    manifests = {m.user: m for m in train(run_dir, base_model, resumed_log, EVERY, None)}
    from_scratch = {m.user: m for m in train(tmp_path / "ref", base_model, tmp_path / "r", 0, None)}

    killed_user = "ava"  # the first job: the one that was stalled
    assert manifests[killed_user].resumed_from_step == EVERY
    assert manifests["ben"].resumed_from_step == 0
    # fewer steps than from scratch: the killed adapter's first EVERY steps are not redone
    assert len(logged_steps(resumed_log)) == 2 * SETTINGS.max_steps - EVERY
    assert logged_steps(resumed_log)[: SETTINGS.max_steps - EVERY] == [3, 4, 5, 6]
    for user in USERS:
        assert manifests[user].steps == from_scratch[user].steps == SETTINGS.max_steps
        assert manifests[user].input_hash == from_scratch[user].input_hash
        assert manifests[user].losses == pytest.approx(from_scratch[user].losses, abs=1e-4)
        assert_same_weights(run_dir, tmp_path / "ref", user)
        assert read_manifest(run_dir, "preference_agent", user) == manifests[user]
    assert not list(checkpoints.glob("*")), "checkpoints are removed once installed"


def assert_same_weights(first_run: Path, second_run: Path, user: str) -> None:
    import torch
    from safetensors.torch import load_file

    folders = [
        run / "artifacts" / "preference_agent" / user / "adapter" for run in (first_run, second_run)
    ]
    configs = [adapter_config(folder) for folder in folders]
    assert configs[0] == configs[1]
    first, second = (load_file(folder / "adapter_model.safetensors") for folder in folders)
    assert first.keys() == second.keys()
    assert all(torch.allclose(first[k], second[k], atol=1e-6, rtol=1e-4) for k in first)
