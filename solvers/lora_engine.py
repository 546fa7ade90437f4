"""One loaded base model, many LoRA adapters, shared batches: prefbench's local engine.

inspect's `hf/` provider collects a batch until no request has come for 2 seconds, polls
each request's result once a second, batches only requests of one model object and loads
one full model copy per adapter. Here one `GenerationEngine` per loaded `hf/` model serves
every local call on it:

- the base model's own calls: `serve_with_engine(model)` routes an `hf/` model's generation
  through its engine (the model keeps its name, `hf/...`, so logs and cache keys stay the
  same); a call asking for tools, logprobs or hidden states still takes inspect's path;
- each user's adapter: the `prefbench-lora/NAME` provider (model args `base`, the role's
  `hf/` `Model`, and `adapter_path`, a peft adapter folder trained on it) loads the adapter
  onto a structural copy of the base that shares every weight tensor (the base model itself
  stays untouched), so memory is base + adapters whatever the number of users; rows of
  different adapters, and of the base (`"__base__"`), share one batch (peft's
  `adapter_names=`).

A background thread takes what arrives until `BATCH_WINDOW_SECONDS` pass without a new
request, groups the requests by generation settings (never by adapter, nor by token budget:
a batch generates up to its largest `max_tokens` and each row keeps its own first tokens),
sorts each group by prompt length (less padding) and generates it in as few batches as the
call's `max_connections` allows, of even size. Within a batch the rows are ordered by
adapter, and each LoRA layer applies each adapter to its span of rows
(`prefbench.solvers.lora_spans`), at close to the plain model's speed. The engine's thread and the
event loop's thread each free their idle OpenMP workers when they hand work to the other
(`prefbench.core.omp_pool`): with both threads' pools alive, every parallel torch operation in the
engine waited for a sleeping worker. Prompts, generation arguments,
decoding and token counts are the `hf/` provider's, so greedy outputs equal those of
inspect's `hf/` models.
`prefbench.solvers.adapters` makes the adapter models; `release_engines()` frees every engine (the
harness calls it after each adapter stage; a base model's next call makes a new one) and
`release_engine(model)` the engine of one model (before the model is closed).
"""

import asyncio
import concurrent.futures
import copy
import hashlib
import itertools
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    Model,
    ModelAPI,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from prefbench.core.offline_api import OfflineModelAPI
from prefbench.core.omp_pool import free_idle_pool
from prefbench.core.quiet import quiet_transformers
from prefbench.solvers.lora_spans import adapter_spans, adapters_by_span, covers, lora_layers
from prefbench.solvers.seeded_sampling import call_seed, seeded_sampling_settings

LORA_PROVIDER = "prefbench-lora"
BASE_ADAPTER = "__base__"
"""peft's name for rows of a mixed batch that use no adapter."""
BATCH_WINDOW_SECONDS = 0.25
"""A collection closes when no request has arrived for this long."""
POLL_SECONDS = 0.02


@dataclass
class _Request:
    """One prompt waiting for its batch: adapter, generation settings and batch size.

    `max_new_tokens` is left out of `settings`: rows of different budgets share a batch,
    which generates up to the largest; each row keeps its own first `max_new_tokens`
    (greedy decoding makes the same tokens whatever the budget, and so does sampling with
    the row's own `seed`, `prefbench.solvers.seeded_sampling`).
    """

    prompt: str
    adapter: str
    settings: tuple[tuple[str, Any], ...]
    batch_size: int
    max_new_tokens: int | None = None
    seed: int = 0
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


@dataclass(frozen=True)
class _Reply:
    text: str
    input_tokens: int
    output_tokens: int
    seconds: float


