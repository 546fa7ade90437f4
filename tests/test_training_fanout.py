"""Adapter training fanned out: job collection, executor choice, settings, and Ray for real.

The unit tests queue jobs and train them with a fake trainer; the integration tests train
two users × two systems on the offline SmolLM2 in-process and on a local Ray cluster the
test starts (2 CPUs), and kill one Ray worker mid-adapter to see Ray retry it.
"""

import importlib.util
import json
from pathlib import Path

import pytest

from prefbench.core.atomic import atomic_directory
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.offline_models import smollm2_dir
from prefbench.harness.cost.dry_run import plan_run
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.profile import TrainingFanout, parse_profile
from prefbench.harness.stages.records import profile_records
from prefbench.harness.training import fanout as training_fanout
from prefbench.harness.training.fanout import train_adapter_jobs
from prefbench.solvers.training.lora import (
    Checkpointing,
    LoraSettings,
    StepCallback,
    TrainingResult,
)
from prefbench.solvers.training.manifest import read_manifest, training_device_seconds
from prefbench.solvers.training.training import request_user_adapter
from tests.adapter_jobs import (
    SYSTEMS,
    TINY,
    USERS,
    KillOnceTrainer,
    build_context,
    queued_jobs,
    quiet_progress,
    user_examples,
)
from tests.helpers import scripted_profile, scripted_run
from tests.test_rule_ablations import RecordingTrainer, ablation_profile

LOCAL = TrainingFanout()
RAY = TrainingFanout(backend="ray", max_retries=2)


def fake_train(
    base_model_dir: Path,
    examples: object,
    settings: LoraSettings,
    adapter_dir: Path,
    on_step: StepCallback | None = None,
    *,
    checkpoints: Checkpointing | None = None,
) -> TrainingResult:
    """Write a placeholder adapter and report two steps."""
    with atomic_directory(adapter_dir) as staging:
        (staging / "adapter_config.json").write_text("{}")
    return TrainingResult(losses=[2.0, 1.0], steps=2, seconds=0.5, trainable_parameters=1)


# --- job collection and executor choice (no model) ---------------------------------------


def test_each_system_and_user_is_one_job_queued_once(tmp_path: Path):
    jobs = queued_jobs(tmp_path, tmp_path)
    assert [(job.system, job.user) for job in jobs] == [(s, u) for s in SYSTEMS for u in USERS]
    assert len({job.input_hash for job in jobs}) == 4
    context = build_context(tmp_path, tmp_path)
    for _ in range(2):  # two systems sharing one build step ask twice
        request_user_adapter(context, "preference_agent", "ava", user_examples("p", "ava"))
    assert len(context.adapter_jobs) == 1


def test_installed_adapters_are_not_queued_again(tmp_path: Path):
    jobs = queued_jobs(tmp_path, tmp_path)
    manifests = train_adapter_jobs(jobs, LOCAL, 0, quiet_progress(len(jobs)), trainer=fake_train)
    assert {(m.system, m.user) for m in manifests} == {(j.system, j.user) for j in jobs}
    assert queued_jobs(tmp_path, tmp_path) == []
    changed = LoraSettings(**{**TINY.to_dict(), "max_steps": 4})
    assert len(queued_jobs(tmp_path, tmp_path, settings=changed)) == 4


def test_manifests_record_device_seconds_and_the_run_sums_them(tmp_path: Path):
    jobs = queued_jobs(tmp_path, tmp_path)
    train_adapter_jobs(jobs, LOCAL, 0, quiet_progress(len(jobs)), trainer=fake_train)
    manifest = read_manifest(tmp_path, "preference_agent", "ava")
    assert manifest is not None and manifest.device == "cpu" and manifest.device_seconds >= 0
    manifests = [read_manifest(tmp_path, j.system, j.user) for j in jobs]
    total = sum(m.device_seconds for m in manifests if m is not None)
    assert training_device_seconds(tmp_path) == pytest.approx(total)
    assert training_device_seconds(tmp_path, device="cuda") == 0.0
    assert training_device_seconds(tmp_path / "no-such-run") == 0.0


def test_a_given_trainer_trains_in_process_whatever_the_backend(tmp_path: Path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        training_fanout.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ray" else real_find_spec(name, *a),
    )
    jobs = queued_jobs(tmp_path, tmp_path)
    manifests = train_adapter_jobs(jobs, RAY, 0, quiet_progress(len(jobs)), trainer=fake_train)
    assert len(manifests) == 4


def test_ray_backend_without_ray_names_the_extra(tmp_path: Path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        training_fanout.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ray" else real_find_spec(name, *a),
    )
    jobs = queued_jobs(tmp_path, tmp_path)
    with pytest.raises(PrefbenchInputError) as error:
        train_adapter_jobs(jobs, RAY, 0, quiet_progress(len(jobs)))
    message = str(error.value)
    assert "pip install 'prefbench[ray]'" in message and "training.fanout.backend" in message
    assert read_manifest(tmp_path, "preference_agent", "ava") is None


@pytest.mark.parametrize(
    ("training", "expected"),
    [
        ({"fanout": {"backend": "rey"}}, "training.fanout.backend"),
        ({"fanout": {"backend": "rey"}}, "'local'"),
        ({"fanout": {"backend": "ray", "max_retries": -1}}, "training.fanout.max_retries"),
        ({"fanout": {"backend": "ray", "workers": 0}}, "training.fanout.workers"),
        ({"fanout": {"backed": "ray"}}, "training.fanout.backed"),
        ({"checkpoint_every": -2}, "training.checkpoint_every"),
    ],
)
def test_bad_fanout_settings_name_the_profile_field(training: dict, expected: str):
    with pytest.raises(PrefbenchInputError) as error:
        parse_profile(scripted_profile(training=training), Path("bad.yaml"))
    assert "bad.yaml" in str(error.value) and expected in str(error.value)


