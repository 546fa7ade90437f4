"""One base model, many LoRA adapters, mixed batches: the `prefbench-lora` model provider.

An adapter stage on inspect's `hf/` provider used to load one full model copy per user and
generate each user's samples in batches of their own. Here the role's loaded `hf/` base
model serves every user: an `AdapterEngine` wraps a structural copy of it that shares the
base weights (the role model itself stays untouched), loads each user's adapter onto it with
peft, and generates the requests of all users together, each row with its own adapter
(peft's `adapter_names=`). Memory is base + adapters, whatever the number of users.

Requests are collected like inspect's `hf/` provider does: a background thread takes what
arrives until `BATCH_WINDOW_SECONDS` pass without a new request or a batch is full, groups
the requests by their generation settings (never by adapter) and generates each group as one
batch. Prompts, generation arguments, decoding and token counts are the `hf/` provider's, so
greedy outputs equal those of a full model copy per adapter.

`prefbench-lora/NAME` takes two model args: `base`, the role's `hf/` `Model`, and
`adapter_path`, a peft adapter folder trained on that base. `solvers.adapters` makes these
models; `release_engines()` frees every engine (the harness calls it after each stage).
"""

import asyncio
import concurrent.futures
import copy
import hashlib
import itertools
import threading
import time
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
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from core.quiet import quiet_transformers

LORA_PROVIDER = "prefbench-lora"
BATCH_WINDOW_SECONDS = 0.25
"""A batch closes when no request has arrived for this long (or when it is full)."""
POLL_SECONDS = 0.02


@dataclass
class _Request:
    """One prompt waiting for its batch: the adapter to use and the generation settings."""

    prompt: str
    adapter: str
    settings: tuple[tuple[str, Any], ...]
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


@dataclass(frozen=True)
class _Reply:
    text: str
    input_tokens: int
    output_tokens: int
    seconds: float


class AdapterEngine:
    """A base `hf/` model's weights with many LoRA adapters, generating mixed batches.

    `base` is an inspect `hf/` model (its `api` holds the transformers model and tokenizer).
    The engine wraps a copy of the module tree that shares every weight tensor with it, so
    loading adapters never changes what `base` itself generates.
    """

    def __init__(self, base: Model) -> None:
        self.base = base
        self.batch_size = base.config.max_connections or base.api.max_connections()
        self._peft_model: Any = None
        self._adapters: dict[str, str] = {}
        self._load_lock = threading.Lock()
        self._queue: Queue[_Request | None] = Queue()
        self._thread = threading.Thread(target=self._serve, name="prefbench-lora", daemon=True)
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
                        _sharing_copy(self.base.api.model), path, adapter_name=name
                    )
                else:
                    self._peft_model.load_adapter(path, adapter_name=name)
                self._peft_model.eval()
            self._adapters[path] = name
            return name

    async def generate(
        self, adapter: str, input: list[ChatMessage], config: GenerateConfig, model_name: str
    ) -> ModelOutput:
        """The reply of the base with `adapter` to `input`, generated in a shared batch."""
        if config.logprobs:
            raise ValueError(f"{LORA_PROVIDER}: logprobs are not supported")
        request = _Request(
            prompt=self.base.api.hf_chat(input, []),
            adapter=adapter,
            settings=self._generation_settings(config),
        )
        self._queue.put(request)
        while not request.future.done():
            await asyncio.sleep(POLL_SECONDS)
        reply: _Reply = request.future.result()
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

    def _generation_settings(self, config: GenerateConfig) -> tuple[tuple[str, Any], ...]:
        """`generate` keyword arguments as the `hf/` provider derives them (hashable)."""
        settings: dict[str, Any] = {"do_sample": self.base.api.do_sample}
        if config.max_tokens is not None:
            settings["max_new_tokens"] = config.max_tokens
        for name in ("temperature", "top_p", "top_k"):
            if getattr(config, name) is not None:
                settings[name] = getattr(config, name)
        if config.stop_seqs is not None:
            settings["stop_strings"] = tuple(config.stop_seqs)
        return tuple(sorted(settings.items()))

    def _serve(self) -> None:
        """The batching thread: collect requests, generate them group by group."""
        while True:
            first = self._queue.get()
            if first is None:
                return
            collected, stopping = [first], False
            while len(collected) < self.batch_size:
                try:
                    request = self._queue.get(timeout=BATCH_WINDOW_SECONDS)
                except Empty:
                    break
                if request is None:
                    stopping = True
                    break
                collected.append(request)
            groups: dict[tuple, list[_Request]] = {}
            for request in collected:
                groups.setdefault(request.settings, []).append(request)
            for settings, batch in groups.items():
                self._generate_batch(batch, dict(settings))
            if stopping:
                return

    def _generate_batch(self, batch: list[_Request], settings: dict[str, Any]) -> None:
        """Generate one batch (one adapter per row) and resolve each request's future."""
        try:
            import torch

            started = time.monotonic()
            tokenizer = self.base.api.tokenizer
            stop_strings = settings.pop("stop_strings", None)
            if stop_strings is not None:
                from transformers.generation import StopStringCriteria

                settings["stopping_criteria"] = [StopStringCriteria(tokenizer, list(stop_strings))]
            encoded = tokenizer(
                [request.prompt for request in batch],
                return_tensors="pt",
                padding=True,
                **(self.base.api.tokenizer_call_args or {}),
            )
            device = self.base.api.model.device
            input_ids = encoded["input_ids"].to(device)
            with torch.inference_mode():
                sequences = self._peft_model.generate(
                    input_ids=input_ids,
                    attention_mask=encoded["attention_mask"].to(device),
                    adapter_names=[request.adapter for request in batch],
                    return_dict_in_generate=True,
                    **settings,
                ).sequences
            prompt_tokens = input_ids.size(dim=1)
            texts = tokenizer.batch_decode(
                sequences[:, prompt_tokens:],
                skip_special_tokens=True,
                clean_up_tokenization_spaces=False,
            )
            seconds = time.monotonic() - started
            for request, text in zip(batch, texts, strict=True):
                request.future.set_result(
                    _Reply(text, prompt_tokens, sequences.size(dim=1) - prompt_tokens, seconds)
                )
        except Exception as error:  # every waiting request learns why
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)


