"""Profiles: which models fill each role, which data, systems, judge and training settings.

A profile is a YAML file validated once, here, into typed settings (docs/design.md §3). The
resolved profile is written into the run folder as `profile.yaml`. Every profile file, a
built-in one, a user's or a run folder's, is read by `load_yaml_file`, which refuses YAML
aliases (``*name``: a few lines of them expand into gigabytes, the "billion laughs") and turns
a YAML error into a `PrefbenchInputError` naming the file and the fix.
"""

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from inspect_ai.model import BatchConfig
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.serving.placement import check_placement
from prefbench.scorers.outcome import TIE_POLICIES
from prefbench.scorers.registry import (
    JudgeSettingsModel,
    all_judges,
    lookup_judge,
    register_judge_config,
    registered_names,
)
from prefbench.solvers.training.lora import LoraSettings
from prefbench.tasks.intents import TEMPERATURES

PROFILES_DIR = Path(__file__).parent / "profiles"
PIPELINE_ROLES = {
    "small": "the pipeline (adapters train on it; long texts are counted with its tokenizer)",
    "large": "the pipeline (the intents stage)",
}
"""Roles every profile sets. Every other role a profile may set is one a registered system
or judge declares (`role_declarations`), e.g. `judge` (the `llm` judge) or `rule_writer`
(`cross_family_agent`, optional: the `large` model when absent)."""
SERVER_URL_PROVIDERS = ("vllm", "openai-api", "openai", "anthropic")
"""Providers a role can point at an already-running server with `base_url`."""
RUN_PROFILE_FIX = (
    "restore it from a backup, or start the run again with `prefbench run --profile PROFILE "
    "--out RUN_FOLDER` (finished stages are redone from the run's cache)"
)
"""What to do about a run folder's unreadable `profile.yaml`."""


class _AliasRefused(yaml.YAMLError):
    """A YAML alias met while composing a document (see `_NoAliasLoader`)."""

    def __init__(self, alias: str, line: int) -> None:
        super().__init__(f"alias *{alias} on line {line}")
        self.alias = alias
        self.line = line


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing every alias before anything is expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _AliasRefused(event.anchor, event.start_mark.line + 1)
        return super().compose_node(parent, index)


class _NoAliasDumper(yaml.SafeDumper):
    """PyYAML's safe dumper writing a repeated value out again instead of as an alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def load_yaml_file(path: Path, *, what: str = "profile", fix: str = "fix the file") -> Any:
    """Parse one YAML file safely (no Python objects, no aliases); its data.

    Raises `PrefbenchInputError` naming `path` (described as `what`) and `fix` when the file
    cannot be read, is not UTF-8, is not valid YAML, or uses an alias (``*name``, a merge
    ``<<: *name`` included): aliases are refused outright, as a few of them nested expand
    into gigabytes of data ("billion laughs"); write the repeated value out in full instead.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PrefbenchInputError(
            f"{what} {path} is not UTF-8 text ({error.reason} at byte {error.start}); {fix}"
        ) from None
    except OSError as error:
        raise PrefbenchInputError(
            f"{what} {path} cannot be read ({error.strerror or error}); {fix}"
        ) from None
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except _AliasRefused as error:
        raise PrefbenchInputError(
            f"{what} {path}, line {error.line}: YAML alias *{error.alias} refused (aliases can "
            f"expand a small file without bound); write the value out in full instead of "
            f"*{error.alias} (and drop its &{error.alias} anchor), or {fix}"
        ) from None
    except yaml.YAMLError as error:
        raise PrefbenchInputError(f"{what} {path} is not valid YAML ({error}); {fix}") from None
    except RecursionError:
        raise PrefbenchInputError(
            f"{what} {path} nests lists or mappings too deeply to read; {fix}"
        ) from None


def read_run_profile(path: Path, judge_kind: str | None = None) -> "Profile":
    """A run folder's `profile.yaml`, validated; with `judge_kind`, that judge added to it.

    The judge is added after the profile's own judges (never in place of one); a judge the
    profile already has is not added twice. The new judge takes the primary judge's tie
    policy, batch setting and judge sections (`with_judge`).

    Raises `PrefbenchInputError` naming the file and the fix when it is unreadable, corrupt
    or invalid.
    """
    raw = load_yaml_file(path, what="the run folder's profile", fix=RUN_PROFILE_FIX)
    profile = parse_profile(raw, path)
    if judge_kind is None or profile.judge_named(judge_kind) is not None:
        return profile
    return parse_profile(with_judge(raw, judge_kind), path)


