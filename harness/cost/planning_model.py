"""`prefbench-plan/MODEL`: a stand-in for a role's model that answers at its whole budget.

`prefbench run --dry-run` runs the real pipeline with every role played by a planning model
(`planning_spec`), so the plan is whatever the systems' own code calls. A planning model:

- answers each call with filler text of the call's `max_tokens` budget (`UNBOUNDED_MAX_TOKENS`
  when a call sets none), so its output is the upper bound and later prompts that carry it
  (drafts, rules, candidates) have realistic lengths. The filler is drawn from a hash of the
  model, the prompt, the generate config and the adapter, so different prompts get different
  answers (and the cache hits exactly where a real run's would) and is never a parseable
  verdict, so the LLM judge's retry shows up as a real call;
- counts input tokens with the role model's tokenizer when it is on disk already (never
  downloaded; the packaged SmolLM2 is never converted for it), else about 4 characters per
  token, and reports them as `ModelUsage`, so they land in the eval logs;
- stamps `output.metadata` with the prompt's hash (`PROMPT_FIELD`, a retry repeats it),
  `FOLLOW_UP_FIELD` on a call that continues a conversation after the model's own answer
  (the LLM judge's follow-up retry) and, for a model with a user's adapter, the role and the
  adapter (`ROLE_FIELD`, `ADAPTER_FIELD`).

`MODEL` is the real model's name (`prefbench-plan/openai/gpt-4o`), so prices and the "same
model" decisions of the pipeline (shared instances, cache keys) stay those of the real run.
"""

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from inspect_ai.model import ChatMessage, GenerateConfig, ModelOutput

from prefbench.core.offline_api import OfflineModelAPI
from prefbench.harness.profile import ModelSpec
from prefbench.harness.serving.models import PLANNING_PROVIDER, SMOLLM2

CHARS_PER_TOKEN = 4
UNBOUNDED_MAX_TOKENS = 4096
"""The answer budget planned for a call that sets no `max_tokens`."""
PROMPT_FIELD = "plan_prompt"
FOLLOW_UP_FIELD = "plan_follow_up"
ROLE_FIELD = "plan_role"
ADAPTER_FIELD = "plan_adapter"
_FILLER_WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there one all we their has been if more when "
    "will would who so no out up into than them can only other new some time could these "
    "two may then do first any my now such like our over man me even most made after also"
).split()


MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens a chat format adds per message without a known template (role, separators)."""
REPLY_PRIMING_TOKENS = 3
"""Tokens a chat format adds to start the reply without a known template."""


@dataclass(frozen=True)
class TokenCounter:
    """How a role's tokens are counted: a local tokenizer, or about 4 characters per token.

    `count` counts a text; `count_prompt` the whole prompt the model reads: the messages in
    the tokenizer's chat template with its reply header (and any system prompt the template
    adds), else the texts plus a per-message and reply overhead.
    """

    method: str
    count: Callable[[str], int]
    count_chat: Callable[[list[dict[str, str]]], int] | None = None

    def count_prompt(self, messages: list[ChatMessage]) -> int:
        """Input tokens of a call with `messages`."""
        if self.count_chat is not None:
            return self.count_chat([{"role": m.role, "content": m.text} for m in messages])
        texts = sum(self.count(message.text) for message in messages)
        return texts + MESSAGE_OVERHEAD_TOKENS * len(messages) + REPLY_PRIMING_TOKENS


def _count_characters(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


CHARACTER_ESTIMATE = TokenCounter(f"~{CHARS_PER_TOKEN} characters per token", _count_characters)


def local_tokenizer_source(spec: ModelSpec) -> str | None:
    """A folder or hub id to load the model's tokenizer from, if it may be on disk already."""
    if spec.model == SMOLLM2:
        from prefbench.core.errors import MissingModelPackageError
        from prefbench.core.offline_models import smollm2_converted_dir

        try:
            folder = smollm2_converted_dir()  # never converted here
        except MissingModelPackageError:
            return None
        return str(folder) if folder is not None else None
    provider, name = spec.model.split("/", 1)
    if provider not in ("hf", "vllm"):
        return None
    for path in (spec.model_args.get("tokenizer_path"), spec.model_args.get("model_path")):
        if path and Path(str(path)).is_dir():
            return str(path)
    if spec.weights and Path(spec.weights).is_dir():
        return spec.weights
    return name  # a hub id: used only when it is in the local cache


def _cached_file(source: str, name: str) -> bool:
    """Whether a tokenizer file is on disk: in the folder `source`, or the hub id's cache."""
    folder = Path(source)
    if folder.is_dir():
        return (folder / name).is_file()
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(source, name), str)
    except ValueError:  # not a hub id
        return False


