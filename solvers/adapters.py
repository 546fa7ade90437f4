"""Per-user adapter models for solvers: find the adapter, derive a model from the role's base.

A solver asks for the adapter of `metadata.user` through the run's artifact store; the
model is derived from the role's base model, so whatever provider the profile chose for
`small` decides how the adapter is served:

- `hf/`: `prefbench-lora/<key>` (`prefbench.solvers.lora_engine`): every user's adapter on the
  role's one loaded base model, all users' samples generated in shared batches;
- `vllm/`: `vllm/<base>:<adapter dir>` on the base's server, the adapter's folder as an
  absolute path with links resolved (the version folder the user's link points to), so a server
  started elsewhere finds it and a rebuilt adapter gets a new name on a running server;
- `prefbench-mock/`: the scripted test model (control-flow tests only);
- `prefbench-plan/`: the dry run's planning model (`prefbench.harness.cost.probe`, or an inspect
  model of `prefbench.harness.cost.planning_model`), told the adapter and the role so its
  answers and logs can name them.

Models are memoized per adapter while a generation stage runs; the harness calls
`release_adapter_models()` after each stage, which frees them (the `hf/` engines and their
adapters included) so memory does not grow from stage to stage.
"""

from pathlib import Path

from inspect_ai.model import Model, get_model

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.memory import release_memory
from prefbench.core.model_close import close_models, provider_of
from prefbench.solvers.lora_engine import LORA_PROVIDER, release_engines, shared_engine
from prefbench.solvers.training.manifest import (
    ADAPTER_FOLDER,
    AdapterManifest,
    read_manifest,
    user_artifacts,
)

_adapter_models: dict[str, Model] = {}


def require_manifest(run_dir: Path, system: str, user: str) -> AdapterManifest:
    """The user's adapter manifest; an input error naming the build command when absent."""
    manifest = read_manifest(run_dir, system, user)
    if manifest is None:
        raise PrefbenchInputError(
            f"no adapter for system '{system}' and user '{user}' in {run_dir}/artifacts: "
            f"run `prefbench build {system} --run {run_dir}` (or `prefbench run`) first."
        )
    return manifest


def adapter_hashes(run_dir: Path, system: str, users: list[str]) -> dict[str, str]:
    """Each user's adapter hash (what generation stage keys depend on); input error if absent."""
    return {user: require_manifest(run_dir, system, user).adapter_hash for user in users}


def adapter_model(role: str, run_dir: Path, system: str, user: str) -> tuple[Model, str]:
    """The role's base model with the user's adapter, and the adapter hash."""
    manifest = require_manifest(run_dir, system, user)
    adapter_path = (user_artifacts(run_dir, system, user) / ADAPTER_FOLDER).resolve()
    key = f"{system}/{user}/{manifest.adapter_hash}"
    if key not in _adapter_models:
        base = get_model(role=role)
        _adapter_models[key] = _derive_adapter_model(base, adapter_path, key, role)
    return _adapter_models[key], manifest.adapter_hash


def preload_adapters(base: Model, run_dir: Path, system: str, users: list[str]) -> None:
    """Load the users' adapters of `system` onto the `hf/` `base`'s engine before an eval.

    Loading an adapter inside a solver blocks the event loop, so samples whose adapters load
    later miss the batch the others started; loaded beforehand, all samples of all systems
    reach the engine at once. Other providers load nothing here (their adapters are served).
    """
    if not str(base).startswith("hf/"):
        return
    engine = shared_engine(base)
    for user in users:
        require_manifest(run_dir, system, user)
        engine.add_adapter(user_artifacts(run_dir, system, user) / ADAPTER_FOLDER)


def _derive_adapter_model(base: Model, adapter_path: Path, key: str, role: str) -> Model:
    provider = str(base).split("/", 1)[0]
    model_args = dict(base.model_args)
    if provider == "hf":
        return get_model(
            f"{LORA_PROVIDER}/{key}",
            config=base.config,
            memoize=False,
            base=base,
            adapter_path=str(adapter_path),
        )
    if provider == "vllm":
        return get_model(
            f"vllm/{base.name}:{adapter_path}",
            config=base.config,
            memoize=False,
            base_url=base.explicit_base_url,
            api_key=base.api.api_key,
            **model_args,
        )
    if provider == "prefbench-mock":
        return get_model(f"prefbench-mock/{key}", config=base.config, memoize=False, **model_args)
    if provider == "prefbench-plan":
        derive = getattr(base, "with_adapter", None)
        if derive is not None:  # the dry run's probe model answers for its adapters itself
            return derive(key, role)
        model_args.update(adapter=key, adapter_role=role)
        return get_model(str(base), config=base.config, memoize=False, **model_args)
    raise PrefbenchInputError(
        f"adapter systems need a local small model served by hf/ or vllm/, not '{base}'. "
        "Set the profile's `small` role to an hf/ or vllm/ model."
    )


def release_adapter_models() -> None:
    """Close every adapter model loaded so far and free its memory."""
    models = list(_adapter_models.values())
    _adapter_models.clear()
    held_weights = close_models(models, keep_servers=True)
    held_weights |= any(provider_of(model) == LORA_PROVIDER for model in models)
    release_engines()
    if held_weights:
        release_memory()