def with_judge(raw: dict[str, Any], judge_kind: str) -> dict[str, Any]:
    """A profile's parsed YAML with one more judge in `judges` (a `judge:` becomes a list).

    The new entry copies the first judge's settings (tie policy, batch, per-judge sections),
    with its own `kind` and no multi-candidate form.
    """
    judges = [dict(entry) for entry in raw.get("judges") or [raw.get("judge") or {}]]
    added = {key: value for key, value in judges[0].items() if key != "multi_candidate"}
    rest = {key: value for key, value in raw.items() if key not in ("judge", "judges")}
    return {**rest, "judges": [*judges, {**added, "kind": judge_kind}]}


class StrictModel(BaseModel):
    """Unknown keys are errors, so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid")


class ModelSpec(StrictModel):
    """One role's model, its model args and its generate config.

    `model` is an inspect model name (`hf/...`, `openai/gpt-4o`, `vllm/...`) or
    `offline/smollm2`, the packaged SmolLM2-135M-Instruct (docs/design.md §3).
    """

    model: str
    model_args: dict[str, Any] = {}
    config: dict[str, Any] = {}
    weights: str | None = None
    """The folder of the model's weights, when not the named folder or the hub id's Hugging
    Face cache snapshot; the small model is trained and served on the same folder."""
    devices: list[int] | None = Field(None, min_length=1)
    """The GPUs the role owns (CUDA indices): a `vllm/` server runs on them (tensor parallel
    over all unless `tensor_parallel_size` is set), an `hf/` model on the first."""
    base_url: str | None = None
    """An OpenAI-compatible server that is already running (`vllm/`, `openai-api/`,
    `openai/`): the role is served there and nothing is started."""
    api_key_env: str | None = None
    """The environment variable holding the role's API key (never written to a log)."""
    startup_timeout: int | None = Field(None, ge=1)
    """Seconds to wait for a `vllm/` server inspect starts (inspect's default: 10 minutes)."""
    tokens_per_minute: int | None = Field(None, ge=1)
    """The most tokens a minute the role's calls may book (input + `max_tokens`): calls wait
    so the role stays under its provider's limit (`harness/serving/token_rate.py`). How many
    run at once is the role's `config.max_connections`."""

    @field_validator("model")
    @classmethod
    def _provider_named(cls, value: str) -> str:
        if "/" not in value:
            raise ValueError(
                f"model '{value}' must be written provider/name, e.g. hf/..., openai/gpt-4o"
            )
        return value

    @model_validator(mode="after")
    def _placement_fits_provider(self) -> "ModelSpec":
        provider = self.model.split("/", 1)[0]
        if self.devices is not None:
            if len(set(self.devices)) != len(self.devices) or min(self.devices) < 0:
                raise ValueError(f"devices {self.devices} must be distinct GPU indices (0, 1, ...)")
            if provider == "hf" and len(self.devices) > 1:
                raise ValueError(
                    f"an hf/ model runs on one GPU, devices lists {self.devices}; give one "
                    "device, or serve the model with vllm/ for tensor parallelism"
                )
            if self.base_url is not None:
                raise ValueError(
                    "a role served at base_url runs on that server's GPUs; remove `devices` "
                    "(or `base_url` to let prefbench start the server)"
                )
        if provider == "vllm" and "model_path" in self.model_args:
            raise ValueError(
                "vllm/ takes no model_path (`vllm serve` refuses --model-path); set `weights:` "
                "to the folder instead"
            )
        if self.base_url is not None and provider not in SERVER_URL_PROVIDERS:
            raise ValueError(
                f"base_url needs an OpenAI-compatible provider {list(SERVER_URL_PROVIDERS)}, "
                f"not '{provider}/'"
            )
        return self


class DatasetSpec(StrictModel):
    """Where the records come from: the synthetic demo corpus, or a prepared records file."""

    kind: Literal["demo", "records"]
    personas: int = 3
    records_per_persona: int = 10
    test_fraction: float = 0.2
    path: str | None = None


DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A name in `datasets`: it names the dataset's sub-folder of the run and its report column."""
RUN_FOLDER_ENTRIES = frozenset({"data", "logs", "artifacts", "cache", "figures", "corrupt"})
"""Names a run folder uses for itself, so no dataset's sub-folder may take them."""
ROLE_CONTEXT_ARG = "max_model_len"
"""The model arg that states a role's context window in tokens (vLLM's name)."""
PACKAGED_CONTEXT_TOKENS = {"offline/smollm2": 8192}
"""Context windows of the packaged offline models (SmolLM2's max_position_embeddings)."""
PROMPT_RESERVE_TOKENS = 512
"""Tokens kept free for a prompt's instructions and metadata when deriving `max_text_tokens`."""


class LongTextPolicy(StrictModel):
    """What happens to a text longer than `max_text_tokens`, before any model sees it.

    `policy: truncate` cuts the text (and a previous-context thread) to `max_text_tokens`
    and records the original length in the record's `truncated` metadata; `drop` leaves the
    record out and counts it. Without `max_text_tokens` the limit is derived from the roles'
    context windows (`derived_max_text_tokens`). Tokens are counted with the small model's
    tokenizer when it is on disk, else about four characters per token.
    """

    policy: Literal["truncate", "drop"] = "truncate"
    max_text_tokens: int | None = Field(None, ge=16)