@cache
def _tokenizer_counter(source: str) -> TokenCounter | None:
    """The tokenizer at `source` (a folder or a cached hub id) as a counter; None when absent.

    A fast tokenizer (`tokenizer.json`) loads without torch, in about a second; others load
    through `AutoTokenizer`. Nothing is downloaded, and nothing is imported when no tokenizer
    file is on disk.
    """
    fast = _cached_file(source, "tokenizer.json")
    if not fast and not _cached_file(source, "tokenizer_config.json"):
        return None
    try:
        from prefbench.core.quiet import quiet_transformers

        with quiet_transformers():
            if fast:
                from transformers import PreTrainedTokenizerFast

                tokenizer = PreTrainedTokenizerFast.from_pretrained(source, local_files_only=True)
            else:
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, ImportError):
        return None

    def count_chat(messages: list[dict[str, str]]) -> int:
        encoded = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return len(encoded["input_ids"])

    return TokenCounter(
        f"tokenizer of {source}",
        lambda text: len(tokenizer.encode(text, add_special_tokens=False)),
        count_chat if tokenizer.chat_template else None,
    )


def token_counter(tokenizer: str | None) -> TokenCounter:
    """The tokenizer at `tokenizer` (a folder, a cached hub id), else ~4 characters per token.

    The tokenizer is loaded from local files only: nothing is downloaded.
    """
    counter = _tokenizer_counter(tokenizer) if tokenizer is not None else None
    return counter or CHARACTER_ESTIMATE


def planning_spec(spec: ModelSpec) -> ModelSpec:
    """The planning model that stands in for `spec` (`prefbench-plan/<its model>`).

    It keeps the spec's generate config and counts with its tokenizer when on disk.
    """
    source = local_tokenizer_source(spec)
    return ModelSpec(
        model=f"{PLANNING_PROVIDER}/{spec.model}",
        model_args={"tokenizer": source} if source is not None else {},
        config=spec.config,
    )


def real_model(name: str) -> str:
    """The real model a planning model's name stands for (`prefbench-plan/X` → `X`)."""
    return name.removeprefix(f"{PLANNING_PROVIDER}/")


def _prompt_hash(model: str, adapter: str | None, input: list[ChatMessage], config: Any) -> str:
    """What identifies one call: the model, its adapter, the messages and the sampling config."""
    digest = hashlib.sha256()
    for part in (model, adapter or "", config.model_dump_json(exclude_none=True)):
        digest.update(part.encode("utf-8") + b"\0")
    for message in input:
        digest.update(f"{message.role}\0{message.text}\0".encode())
    return digest.hexdigest()


def filler(counter: TokenCounter, tokens: int, seed: str) -> str:
    """Words drawn with `seed` that count as `tokens` tokens (within a word) for `counter`."""
    rng = random.Random(seed)
    words = [rng.choice(_FILLER_WORDS) for _ in range(tokens * 2)]
    if counter is CHARACTER_ESTIMATE:
        text = " ".join(words)[: tokens * CHARS_PER_TOKEN]
        return text[:-1] + "x" if text.endswith(" ") else text
    length = tokens
    for _ in range(8):  # words are about one token each; a few corrections settle the length
        text = " ".join(words[:length])
        error = tokens - counter.count(text)
        if error == 0 or not 1 <= length + error <= len(words):
            break
        length += error
    return text


class PlanningModelAPI(OfflineModelAPI):
    """Answers every call at its whole `max_tokens` budget; counts tokens as described above.

    inspect's provider `prefbench-plan` (registered by `prefbench.harness._registry`).
    """

    def __init__(
        self,
        model_name: str,
        tokenizer: str | None = None,
        adapter: str | None = None,
        adapter_role: str | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, **model_args)
        self._counter = token_counter(tokenizer)
        self._adapter = adapter
        self._adapter_role = adapter_role

    async def answer(self, input: list[ChatMessage], config: GenerateConfig) -> ModelOutput:
        """Filler of `config.max_tokens` tokens; usage: the prompt's tokens and that budget."""
        budget = config.max_tokens or UNBOUNDED_MAX_TOKENS
        prompt_hash = _prompt_hash(self.model_name, self._adapter, input, config)
        input_tokens = self._counter.count_prompt(input)
        output = self.model_output(filler(self._counter, budget, prompt_hash), input_tokens, budget)
        metadata: dict[str, Any] = {PROMPT_FIELD: prompt_hash}
        if len(input) >= 2 and input[-2].role == "assistant":
            metadata[FOLLOW_UP_FIELD] = True
        if self._adapter is not None:
            metadata.update({ROLE_FIELD: self._adapter_role, ADAPTER_FIELD: self._adapter})
        output.metadata = metadata
        return output

    def max_connections(self) -> int:
        """Answers are instant: as many at once as inspect allows."""
        return 256