class GenerationEngine:
    """An `hf/` model's weights with any number of LoRA adapters, generating shared batches.

    `api` is the inspect `hf/` provider of a loaded model (it holds the transformers model
    and tokenizer). Adapters go onto a copy of the module tree that shares every weight
    tensor with it, so loading adapters never changes what the base itself generates.
    """

    def __init__(self, api: ModelAPI) -> None:
        self.api: Any = api
        self._peft_model: Any = None
        self._adapters: dict[str, str] = {}
        self._load_lock = threading.Lock()
        self._queue: Queue[_Request | None] = Queue()
        self._thread = threading.Thread(target=self._serve, name="prefbench-engine", daemon=True)
        self._thread.start()

    @property
    def adapter_names(self) -> list[str]:
        """Names of the adapters loaded so far."""
        return list(self._adapters.values())

    def add_adapter(self, adapter_path: Path) -> str:
        """Load the adapter folder onto the shared base (once) and return its name."""
        path = str(Path(adapter_path).resolve())
        with self._load_lock:
            if path in self._adapters:
                return self._adapters[path]
            name = "adapter_" + hashlib.sha256(path.encode("utf-8")).hexdigest()[:16]
            with quiet_transformers():
                if self._peft_model is None:
                    from peft import PeftModel

                    self._peft_model = PeftModel.from_pretrained(
                        _sharing_copy(self.api.model), path, adapter_name=name
                    )
                else:
                    self._peft_model.load_adapter(path, adapter_name=name)
                self._peft_model.eval()
            self._adapters[path] = name
            return name

    async def generate(
        self,
        input: list[ChatMessage],
        config: GenerateConfig,
        model_name: str,
        do_sample: bool,
        adapter: str = BASE_ADAPTER,
    ) -> ModelOutput:
        """The reply of the base (with `adapter`, if one) to `input`, in a shared batch.

        `do_sample` is the calling model's decoding (greedy and sampling `hf/` models of one
        folder share one engine).
        """
        if config.logprobs:
            raise ValueError(f"{model_name}: the local engine returns no logprobs")
        prompt = self.api.hf_chat(input, [])
        settings = self._generation_settings(config, do_sample)
        request = _Request(
            prompt=prompt,
            adapter=adapter,
            settings=settings,
            max_new_tokens=config.max_tokens,
            batch_size=config.max_connections or self.api.max_connections(),
            seed=call_seed(config.seed, prompt, adapter, settings),
        )
        free_idle_pool()  # this thread's torch workers would slow the engine's (core.omp_pool)
        self._queue.put(request)
        reply = await _result(request.future)
        return ModelOutput(
            model=model_name,
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(
                        content=reply.text, model=model_name, source="generate"
                    )
                )
            ],
            usage=ModelUsage(
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                total_tokens=reply.input_tokens + reply.output_tokens,
            ),
            time=reply.seconds,
        )

    def close(self) -> None:
        """Stop the batching thread and drop the adapters (the base stays with its owner)."""
        self._queue.put(None)
        self._thread.join()
        self._peft_model = None
        self._adapters.clear()

    @staticmethod
    def _generation_settings(
        config: GenerateConfig, do_sample: bool
    ) -> tuple[tuple[str, Any], ...]:
        """`generate` keyword arguments as the `hf/` provider derives them (hashable).

        Greedy decoding leaves out the sampling settings, which it ignores (transformers
        would warn about each batch).
        """
        settings: dict[str, Any] = {"do_sample": do_sample}
        if config.max_tokens is None:  # the model's default budget: a batch of its own
            settings["default_max_new_tokens"] = True
        for name in ("temperature", "top_p", "top_k"):
            if do_sample and getattr(config, name) is not None:
                settings[name] = getattr(config, name)
        if config.stop_seqs is not None:
            settings["stop_strings"] = tuple(config.stop_seqs)
        return tuple(sorted(settings.items()))

    def _serve(self) -> None:
        """The batching thread: collect what arrives, generate it group by group."""
        while True:
            first = self._queue.get()
            if first is None:
                return
            collected, stopping = [first], False
            while True:
                try:
                    request = self._queue.get(timeout=BATCH_WINDOW_SECONDS)
                except Empty:
                    break
                if request is None:
                    stopping = True
                    break
                collected.append(request)
            # a request whose caller gave up (a cancelled sample) is dropped; the others can
            # no longer be cancelled, so each gets its result
            collected = [r for r in collected if r.future.set_running_or_notify_cancel()]
            for batch in plan_batches(collected):
                self._generate_batch(batch, dict(batch[0].settings))
            free_idle_pool()  # idle until the next request: leave the cores to other threads
            if stopping:
                return

    @contextmanager
    def _adapters_applied(self, batch: list[_Request], settings: dict[str, Any]) -> Iterator[Any]:
        """The model that generates `batch` with each row's adapter (rows ordered by adapter).

        The base model when no row has an adapter; else the shared copy with its LoRA layers
        applied span by span (`prefbench.solvers.lora_spans`), or, for adapters that path does not
        cover, peft's own mixed batch (`adapter_names=` in `settings`).
        """
        adapters = [request.adapter for request in batch]
        if all(adapter == BASE_ADAPTER for adapter in adapters):
            yield self.api.model
            return
        layers = lora_layers(self._peft_model)
        if not covers(layers, adapters):
            settings["adapter_names"] = adapters
            yield self._peft_model
            return
        with adapters_by_span(layers, adapter_spans(adapters, BASE_ADAPTER)):
            yield self._peft_model.base_model.model

    def _generate_batch(self, batch: list[_Request], settings: dict[str, Any]) -> None:
        """Generate one batch (one adapter per row) and resolve each request's future."""
        batch = sorted(batch, key=lambda request: request.adapter)  # one span per adapter
        try:
            import torch

            started = time.monotonic()
            tokenizer = self.api.tokenizer
            settings.pop("default_max_new_tokens", None)
            budgets = [request.max_new_tokens for request in batch]
            if None not in budgets:
                settings["max_new_tokens"] = max(budgets)  # type: ignore[type-var]
            stop_strings = settings.pop("stop_strings", None)
            if stop_strings is not None:
                from transformers.generation import StopStringCriteria

                settings["stopping_criteria"] = [StopStringCriteria(tokenizer, list(stop_strings))]
            if settings.get("do_sample"):  # each row its own draws (seeded_sampling)
                settings = seeded_sampling_settings(
                    settings, [request.seed for request in batch], self.api.model.generation_config
                )
            encoded = tokenizer(
                [request.prompt for request in batch],
                return_tensors="pt",
                padding=True,
                **(self.api.tokenizer_call_args or {}),
            )
            device = self.api.model.device
            input_ids = encoded["input_ids"].to(device)
            with torch.inference_mode(), self._adapters_applied(batch, settings) as model:
                sequences = model.generate(
                    input_ids=input_ids,
                    attention_mask=encoded["attention_mask"].to(device),
                    return_dict_in_generate=True,
                    **settings,
                ).sequences
            prompt_tokens = input_ids.size(dim=1)
            generated = sequences.size(dim=1) - prompt_tokens
            seconds = time.monotonic() - started
            for row, request in enumerate(batch):
                kept = min(generated, request.max_new_tokens or generated)
                text = tokenizer.decode(
                    sequences[row, prompt_tokens : prompt_tokens + kept],
                    skip_special_tokens=True,
                    clean_up_tokenization_spaces=False,
                )
                request.future.set_result(_Reply(text, prompt_tokens, kept, seconds))
        except Exception as error:  # every waiting request learns why
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)