class ThroughputSettings(StrictModel):
    """The GPU speed the dry run's GPU-hours forecast assumes (docs/cost.md, "GPU-hours").

    Rates are for a model of `reference_billions` parameters on one GPU; a model of P billion
    parameters on G GPUs (its `devices`) is taken to run at rate × reference / P × G (decoding
    is bound by reading the weights). The defaults: `output_tokens_per_second` is what plain
    transformers `generate` of an 8B bf16 model gave on one H200 at batch 32 (1,220 tokens/s,
    docs/design.md §5; vLLM's continuous batching usually does better, so it is a cautious
    figure); `input_tokens_per_second` assumes a prompt is read 10× faster than tokens are
    written (prefill runs all its tokens in one pass); `training_seconds_per_step` is QLoRA of an
    8B model, r = alpha = 256, batch 1 × 2,048 tokens on one H100 (1.17 s,
    docs/architecture.md, "Performance notes"). `model_billions` names the size of a role's
    model by role where its name does not say it (e.g. `{judge: 70}`).
    """

    output_tokens_per_second: float = Field(1220.0, gt=0)
    input_tokens_per_second: float = Field(12200.0, gt=0)
    reference_billions: float = Field(8.0, gt=0)
    training_seconds_per_step: float = Field(1.17, gt=0)
    model_billions: dict[str, PositiveFloat] = {}


class GenerationSettings(StrictModel):
    """Token budgets and concurrency of the generation stages."""

    max_tokens: int = Field(128, ge=8)
    rules_max_tokens: int = Field(128, ge=8)
    intent_max_tokens: int = Field(96, ge=8)
    intent_temperatures: list[PositiveFloat] = Field(
        default_factory=lambda: list(TEMPERATURES), min_length=1
    )
    """One intent variant per temperature (each > 0); a seeded rule keeps one of them."""
    few_shot_k: int = Field(3, ge=1)
    max_samples: int = Field(32, ge=1)


JUDGE_FILE_SUFFIXES = (".yaml", ".yml")


def register_judge_file(path: str | Path) -> str:
    """Register the YAML judge file at `path`; its judge's name.

    A judge file (Arena-Hard's one YAML per judge) names a judge and presets the settings
    of the judge it is built on: `name` (letters, digits, `_`, `-`), `base` (a registered
    judge, default `llm`), an optional `description`, and any of the base's settings, e.g.
    `role`, `temperature`, `prompt` (a template file, relative to the YAML file),
    `verdict_pattern`, `max_tokens` (`prefbench.scorers.builtin_judges.LlmJudgeSettings`).
    Bad files are an input error naming the file and the field.
    """
    data = load_yaml_file(Path(path), what="judge file", fix="fix the judge file")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise PrefbenchInputError(
            f"judge file {path} must be a mapping with a `name:` (and the base judge's "
            "settings, e.g. prompt: my_prompt_v1.txt); see docs/judges.md"
        )
    settings = {key: value for key, value in data.items() if key not in ("name", "base")}
    settings.pop("description", None)
    base = data.get("base", "llm")
    return register_judge_config(
        name=data["name"], base=str(base), settings=settings, source=path
    ).name