def _sharing_copy(model: Any) -> Any:
    """A copy of a torch module tree whose parameters and buffers are the original's."""
    shared = itertools.chain(model.parameters(), model.buffers())
    return copy.deepcopy(model, memo={id(tensor): tensor for tensor in shared})


_engines: dict[int, AdapterEngine] = {}
_engines_lock = threading.Lock()


def shared_engine(base: Model) -> AdapterEngine:
    """The engine serving adapters of this `hf/` base model (made on first use)."""
    with _engines_lock:
        key = id(base.api)
        if key not in _engines:
            _engines[key] = AdapterEngine(base)
        return _engines[key]


def release_engines() -> None:
    """Close every engine made so far (their adapters are freed; the bases stay loaded)."""
    with _engines_lock:
        while _engines:
            _, engine = _engines.popitem()
            engine.close()


@modelapi(name=LORA_PROVIDER)
class LoraAdapterAPI(ModelAPI):
    """A user's adapter on a shared base: `prefbench-lora/NAME`, `base=`, `adapter_path=`."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        base: Model | None = None,
        adapter_path: str | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())
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
        self.engine = shared_engine(base)
        self.adapter = self.engine.add_adapter(Path(adapter_path))

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        """Generate through the shared engine with this model's adapter."""
        if tools:
            raise ValueError(f"{LORA_PROVIDER}/{self.model_name}: tools are not supported")
        return await self.engine.generate(self.adapter, input, config, self.model_name)

    def max_tokens(self) -> int | None:
        """The base `hf/` model's default budget, so outputs match it."""
        return self.engine.base.api.max_tokens()

    def max_connections(self) -> int:
        """Effectively the batch size, as for `hf/` models."""
        return self.engine.batch_size

    def collapse_user_messages(self) -> bool:
        """As the `hf/` provider: consecutive user messages become one."""
        return True


__all__ = [
    "LORA_PROVIDER",
    "AdapterEngine",
    "LoraAdapterAPI",
    "release_engines",
    "shared_engine",
]