async def _result(future: concurrent.futures.Future) -> _Reply:
    """The batching thread's reply, awaited without polling under asyncio (inspect's default).

    Under another event loop (trio) the future is polled every `POLL_SECONDS`.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        import anyio

        while not future.done():
            await anyio.sleep(POLL_SECONDS)
        return future.result()
    return await asyncio.wrap_future(future)


def plan_batches(requests: list[_Request]) -> list[list[_Request]]:
    """Requests split into batches: one settings group each, similar prompt lengths together.

    Each group of equal settings is sorted by prompt length and cut into the fewest batches
    its batch size allows, of even size (25 requests at 16 → 13 + 12, not 16 + 9).
    """
    groups: dict[tuple, list[_Request]] = {}
    for request in requests:
        groups.setdefault(request.settings, []).append(request)
    batches = []
    for group in groups.values():
        group.sort(key=lambda request: len(request.prompt))
        limit = max(1, min(request.batch_size for request in group))
        count = math.ceil(len(group) / limit)
        size, extra = divmod(len(group), count)
        start = 0
        for index in range(count):
            end = start + size + (1 if index < extra else 0)
            batches.append(group[start:end])
            start = end
    return batches


def _sharing_copy(model: Any) -> Any:
    """A copy of a torch module tree whose parameters and buffers are the original's."""
    shared = itertools.chain(model.parameters(), model.buffers())
    return copy.deepcopy(model, memo={id(tensor): tensor for tensor in shared})