class JudgeSettings(StrictModel):
    """Which judge scores the pairs, how order-inconsistent pairs count, and judge settings.

    `kind` names a registered judge (`prefbench.scorers.registry`: `similarity`, `llm` or a
    plug-in's) or a YAML judge file (`register_judge_file`; relative to the current folder).
    A judge's settings go in a section named after it: `llm: {max_tokens: 512}`,
    `similarity: {num_layers: 6}`, a plug-in's or a judge file's under its name, each
    validated by that judge's settings model, so two judges' settings never collide (a
    plug-in's `retry: 2` is not the `llm` judge's `retry`). A setting written directly under
    `judge:` (the older form) belongs to the chosen judge when it declares it (validated by
    it); one it does not declare but another judge does is kept for when `prefbench judge
    --judge` switches to that judge, and validated then; one no judge declares is an error.
    A section's setting wins over the same setting written directly. `typed_settings(metrics)`
    gives the chosen judge's typed settings.
    """

    model_config = ConfigDict(extra="allow")

    kind: str = "similarity"
    tie_policy: str = "inconsistent_is_tie"
    multi_candidate: bool = False
    batch: bool | int | BatchConfig = False
    """Send the judge role's calls through the provider's batch API (inspect's `batch`:
    true, a batch size, or a mapping of `BatchConfig` fields such as `size`, `send_delay`,
    `tick`). Providers with a batch API in inspect (`openai/`, `anthropic/`, ...) answer at
    their batch rate (`harness/cost/prices.yaml` `batch_discounts`); the others ignore it. It is
    left out of stage and cache keys: a batched answer is the same answer. Without a `size`,
    a judge stage sends all its first calls in as few batches as the provider allows."""

    @field_validator("kind")
    @classmethod
    def _registered_judge(cls, value: str) -> str:
        try:
            if value.endswith(JUDGE_FILE_SUFFIXES):
                register_judge_file(value)
            lookup_judge(value)
        except PrefbenchInputError as error:
            raise ValueError(str(error)) from error
        return value

    @field_validator("tie_policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in TIE_POLICIES:
            raise ValueError(f"unknown tie policy '{value}'; choose one of {list(TIE_POLICIES)}")
        return value

    def _sections(self) -> dict[str, dict[str, Any]]:
        """The per-judge sections: extra keys named after a registered judge, with a mapping.

        The validator loads every plug-in first (`all_judges`), so the registry is complete.
        """
        names = registered_names()
        return {
            name: dict(value)
            for name, value in (self.model_extra or {}).items()
            if isinstance(value, dict) and name in names
        }

    def _flat(self) -> dict[str, Any]:
        """Settings written directly under `judge:` (not in a judge's section)."""
        sections = self._sections()
        return {k: v for k, v in (self.model_extra or {}).items() if k not in sections}

    @model_validator(mode="after")
    def _judge_settings_known(self) -> "JudgeSettings":
        chosen = lookup_judge(self.kind)
        if self.multi_candidate and chosen.multi_candidate is None:
            raise ValueError(
                f"judge '{chosen.name}' has no multi-candidate form; set multi_candidate: false "
                "or choose a judge that has one"
            )
        extra = dict(self.model_extra or {})
        if not extra:
            return self
        judges = {definition.name: definition for definition in all_judges()}  # loads plug-ins
        declared = {
            name for definition in judges.values() for name in definition.settings.model_fields
        }
        unknown = sorted(set(self._flat()) - declared)
        if unknown:
            raise ValueError(
                f"unknown judge setting(s) {unknown}: judge '{chosen.name}' takes "
                f"{sorted(chosen.settings.model_fields)}; the judges are {sorted(judges)}, whose "
                "settings go in a section named after each (e.g. `llm: {max_tokens: 512}`)"
            )
        for name, values in self._sections().items():
            try:
                judges[name].parse_settings(values)
            except PrefbenchInputError as error:
                raise ValueError(f"judge.{name}: {error}") from error
        try:
            self.typed_settings(None)
        except PrefbenchInputError as error:
            raise ValueError(str(error)) from error
        return self

    @property
    def name(self) -> str:
        """The judge's registered name (a YAML judge file's `name:`, not its path)."""
        return lookup_judge(self.kind).name

    def batch_setting(self) -> bool | int | dict[str, Any]:
        """`batch` as inspect's `GenerateConfig.batch` takes it, in plain JSON values."""
        if isinstance(self.batch, BatchConfig):
            return self.batch.model_dump(exclude_none=True)
        return self.batch

    def typed_settings(self, metrics: "MetricsSettings | None") -> JudgeSettingsModel:
        """The chosen judge's settings: its section, the direct ones it declares, `metrics`.

        In that order of precedence; a setting left out everywhere takes the value of the
        `metrics` entry of the same name (the similarity judge's `encoder` and `num_layers`),
        else the judge's (or its judge file's) default.
        """
        definition = lookup_judge(self.kind)
        fields = definition.settings.model_fields
        inherited = {
            name: value
            for name, value in (metrics.model_dump() if metrics else {}).items()
            if name in fields
        }
        flat = {name: value for name, value in self._flat().items() if name in fields}
        section = self._sections().get(definition.name, {})
        return definition.parse_settings({**inherited, **flat, **section})


class MetricsSettings(StrictModel):
    """Similarity metrics of every system's outputs against the ground truth.

    `encoder` is a local Hugging Face encoder folder for BERTScore (default: the packaged
    MiniLM); `personalization_system` names the system whose per-user agents are crossed
    with every user's test set (the K×K matrix), or null to skip that stage.
    """

    encoder: str | None = None
    num_layers: int = Field(6, ge=1)
    text_metrics: bool = True
    personalization_system: str | None = None


class ModelPrice(StrictModel):
    """US dollars per million tokens of one model (for cost estimates).

    `batch_discount` is the share taken off both prices for calls sent through the
    provider's batch API (0.5: half price); None: the provider's entry in `prices.yaml`.
    """

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)
    batch_discount: float | None = Field(None, ge=0, lt=1)


IN_PROCESS_PROVIDERS = ("hf", "offline", "prefbench-mock", "prefbench-plan")
"""Providers that answer in this process: no requests, so no retry or timeout policy."""