def test_fanout_and_checkpoints_change_no_key_and_no_adapter(tmp_path: Path):
    """A finished run re-run with Ray and checkpoints on reuses every eval and adapter."""
    call_log = tmp_path / "calls.log"
    context = scripted_run(tmp_path / "run", ablation_profile(call_log))
    context.adapter_trainer = RecordingTrainer()
    run_benchmark(context)
    assert context.adapters_trained == 4
    profile = ablation_profile(call_log)
    profile["training"] = {"fanout": {"backend": "ray", "address": "auto"}, "checkpoint_every": 1}
    again = scripted_run(tmp_path / "run", profile)
    again.adapter_trainer = RecordingTrainer()
    run_benchmark(again)
    assert again.recomputed_nothing


def test_the_dry_run_records_the_same_jobs_with_ray_asked_for(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(  # no ray needed
        training_fanout.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ray" else real_find_spec(name, *a),
    )
    profile = scripted_profile(
        systems=["small_zero_shot", "preference_agent", "naive_finetune"],
        reference_system="preference_agent",
    )
    local = parse_profile(profile, Path("local.yaml"))
    fanned = parse_profile(
        {**profile, "training": {"fanout": {"backend": "ray"}, "checkpoint_every": 2}},
        Path("ray.yaml"),
    )
    records = profile_records(local)
    plans = [plan_run(p, records) for p in (local, fanned)]
    jobs = [plan.total("training_jobs") for plan in plans]
    assert jobs == [4, 4]  # 2 adapter systems × 2 users


# --- SmolLM2 in-process and on a local Ray cluster (integration) -------------------------


@pytest.fixture(scope="module")
def base_model() -> Path:
    return smollm2_dir()


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance with two CPUs, shut down after the module."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def in_process_run(base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two users × two systems trained in-process, one after another on one base.

    On one torch thread, as each Ray worker of one CPU trains: the sums then run in the same
    order and the adapters are bit-identical (two threads change the last bits of the losses,
    and Adam turns that into visible changes of weights whose gradient is near zero).
    """
    import torch

    run_dir = tmp_path_factory.mktemp("in-process")
    jobs = queued_jobs(run_dir, base_model)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_adapter_jobs(jobs, LOCAL, 0, quiet_progress(len(jobs)))
    finally:
        torch.set_num_threads(threads)
    return run_dir


def adapter_config(adapter_dir: Path) -> dict:
    """The adapter's config, its `target_modules` sorted: peft writes the set that
    "all-linear" expands to in the process's hash order."""
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    return config


def assert_same_adapters(first_run: Path, second_run: Path) -> None:
    """Same manifests (input hash, settings, examples, steps, losses) and same adapters."""
    import torch
    from safetensors.torch import load_file

    for system in SYSTEMS:
        for user in USERS:
            first = read_manifest(first_run, system, user)
            second = read_manifest(second_run, system, user)
            assert first is not None and second is not None, (system, user)
            for field in ("input_hash", "base_model", "settings", "examples", "steps"):
                assert getattr(first, field) == getattr(second, field), (system, user, field)
            assert second.losses == first.losses
            folders = [
                run / "artifacts" / system / user / "adapter" for run in (first_run, second_run)
            ]
            configs = [adapter_config(folder) for folder in folders]
            assert configs[0] == configs[1]
            weights = [load_file(f / "adapter_model.safetensors") for f in folders]
            assert weights[0].keys() == weights[1].keys()
            for name in weights[0]:
                assert torch.equal(weights[0][name], weights[1][name]), (system, user, name)


@pytest.mark.integration
def test_ray_trains_the_same_adapters_as_in_process(
    ray_cluster, base_model: Path, in_process_run: Path, tmp_path: Path
):
    jobs = queued_jobs(tmp_path, base_model)
    progress = quiet_progress(len(jobs))
    manifests = train_adapter_jobs(jobs, RAY, 0, progress)
    assert len(manifests) == 4
    assert progress.console.file.getvalue().count(": trained (") == 4  # type: ignore[attr-defined]
    assert_same_adapters(in_process_run, tmp_path)
    assert queued_jobs(tmp_path, base_model) == []  # the Ray-trained adapters are current


@pytest.mark.integration
def test_a_killed_ray_worker_is_retried_and_resumes_from_its_checkpoint(
    ray_cluster, base_model: Path, in_process_run: Path, tmp_path: Path
):
    marker = tmp_path / "killed-once"
    jobs = queued_jobs(tmp_path / "run", base_model)
    manifests = train_adapter_jobs(
        jobs,
        RAY,
        1,
        quiet_progress(len(jobs)),
        make_trainer=lambda: KillOnceTrainer(marker, kill_at=2),
    )
    assert marker.exists(), "no worker was killed"
    assert len(manifests) == 4
    resumed = [m for m in manifests if m.resumed_from_step]
    assert [m.resumed_from_step for m in resumed] == [1]  # the killed adapter, from step 1
    assert_same_adapters(in_process_run, tmp_path / "run")
    assert not list((tmp_path / "run" / "artifacts").glob("*/.checkpoints/*"))
