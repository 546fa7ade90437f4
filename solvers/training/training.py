"""Name (or reuse) one user's adapter for a system, keyed by a hash of all its inputs.

A build step calls :func:`request_user_adapter` for each user once its shared work (drafts,
rules) is done: an adapter whose inputs are unchanged is kept, any other becomes an
`AdapterJob` in `BuildContext.adapter_jobs`, which the harness runs afterwards (in-process one
after another, or fanned out on Ray). :func:`ensure_user_adapter` trains one right away.
"""

import hashlib
import json
from collections.abc import Sequence

from prefbench.solvers.training.context import BuildContext
from prefbench.solvers.training.jobs import AdapterJob, run_adapter_job
from prefbench.solvers.training.lora import TrainingExample
from prefbench.solvers.training.manifest import AdapterManifest, read_manifest, tidy_user_artifacts


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


def plan_user_adapter(
    context: BuildContext,
    system: str,
    user: str,
    examples: Sequence[TrainingExample],
    details: dict | None = None,
) -> tuple[AdapterJob, AdapterManifest | None]:
    """The job that trains the user's adapter, and the installed manifest if it is current.

    When the installed adapter has the job's input hash, its old versions are tidied and its
    manifest returned: the job need not run.
    """
    if not examples:
        raise ValueError(f"no training examples for system {system}, user {user}")
    input_hash = training_input_hash(context.base_model_id, context.lora.to_dict(), examples)
    job = AdapterJob(
        run_dir=context.run_dir,
        system=system,
        user=user,
        base_model_dir=context.base_model_dir,
        base_model_id=context.base_model_id,
        settings=context.lora,
        examples=tuple(examples),
        input_hash=input_hash,
        details=dict(details or {}),
    )
    existing = read_manifest(context.run_dir, system, user)
    if existing is not None and existing.input_hash == input_hash:
        tidy_user_artifacts(context.run_dir, system, user)
        return job, existing
    return job, None


def request_user_adapter(
    context: BuildContext,
    system: str,
    user: str,
    examples: Sequence[TrainingExample],
    details: dict | None = None,
) -> None:
    """Keep the user's adapter if its inputs are unchanged, else queue its training job.

    The harness trains the queued jobs (`context.adapter_jobs`) after every build step's
    shared work, and installs each adapter with its manifest (`run_adapter_job`).
    """
    job, current = plan_user_adapter(context, system, user, examples, details)
    if current is not None:
        context.announce(f"{system} / {user}: adapter up to date")
    elif job.key not in {queued.key for queued in context.adapter_jobs}:
        context.adapter_jobs.append(job)  # once, although two systems may share a build step


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
    job, current = plan_user_adapter(context, system, user, examples, details)
    if current is not None:
        return current, False
    with context.training_progress(system, user) as on_step:
        manifest = run_adapter_job(job, context.train_adapter, on_step)
    return manifest, True