class ProviderPolicy(StrictModel):
    """Retries, backoff and timeouts of one provider's calls; every total is bounded.

    `max_retries` retries after the first attempt; `timeout` the seconds one call may take,
    retries and backoff included; `attempt_timeout` the seconds one attempt may take before
    it is abandoned and retried; backoff waits `backoff_initial` seconds, doubling up to
    `backoff_max` (plus up to `backoff_initial` of jitter); `max_connections` the concurrent
    requests (None: inspect's adaptive default).
    """

    max_retries: int = Field(5, ge=0, le=50)
    timeout: int = Field(1800, ge=1, le=86_400)
    attempt_timeout: int | None = Field(600, ge=1)
    backoff_initial: float = Field(3.0, gt=0)
    backoff_max: float = Field(60.0, gt=0)
    max_connections: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _bounded(self) -> "ProviderPolicy":
        if self.attempt_timeout is not None and self.attempt_timeout > self.timeout:
            raise ValueError(
                f"attempt_timeout ({self.attempt_timeout} s) is longer than timeout "
                f"({self.timeout} s, the whole call with its retries): lower attempt_timeout "
                "or raise timeout"
            )
        if not self.backoff_initial <= self.backoff_max <= self.timeout:
            raise ValueError(
                f"backoff must satisfy backoff_initial ({self.backoff_initial}) <= backoff_max "
                f"({self.backoff_max}) <= timeout ({self.timeout}): fix these settings"
            )
        return self


class ErrorPolicy(StrictModel):
    """What a stage does with failed model calls and failed samples (docs/error_policy.md).

    `fail_on_error`: `true` (default) stops a stage at its first failed sample; a fraction
    in (0, 1) stops it once that share of its samples failed; a whole count N >= 1 once N
    samples failed. `retry_on_error`: times a failed sample is run again within the eval
    (its finished calls come from the cache). `default` is every remote provider's call
    policy; `providers` overrides it field by field per provider (`openai`, `vllm`, ...).
    """

    fail_on_error: bool | int | float = True
    retry_on_error: int = Field(1, ge=0, le=10)
    default: ProviderPolicy = ProviderPolicy()
    providers: dict[str, dict[str, Any]] = {}

    @field_validator("fail_on_error")
    @classmethod
    def _threshold(cls, value: bool | int | float) -> bool | int | float:
        if isinstance(value, bool):
            return value
        if isinstance(value, float) and 0 < value < 1:
            return value
        if float(value).is_integer() and value >= 1:
            return int(value)
        raise ValueError(
            f"{value!r} is neither a fraction in (0, 1) nor a whole count >= 1: use e.g. 0.05 "
            "(stop once 5 % of a stage's samples failed), 3 (once three failed), or true "
            "(at the first failed sample)"
        )

    @model_validator(mode="after")
    def _provider_policies(self) -> "ErrorPolicy":
        for provider in self.providers:
            if provider in IN_PROCESS_PROVIDERS:
                raise ValueError(
                    f"provider {provider} answers in this process and takes no retry policy: "
                    f"remove errors.providers.{provider}"
                )
            try:
                self.for_provider(provider)
            except ValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(str(part) for part in item['loc']) or provider}: {item['msg']}"
                    for item in error.errors()
                )
                raise ValueError(f"errors.providers.{provider}: {problems}") from None
        return self

    def for_provider(self, provider: str) -> ProviderPolicy:
        """The call policy of `provider`: `default` with the provider's entries over it."""
        given = self.providers.get(provider, {})
        return ProviderPolicy.model_validate({**self.default.model_dump(), **given})


FANOUT_BACKENDS = ("local", "ray")


class TrainingFanout(StrictModel):
    """Where the adapters of a build train (`harness.training.fanout`); never part of a key.

    `backend: local` trains them in-process, one after another on one loaded base. `backend:
    ray` runs one task per adapter on Ray (`pip install 'prefbench[ray]'`): one per GPU, or per
    CPU without GPUs, at most `workers` at once; `address` is the cluster's (`auto`: the one
    `ray start` began on this node; `ray://HOST:10001`; none: an existing local one, else a new
    one); a worker that dies is retried up to `max_retries` times.
    """

    backend: str = "local"
    address: str | None = None
    max_retries: int = Field(default=2, ge=0, le=100)
    workers: int | None = Field(default=None, ge=1)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, backend: str) -> str:
        if backend not in FANOUT_BACKENDS:
            raise ValueError(
                f"{backend!r} is no training backend; set training.fanout.backend to 'local' "
                "(in-process, one adapter after another) or 'ray' (one task per adapter on a "
                "Ray cluster, `pip install 'prefbench[ray]'`)"
            )
        return backend


