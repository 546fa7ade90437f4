"""Where a role's weights are on disk: one answer for serving and for training.

A role names its model by hub id (`vllm/meta-llama/Meta-Llama-3-8B-Instruct`) or by a local
folder (`hf//models/llama-3-8b`, or `model_path` for `hf/`); the profile may also give the
folder explicitly (`weights: /models/llama-3-8b`). `local_weights` finds the folder without
touching the network: the explicit `weights`, else the named folder, else the newest snapshot
of the hub id in the Hugging Face cache. The small model's adapters are trained on that
folder and served on the same one, so the adapters fit the served weights.

`weights_sha256` is what stage keys hold for such a role: the content hash of the folder
`local_weights` finds (`prefbench.core.content_hash.model_folder_sha256`, computed once per file
version and cached in the user cache), so the same weights in the Hugging Face cache, in
`/models/…` or on another machine are one model, and a copied run folder reuses its stages.

`require_trainable_small` is checked before any stage runs: a profile whose adapter systems
train a small model that is not on disk stops with an error naming the role and the fix.
"""

from pathlib import Path

from prefbench.core.content_hash import model_folder_sha256
from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.profile import ModelSpec, Profile

WEIGHT_MARKER = "config.json"
"""The file every Hugging Face model folder has (what `local_weights` looks for)."""
TRAINING_PROVIDERS = ("hf", "vllm")
"""Providers whose model prefbench can train adapters for (the weights are local)."""


def hub_id(spec: ModelSpec) -> str:
    """The model's name without its provider (`meta-llama/Meta-Llama-3-8B-Instruct`)."""
    return spec.model.split("/", 1)[1]


def cached_snapshot(repo_id: str) -> Path | None:
    """The Hugging Face cache's snapshot folder of `repo_id`, offline; None when absent."""
    from huggingface_hub import try_to_load_from_cache

    if repo_id.count("/") != 1 or repo_id.startswith(("/", ".")):
        return None  # not a hub id (a folder, or a name the hub cannot have)
    found = try_to_load_from_cache(repo_id, WEIGHT_MARKER)
    return Path(found).parent if isinstance(found, str) else None


def local_weights(spec: ModelSpec) -> Path | None:
    """The folder holding the spec's weights (see the module docstring); None when not found.

    Raises `PrefbenchInputError` when an explicit `weights` folder has no config.json.
    """
    if spec.weights is not None:
        folder = Path(spec.weights).expanduser()
        if not (folder / WEIGHT_MARKER).is_file():
            raise PrefbenchInputError(
                f"role model '{spec.model}': weights folder {folder} has no {WEIGHT_MARKER}; "
                "set `weights:` to a Hugging Face model folder (the one holding config.json "
                "and the *.safetensors files)"
            )
        return folder
    named = spec.model_args.get("model_path") or hub_id(spec)
    folder = Path(str(named)).expanduser()
    if (folder / WEIGHT_MARKER).is_file():
        return folder
    return cached_snapshot(str(named))


def weights_sha256(spec: ModelSpec) -> str | None:
    """The content hash of the spec's local weights folder; None when none is on disk."""
    folder = local_weights(spec)
    return None if folder is None else model_folder_sha256(folder)


def require_trainable_small(profile: Profile, source: Path | str) -> None:
    """Refuse a profile whose adapter systems cannot train the small model, before any stage.

    Adapter systems (those with `uses_adapter`, e.g. `naive_finetune`, `preference_agent`)
    train on the `small` role's weights: it must be an `hf/` or `vllm/` model whose weights
    are on disk. Planning models (a dry run) and the packaged offline model pass.
    """
    from prefbench.solvers import lookup_system

    trains = [name for name in profile.systems if lookup_system(name).uses_adapter]
    spec = profile.roles.get("small")
    if not trains or spec is None or spec.model.startswith(("offline/", "prefbench-")):
        return
    provider = spec.model.split("/", 1)[0]
    if provider not in TRAINING_PROVIDERS:
        raise PrefbenchInputError(
            f"profile {source}: systems {trains} train adapters on role small, but role small "
            f"is '{spec.model}', which is not served from local weights; set roles.small to an "
            "hf/ or vllm/ model whose weights are on disk, or drop those systems"
        )
    if local_weights(spec) is None:
        raise PrefbenchInputError(
            f"profile {source}: systems {trains} train adapters on role small "
            f"('{spec.model}'), but its weights are neither a local folder nor in the Hugging "
            f"Face cache; download them first (`huggingface-cli download {hub_id(spec)}`) or "
            "set roles.small.weights to the folder that holds them"
        )
