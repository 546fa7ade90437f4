"""One adapter to train, as a self-contained job any executor can run: in-process or on Ray.

A build step names the adapters it needs
(`prefbench.solvers.training.training.request_user_adapter`); each becomes an :class:`AdapterJob`
that carries everything the training needs (paths, settings, examples, the input hash).
:func:`run_adapter_job` trains it, writes the adapter and its manifest into the run folder and
installs them in one step, wherever it runs: a worker on another node needs only the shared run
folder and the base model at the same path.
"""

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prefbench.core.memory import release_memory
from prefbench.solvers.training.lora import (
    Checkpointing,
    LoraSettings,
    StepCallback,
    TrainingExample,
    TrainingResult,
)
from prefbench.solvers.training.manifest import (
    ADAPTER_FOLDER,
    AdapterManifest,
    install_user_artifacts,
    user_checkpoints,
    write_manifest,
)


class AdapterTrainer(Protocol):
    """Trains and saves one adapter.

    `train_lora_adapter`, a `SharedBaseTrainer`, or the dry run's recorder (which writes a
    placeholder instead).
    """

    def __call__(
        self,
        base_model_dir: Path,
        examples: Sequence[TrainingExample],
        settings: LoraSettings,
        adapter_dir: Path,
        on_step: StepCallback | None = None,
        *,
        checkpoints: Checkpointing | None = None,
    ) -> TrainingResult:
        """Train on `examples` and save the adapter to `adapter_dir` (see `train_lora_adapter`)."""
        ...


TrainerFactory = Callable[[], AdapterTrainer]
"""Makes the trainer a worker trains its adapters with (one per worker process)."""


@dataclass(frozen=True)
class AdapterJob:
    """One (system, user) adapter to train, with every input it is trained from.

    `input_hash` (`training_input_hash`) covers the base model, the LoRA settings and the
    examples, nothing about where or how the job runs: it is the manifest's key.
    """

    run_dir: Path
    system: str
    user: str
    base_model_dir: Path
    base_model_id: str
    settings: LoraSettings
    examples: tuple[TrainingExample, ...]
    input_hash: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """(system, user, input hash): two requests with one key are one job."""
        return (self.system, self.user, self.input_hash)

    @property
    def label(self) -> str:
        """`system / user`, for progress lines and errors."""
        return f"{self.system} / {self.user}"

    @property
    def checkpoint_folder(self) -> Path:
        """Where this job's training checkpoints go (one folder per input hash)."""
        return user_checkpoints(self.run_dir, self.system, self.user) / self.input_hash[:16]


def run_adapter_job(
    job: AdapterJob,
    trainer: AdapterTrainer,
    on_step: StepCallback | None = None,
    checkpoint_every: int = 0,
) -> AdapterManifest:
    """Train `job` with `trainer` and install its adapter and manifest together.

    With `checkpoint_every` > 0 the training saves its state every that many steps into
    `job.checkpoint_folder` and resumes from there when an earlier attempt was killed; the
    user's checkpoints are removed once the adapter is installed. An exception leaves the
    installed pair (if any) as it was, and the checkpoints for the next attempt.
    """
    checkpoints = None
    if checkpoint_every:
        checkpoints = Checkpointing(job.checkpoint_folder, checkpoint_every)
    with install_user_artifacts(job.run_dir, job.system, job.user) as version:
        started = time.perf_counter()
        result = trainer(
            job.base_model_dir,
            job.examples,
            job.settings,
            version / ADAPTER_FOLDER,
            on_step,
            checkpoints=checkpoints,
        )
        device_seconds = time.perf_counter() - started
        release_memory()
        manifest = AdapterManifest(
            system=job.system,
            user=job.user,
            base_model=job.base_model_id,
            input_hash=job.input_hash,
            settings=job.settings.to_dict(),
            examples=len(job.examples),
            losses=result.losses,
            steps=result.steps,
            seconds=round(result.seconds, 2),
            device=result.device,
            device_seconds=round(device_seconds, 2),
            resumed_from_step=result.resumed_from_step,
            details={"trainable_parameters": result.trainable_parameters, **job.details},
        )
        write_manifest(version, manifest)
    shutil.rmtree(user_checkpoints(job.run_dir, job.system, job.user), ignore_errors=True)
    return manifest