class TrainingSettings(StrictModel):
    """LoRA/QLoRA settings of every adapter (see `prefbench.solvers.training.lora.LoraSettings`).

    `fanout` and `checkpoint_every` say how the adapters train, not what they are: they are
    in no input hash or stage key, so changing them reuses every finished adapter.
    """

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    learning_rate: float = 3e-4
    max_steps: int = 4
    batch_size: int = 4
    max_seq_len: int = 384
    quantization: Literal["none", "nf4"] = "none"
    fanout: TrainingFanout = TrainingFanout()
    checkpoint_every: int = Field(default=0, ge=0)
    """Save an adapter's training state every that many steps (0: never); a killed build
    resumes each unfinished adapter from its last checkpoint."""

    def lora(self, seed: int) -> LoraSettings:
        """The trainer's settings object."""
        return LoraSettings(
            rank=self.rank,
            alpha=self.alpha,
            dropout=self.dropout,
            learning_rate=self.learning_rate,
            max_steps=self.max_steps,
            batch_size=self.batch_size,
            max_seq_len=self.max_seq_len,
            seed=seed,
            quantization=self.quantization,
        )


class Profile(StrictModel):
    """A whole benchmark configuration."""

    name: str
    seed: int = 0
    dataset: DatasetSpec | None = None
    """The one dataset of a run (or `datasets`, several, each run in its own sub-folder)."""
    datasets: dict[str, DatasetSpec] | None = None
    """Several datasets by name (the paper's Table 1): `runs/NAME/<dataset>/` each."""
    long_texts: LongTextPolicy | None = None
    """How texts longer than the models' context are handled; None: texts pass whole."""
    roles: dict[str, ModelSpec]
    systems: list[str]
    reference_system: str = "preference_agent"
    judges: list[JudgeSettings] = Field(default_factory=lambda: [JudgeSettings()], min_length=1)
    """The judges, each judging every pair on its own (one leaderboard each); the first is
    the primary judge. A profile may give one judge as `judge:` instead (read as a list of
    one, and written back so)."""
    generation: GenerationSettings = GenerationSettings()
    training: TrainingSettings = TrainingSettings()
    metrics: MetricsSettings = MetricsSettings()
    errors: ErrorPolicy = ErrorPolicy()
    """Retries, timeouts and tolerated failed samples (docs/error_policy.md)."""
    prices: dict[str, ModelPrice] = {}
    max_cost: float | None = Field(None, gt=0)
    """A ceiling in US dollars: a run whose forecast is above it does not start, and a stage
    that could take the spend over it is not started (`prefbench.harness.cost.guard`);
    `prefbench run --max-cost` overrides it."""
    throughput: ThroughputSettings = ThroughputSettings()
    """What the dry run's GPU-hours forecast assumes about the GPUs' speed."""
    system_options: dict[str, dict[str, Any]] = {}
    """Solver options by system, e.g. `{few_shot: {k: 5}}`; they override the `generation`
    settings offered to every system (`prefbench.harness.stages.generation.system_options`)."""

    @model_validator(mode="before")
    @classmethod
    def _one_judge_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and "judge" in data:
            if "judges" in data:
                raise ValueError("give either `judge:` (one judge) or `judges:` (a list), not both")
            data = {**data, "judges": [data["judge"]]}
            del data["judge"]
        return data

    @field_validator("judges")
    @classmethod
    def _judges_differ(cls, judges: list[JudgeSettings]) -> list[JudgeSettings]:
        names = [judge.name for judge in judges]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"judge(s) {twice} listed twice in `judges`; list each once")
        return judges

    @property
    def judge(self) -> JudgeSettings:
        """The primary judge (the first of `judges`)."""
        return self.judges[0]

    def judge_named(self, kind: str) -> JudgeSettings | None:
        """The profile's judge that `kind` (a judge's name or a YAML judge file) names."""
        if kind.endswith(JUDGE_FILE_SUFFIXES):
            register_judge_file(kind)
        name = lookup_judge(kind).name
        return next((judge for judge in self.judges if judge.name == name), None)

    @field_validator("system_options")
    @classmethod
    def _options_of_profile_systems(
        cls, options: dict[str, dict[str, Any]], info: ValidationInfo
    ) -> dict[str, dict[str, Any]]:
        unknown = sorted(set(options) - set(info.data.get("systems", [])))
        if unknown:
            raise ValueError(f"system(s) {unknown} are not in `systems`")
        return options

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: dict[str, ModelSpec]) -> dict[str, ModelSpec]:
        declared = role_declarations(plugins=False)
        if not set(roles) <= declared.keys():  # a plug-in's role: load the plug-ins
            declared = role_declarations(plugins=True)
        unknown = sorted(set(roles) - declared.keys())
        if unknown:
            who = "; ".join(f"{role}: {', '.join(by)}" for role, by in sorted(declared.items()))
            raise ValueError(
                f"unknown role(s) {unknown}: no registered system or judge declares them. "
                f"The roles and who uses them: {who}"
            )
        missing = sorted(PIPELINE_ROLES.keys() - set(roles))
        if missing:
            raise ValueError(f"missing role(s) {missing}")
        return roles