_engines: dict[int, GenerationEngine] = {}
_engines_lock = threading.Lock()


def shared_engine(base: Model) -> GenerationEngine:
    """The engine of this loaded `hf/` model (made on first use)."""
    return _engine_of(base.api)


def _engine_of(api: ModelAPI) -> GenerationEngine:
    """The engine of the torch model `api` holds: providers sharing weights share it."""
    with _engines_lock:
        key = id(api.model)  # type: ignore[attr-defined]
        if key not in _engines:
            _engines[key] = GenerationEngine(api)
        return _engines[key]


def release_engines() -> None:
    """Close every engine made so far (their adapters are freed; the bases stay loaded)."""
    with _engines_lock:
        while _engines:
            _, engine = _engines.popitem()
            engine.close()


def release_engine(model: Model) -> None:
    """Close the engine of `model`'s loaded weights, if it has one (before closing `model`)."""
    with _engines_lock:
        weights = getattr(model.api, "model", None)
        engine = _engines.pop(id(weights), None) if weights is not None else None
    if engine is not None:
        engine.close()


def serve_with_engine(model: Model) -> Model:
    """Route the `hf/` `model`'s own generation through its engine; returns `model`.

    The model keeps its name and config (so its calls' cache keys do not change). Calls with
    tools, logprobs or hidden states keep inspect's `hf/` path. Other models are returned
    as they are.
    """
    if not str(model).startswith("hf/"):
        return model
    api: Any = model.api
    inspect_generate = api.generate

    async def generate(
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if tools or config.logprobs or api.hidden_states:
            return await inspect_generate(input, tools, tool_choice, config)
        return await _engine_of(api).generate(input, config, api.model_name, api.do_sample)

    api.generate = generate
    return model


class LoraAdapterAPI(OfflineModelAPI):
    """A user's adapter on a shared base: `prefbench-lora/NAME`, `base=`, `adapter_path=`.

    inspect's provider `prefbench-lora` (registered by `prefbench.harness._registry`).
    """

    def __init__(
        self,
        model_name: str,
        config: GenerateConfig | None = None,
        base: Model | None = None,
        adapter_path: str | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, config, **model_args)
        if not isinstance(base, Model) or not str(base).startswith("hf/"):
            raise ValueError(
                f"{LORA_PROVIDER}/{model_name}: model arg `base` must be an hf/ Model, "
                f"got {base!r}; pass the role's model (get_model(role=...))."
            )
        if adapter_path is None or not (Path(adapter_path) / "adapter_config.json").is_file():
            raise ValueError(
                f"{LORA_PROVIDER}/{model_name}: adapter_path={adapter_path!r} is no peft "
                "adapter folder (no adapter_config.json); train the adapter first."
            )
        self.base = base
        self.engine = shared_engine(base)
        self.adapter = self.engine.add_adapter(Path(adapter_path))

    async def answer(self, input: list[ChatMessage], config: GenerateConfig) -> ModelOutput:
        """Generate through the base's engine with this model's adapter."""
        return await self.engine.generate(
            input, config, self.model_name, self.base.api.do_sample, adapter=self.adapter
        )

    def max_tokens(self) -> int | None:
        """The base `hf/` model's default budget, so outputs match it."""
        return self.base.api.max_tokens()

    def max_connections(self) -> int:
        """Effectively the batch size, as for `hf/` models."""
        return self.base.config.max_connections or self.base.api.max_connections()

    def collapse_user_messages(self) -> bool:
        """As the `hf/` provider: consecutive user messages become one."""
        return True


__all__ = [
    "BASE_ADAPTER",
    "LORA_PROVIDER",
    "GenerationEngine",
    "LoraAdapterAPI",
    "plan_batches",
    "release_engine",
    "release_engines",
    "serve_with_engine",
    "shared_engine",
]
