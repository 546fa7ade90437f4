"""Train (or reuse) one user's adapter for a system, keyed by a hash of all its inputs."""

import hashlib
import json
from collections.abc import Sequence

from core.memory import release_memory
from solvers.training.context import BuildContext
from solvers.training.lora import TrainingExample
from solvers.training.manifest import (
    ADAPTER_FOLDER,
    AdapterManifest,
    install_user_artifacts,
    read_manifest,
    tidy_user_artifacts,
    write_manifest,
)


def training_input_hash(
    base_model_id: str, settings: dict, examples: Sequence[TrainingExample]
) -> str:
    """sha256 over the base model, the LoRA settings and every training example."""
    payload = {
        "base_model": base_model_id,
        "settings": settings,
        "examples": [{"prompt": ex.prompt, "target": ex.target} for ex in examples],
    }
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def ensure_user_adapter(
    context: BuildContext,
    system: str,
    user: str,
    examples: Sequence[TrainingExample],
    details: dict | None = None,
) -> tuple[AdapterManifest, bool]:
    """The user's adapter for `system`, trained now unless an identical one exists.

    Returns the manifest and whether training ran. The adapter and its manifest are written
    into a new folder and installed together in one step (`install_user_artifacts`): an
    interrupted build leaves the previous pair, a finished one the new pair.
    """
    if not examples:
        raise ValueError(f"no training examples for system {system}, user {user}")
    settings = context.lora.to_dict()
    input_hash = training_input_hash(context.base_model_id, settings, examples)
    existing = read_manifest(context.run_dir, system, user)
    if existing is not None and existing.input_hash == input_hash:
        tidy_user_artifacts(context.run_dir, system, user)
        return existing, False
    with install_user_artifacts(context.run_dir, system, user) as version:
        with context.training_progress(system, user) as on_step:
            result = context.train_adapter(
                context.base_model_dir, examples, context.lora, version / ADAPTER_FOLDER, on_step
            )
        release_memory()
        manifest = AdapterManifest(
            system=system,
            user=user,
            base_model=context.base_model_id,
            input_hash=input_hash,
            settings=settings,
            examples=len(examples),
            losses=result.losses,
            steps=result.steps,
            seconds=round(result.seconds, 2),
            details={"trainable_parameters": result.trainable_parameters, **(details or {})},
        )
        write_manifest(version, manifest)
    return manifest, True