def role_declarations(*, plugins: bool = True) -> dict[str, list[str]]:
    """Every role a profile may set, and who uses it: the pipeline, systems, judges.

    With `plugins` False, only the systems and judges registered so far are asked.
    """
    from prefbench.solvers.registry import all_systems

    declared: dict[str, list[str]] = {role: [use] for role, use in PIPELINE_ROLES.items()}
    for system in all_systems(plugins=plugins):
        for role in (*system.roles, *system.optional_roles):
            declared.setdefault(role, []).append(f"system {system.name}")
    for definition in all_judges(plugins=plugins):
        for role in definition.roles:
            declared.setdefault(role, []).append(f"judge {definition.name}")
    return declared


def _validation_message(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def load_profile(name_or_path: str) -> tuple[Profile, Path]:
    """A profile by name (`demo`, `paper`) or YAML path, validated; and where it was read from.

    Unknown keys, roles, systems or judges are input errors naming the file and the key.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
            raise PrefbenchInputError(
                f"unknown profile '{name_or_path}'; built-in profiles: {known}, "
                "or give the path of a YAML file"
            )
    if not path.exists():
        raise PrefbenchInputError(f"profile file {path} does not exist")
    raw = load_yaml_file(path, fix="fix the file (see the built-in harness/profiles/demo.yaml)")
    return parse_profile(raw, path), path


def parse_profile(raw: Any, source: Path) -> Profile:
    """Validate a profile's parsed YAML; `source` names it in error messages."""
    try:
        profile = Profile.model_validate(raw)
    except ValidationError as error:
        raise PrefbenchInputError(
            f"profile {source} is invalid; fix these entries:\n{_validation_message(error)}"
        ) from error
    from prefbench.solvers import lookup_system

    for system in profile.systems:
        try:
            roles = lookup_system(system).roles
        except PrefbenchInputError as error:
            raise PrefbenchInputError(f"profile {source}: {error}") from error
        missing = [role for role in roles if role not in profile.roles]
        if missing:
            raise PrefbenchInputError(
                f"profile {source}: system '{system}' calls the role(s) {missing}, which the "
                f"profile does not set; add roles.{missing[0]} (a model) or remove '{system}' "
                "from `systems`."
            )
    check_placement(profile.roles, trains_adapters(profile), source)
    if profile.reference_system not in profile.systems:
        raise PrefbenchInputError(
            f"profile {source}: reference_system '{profile.reference_system}' is not in systems "
            f"{profile.systems}; add it to `systems` or change `reference_system`."
        )
    for judge in profile.judges:
        judge_roles = lookup_judge(judge.kind).roles_for(judge.typed_settings(profile.metrics))
        missing_roles = [r for r in judge_roles if r not in profile.roles]
        if missing_roles:
            local = [definition.name for definition in all_judges() if not definition.roles]
            raise PrefbenchInputError(
                f"profile {source}: judge.kind is '{judge.kind}', which calls the role(s) "
                f"{missing_roles}, but the profile sets none; add roles.{missing_roles[0]} "
                f"(e.g. model: openai/gpt-4o) or use a judge.kind that calls no model: {local}."
            )
    personalization = profile.metrics.personalization_system
    if personalization is not None and personalization not in profile.systems:
        raise PrefbenchInputError(
            f"profile {source}: metrics.personalization_system '{personalization}' is not in "
            f"systems {profile.systems}; add it to `systems` or set it to null."
        )
    _check_datasets(profile, source)
    return _with_text_limit(profile, source)


OPTIONAL_SECTIONS = ("dataset", "datasets", "long_texts", "max_cost")
"""Profile keys left out of `profile.yaml` when unset, so older run folders' files stay as
they were."""


def trains_adapters(profile: Profile) -> bool:
    """Whether the profile's systems train adapters on the small model."""
    from prefbench.solvers import lookup_system

    return any(lookup_system(name).uses_adapter for name in profile.systems)


LATER_SETTINGS: tuple[tuple[str, ...], ...] = (
    ("generation", "intent_temperatures"),
    ("training", "fanout"),
    ("training", "checkpoint_every"),
    ("errors",),
    ("throughput",),
)
"""Settings added after run folders existed: left out of `profile.yaml` at their defaults, so
older run folders' files stay as they were."""


def dump_profile(profile: Profile) -> str:
    """The resolved profile as YAML (what `runs/NAME/profile.yaml` holds)."""
    unset = {key for key in OPTIONAL_SECTIONS if getattr(profile, key) is None}
    data = profile.model_dump(mode="json", exclude=unset)
    for judge in data["judges"]:  # `batch` came later: left out at its default
        if judge["batch"] is False:
            del judge["batch"]
    if len(data["judges"]) == 1:  # one judge is written as `judge:`, as before `judges`
        data = {
            ("judge" if key == "judges" else key): value[0] if key == "judges" else value
            for key, value in data.items()
        }
    for path in LATER_SETTINGS:
        *parents, leaf = path
        owner, section = profile, data
        for parent in parents:
            owner, section = getattr(owner, parent), section[parent]
        default = type(owner).model_fields[leaf].get_default(call_default_factory=True)
        if getattr(owner, leaf) == default:
            del section[leaf]
    for price in data["prices"].values():
        if price.get("batch_discount") is None:
            del price["batch_discount"]
    return yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False)


def _check_datasets(profile: Profile, source: Path) -> None:
    """Exactly one of `dataset` and `datasets`; names usable as folders; record paths given."""
    if (profile.dataset is None) == (profile.datasets is None):
        raise PrefbenchInputError(
            f"profile {source}: set either `dataset` (one dataset) or `datasets` (several, by "
            "name), not both or neither"
        )
    if profile.datasets is not None and not profile.datasets:
        raise PrefbenchInputError(f"profile {source}: `datasets` is empty; name at least one")
    for name, spec in named_datasets(profile).items():
        where = "dataset" if profile.dataset is not None else f"datasets.{name}"
        if name and (not DATASET_NAME.fullmatch(name) or name in RUN_FOLDER_ENTRIES):
            raise PrefbenchInputError(
                f"profile {source}: dataset name '{name}' must be letters, digits, '_', '-' or "
                "'.' (it names the run's sub-folder), e.g. enron or new_yorker, and not one of "
                f"{sorted(RUN_FOLDER_ENTRIES)}"
            )
        if spec.kind == "records" and not spec.path:
            raise PrefbenchInputError(
                f"profile {source}: {where}.kind 'records' needs {where}.path (a records.jsonl "
                "file)"
            )


def named_datasets(profile: Profile) -> dict[str, DatasetSpec]:
    """The profile's datasets by name; a single `dataset` has the name "" (the run's root)."""
    if profile.datasets is not None:
        return dict(profile.datasets)
    assert profile.dataset is not None
    return {"": profile.dataset}


def dataset_profiles(profile: Profile) -> dict[str, Profile]:
    """One single-dataset profile per dataset of a `datasets` profile, by dataset name.

    Each is the profile with that dataset as its `dataset` and the name `<profile>/<dataset>`;
    a `dataset` profile gives itself under the name "".
    """
    if profile.datasets is None:
        return {"": profile}
    return {
        name: profile.model_copy(
            update={"name": f"{profile.name}/{name}", "dataset": spec, "datasets": None}
        )
        for name, spec in profile.datasets.items()
    }


def role_context_tokens(spec: ModelSpec) -> int | None:
    """A role's context window in tokens, when the profile states it (`max_model_len`)."""
    stated = spec.model_args.get(ROLE_CONTEXT_ARG)
    if stated is not None:
        return int(stated)
    return PACKAGED_CONTEXT_TOKENS.get(spec.model)


def derived_max_text_tokens(profile: Profile) -> int | None:
    """The longest text every prompt can hold, from the smallest stated context window.

    A prompt holds up to `texts` real texts (the few-shot examples plus the text answered,
    else a text and its previous context) beside its instructions (`PROMPT_RESERVE_TOKENS`)
    and the reply (`generation.max_tokens`, or the judge's two candidates of that length):
    `(context - reserve - 2 × max_tokens) // texts`. None when no role states its window.
    """
    windows = [role_context_tokens(spec) for spec in profile.roles.values()]
    known = [window for window in windows if window is not None]
    if not known:
        return None
    texts = max(2, profile.generation.few_shot_k + 1 if "few_shot" in profile.systems else 2)
    spare = min(known) - PROMPT_RESERVE_TOKENS - 2 * profile.generation.max_tokens
    return max(spare // texts, 0)


def _with_text_limit(profile: Profile, source: Path) -> Profile:
    """The profile with `long_texts.max_text_tokens` filled in when it is derived."""
    if profile.long_texts is None or profile.long_texts.max_text_tokens is not None:
        return profile
    derived = derived_max_text_tokens(profile)
    if derived is None or derived < 16:
        found = "no role states its context window" if derived is None else f"only {derived}"
        raise PrefbenchInputError(
            f"profile {source}: long_texts needs a text limit and {found}: set "
            f"long_texts.max_text_tokens, or model_args.{ROLE_CONTEXT_ARG} (the context window "
            "in tokens) on the roles"
        )
    policy = profile.long_texts.model_copy(update={"max_text_tokens": derived})
    return profile.model_copy(update={"long_texts": policy})
