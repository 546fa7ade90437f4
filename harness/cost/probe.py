"""Run an eval's own solver or scorer over its samples against planning models, in-process.

The dry run plans each eval by running the code the real eval runs (a system's solver, its
build step, the judge's scorer: a plug-in's as much as prefbench's), so nothing describes a
system's calls a second time. It does not go through inspect's `eval()`: no log, no cache
file, no task machinery. Each sample's `TaskState` is made here and the solver (or scorer)
awaited with the roles bound to `PlanningModel`s, whose `generate` only counts:

- the answer is a marker, `⟦plan:<hash>:<budget>⟧`, that stands for text of the call's whole
  `max_tokens` budget (`UNBOUNDED_MAX_TOKENS` when it sets none). The hash is that of what
  decides a real answer (model, adapter, messages, generate config), so two systems that send
  one prompt get one answer, as greedy decoding gives them. Text not written yet
  (intents, drafts, rules, candidates) travels into later prompts as its marker, and a prompt's
  input tokens are the tokens of its text without markers plus each marker's budget, counted
  as the model would (`PromptCounter`). No marker is a parseable verdict, so an LLM judge asks
  again, as often as it can: its retries are an upper bound;
- a call whose model, adapter, messages, config and cache scopes were planned before is a
  cache hit (inspect's cache answers it in a real run) and is not counted again; a call that
  repeats a prompt of the same sample, or continues a conversation after the model's own
  answer, is counted as a retry (`PlannedCall.retry`).

Calls are recorded per eval (`CallRecorder`), in the order they are made.
"""

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from inspect_ai._eval.context import init_model_context
from inspect_ai.dataset import Sample
from inspect_ai.model import (
    CachePolicy,
    ChatMessage,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelName,
    ModelOutput,
)
from inspect_ai.scorer import Scorer, Target
from inspect_ai.solver import Solver, TaskState
from inspect_ai.solver._task_state import set_sample_state
from inspect_ai.util._store import init_subtask_store

from prefbench.harness._registry import planning_model
from prefbench.harness.cost.planning_model import (
    CHARACTER_ESTIMATE,
    MESSAGE_OVERHEAD_TOKENS,
    REPLY_PRIMING_TOKENS,
    UNBOUNDED_MAX_TOKENS,
    TokenCounter,
)
from prefbench.harness.serving.models import PLANNING_PROVIDER

NO_CONFIG = GenerateConfig()
MARKER = re.compile(r"⟦plan:[0-9a-f]{12}:(\d+)⟧")

"""A planned answer in a text: its budget in tokens."""


def marker(identity: str, budget: int) -> str:
    """The planned answer of a call: a stand-in for `budget` tokens of text."""
    return f"⟦plan:{identity[:12]}:{budget}⟧"


def without_markers(text: str) -> tuple[str, int]:
    """The text without its planned answers, and the tokens those answers stand for."""
    budgets = sum(int(found) for found in MARKER.findall(text))
    return (MARKER.sub("", text), budgets) if budgets else (text, 0)


@dataclass
class PromptCounter:
    """Counts a call's input tokens: its texts, planned answers at their budgets, and format.

    With a tokenizer that has a chat template, the format's tokens are those of the template
    filled with the same roles and empty texts (counted once per sequence of roles); without
    one, `MESSAGE_OVERHEAD_TOKENS` per message plus `REPLY_PRIMING_TOKENS`.
    """

    counter: TokenCounter
    _texts: dict[str, int] = field(default_factory=dict)
    _formats: dict[tuple[str, ...], int] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """How tokens are counted (a tokenizer's source, or the characters rule)."""
        return self.counter.method

    def text(self, text: str) -> int:
        """Tokens of a text in a prompt; a planned answer counts its whole budget."""
        rest, planned = without_markers(text)
        if len(rest) < 4096:  # system prompts and templates repeat: count them once
            known = self._texts.get(rest)
            if known is None:
                known = self._texts[rest] = self.counter.count(rest)
            return known + planned
        return self.counter.count(rest) + planned

    def chat_format(self, roles: tuple[str, ...]) -> int:
        """The tokens the chat format adds to messages of these roles (and the reply header)."""
        if roles not in self._formats:
            if self.counter.count_chat is None:
                tokens = MESSAGE_OVERHEAD_TOKENS * len(roles) + REPLY_PRIMING_TOKENS
            else:
                tokens = self.counter.count_chat([{"role": r, "content": ""} for r in roles])
            self._formats[roles] = tokens
        return self._formats[roles]

    def prompt(self, messages: Sequence[ChatMessage]) -> int:
        """Input tokens of a call with `messages`."""
        roles = tuple(message.role for message in messages)
        return self.chat_format(roles) + sum(self.text(message.text) for message in messages)


@cache
def character_counter() -> PromptCounter:
    """The ~4 characters per token rule, shared by every role that has no local tokenizer."""
    return PromptCounter(CHARACTER_ESTIMATE)


@dataclass(frozen=True)
class PlannedCall:
    """One model call the plan counts: who answers, its tokens, whether it is a retry."""

    role: str
    model: str
    """The real model's name (what prices it), with ` + adapter` for a user's adapter."""
    input_tokens: int
    output_tokens: int
    retry: bool


@dataclass
class _SampleScope:
    prompts: set[str] = field(default_factory=set)


_sample: ContextVar[_SampleScope | None] = ContextVar("prefbench_plan_sample", default=None)


@dataclass
class CallRecorder:
    """The calls of the eval being planned, and every cached call planned so far."""

    calls: list[PlannedCall] = field(default_factory=list)
    _cached: set[str] = field(default_factory=set)

    def take(self) -> list[PlannedCall]:
        """The calls recorded since the last `take`."""
        calls, self.calls = self.calls, []
        return calls

    def record(self, call: PlannedCall, identity: str, cached: bool) -> bool:
        """Count a call unless the cache answers it; True when it was counted."""
        if cached:
            if identity in self._cached:
                return False
            self._cached.add(identity)
        self.calls.append(call)
        return True

    @staticmethod
    def repeats(prompt: str) -> bool:
        """Whether the current sample sent this prompt before (then remember it)."""
        scope = _sample.get()
        if scope is None:
            return False
        if prompt in scope.prompts:
            return True
        scope.prompts.add(prompt)
        return False


def _digest(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _scopes(cache: bool | CachePolicy | Any) -> str | None:
    """What of a call's cache policy joins inspect's cache key; None when it is not cached."""
    if isinstance(cache, CachePolicy):
        return repr(sorted((cache.scopes or {}).items()))
    return "" if cache is True else None


class PlanningModel(Model):
    """A role's model in a planning probe: answers with a marker and records the call.

    `role` and `real_model` say whom the call is for and what prices it; `adapter` is the
    user's adapter a derived model stands for (`with_adapter`).
    """

    def __init__(
        self,
        real_model: str,
        role: str,
        config: GenerateConfig,
        counter: PromptCounter,
        recorder: CallRecorder,
        adapter: str | None = None,
    ) -> None:
        # through inspect's registered provider, so the API carries its registry name
        super().__init__(planning_model(real_model), config)
        self.real_model = real_model
        self.planned_role = role
        self.counter = counter
        self.recorder = recorder
        self.adapter = adapter
        self._settings = config.model_dump(exclude_none=True)

    def with_adapter(self, key: str, role: str) -> "PlanningModel":
        """The model with a user's adapter `key` (`prefbench.solvers.adapters.adapter_model`)."""
        return PlanningModel(
            self.real_model, role, self.config, self.counter, self.recorder, adapter=key
        )

    async def generate(  # type: ignore[override]
        self,
        input: str | list[ChatMessage],
        tools: Any = (),
        tool_choice: Any = None,
        config: GenerateConfig = NO_CONFIG,
        cache: bool | CachePolicy | Any = False,
        on_stream: Any = None,
    ) -> ModelOutput:
        """The planned answer (a marker of the budget); the call is recorded unless cached."""
        messages = [ChatMessageUser(content=input)] if isinstance(input, str) else list(input)
        settings = {**self._settings, **config.model_dump(exclude_none=True)}
        budget = settings.get("max_tokens") or UNBOUNDED_MAX_TOKENS
        texts = [f"{message.role}\0{message.text}" for message in messages]
        prompt = _digest(self.real_model, self.adapter or "", *texts)
        scopes = _scopes(cache)
        configured = _digest(prompt, repr(sorted(settings.items())))
        identity = _digest(configured, scopes or "")
        follow_up = len(messages) >= 2 and messages[-2].role == "assistant"
        retry = CallRecorder.repeats(configured) or follow_up
        model = self.real_model + (" + adapter" if self.adapter else "")
        call = PlannedCall(self.planned_role, model, self.counter.prompt(messages), budget, retry)
        self.recorder.record(call, identity, cached=scopes is not None)
        return _answer(self.real_model, marker(configured, budget))


_ANSWER = ModelOutput.from_content(model=PLANNING_PROVIDER, content="")


def _answer(model: str, text: str) -> ModelOutput:
    """A model output of `text`: copies of one made up front (thousands per plan)."""
    choice = _ANSWER.choices[0]
    message = choice.message.model_copy(update={"content": text, "model": model})
    return _ANSWER.model_copy(
        update={
            "model": model,
            "completion": text,
            "choices": [choice.model_copy(update={"message": message})],
        }
    )


@dataclass(frozen=True)
class ProbedSample:
    """A planned sample after its solver (and scorer) ran: id, answer and store."""

    id: str
    completion: str
    store: dict[str, Any]
    sample: Sample


def _state(sample: Sample, model: Model) -> TaskState:
    messages: list[ChatMessage] = (
        [ChatMessageUser(content=sample.input)]
        if isinstance(sample.input, str)
        else list(sample.input)
    )
    target = sample.target if isinstance(sample.target, str) else list(sample.target)
    return TaskState(
        model=ModelName(model),
        sample_id=sample.id if sample.id is not None else "",
        epoch=1,
        input=sample.input,
        messages=messages,
        target=Target(target),
        metadata=dict(sample.metadata or {}),
    )


@contextmanager
def _sample_scope() -> Iterator[None]:
    token = _sample.set(_SampleScope())
    try:
        yield
    finally:
        _sample.reset(token)


def _generate_with(model: Model) -> Callable[..., Awaitable[TaskState]]:
    """The `generate` a solver is given: the eval's main model on the state's messages."""

    async def generate(state: TaskState, tool_calls: Any = None, **settings: Any) -> TaskState:
        cache = settings.pop("cache", False)
        output = await model.generate(
            state.messages, config=GenerateConfig(**settings), cache=cache
        )
        state.output = output
        state.messages.append(output.message)
        return state

    return generate


async def _probe(
    samples: Sequence[Sample],
    models: dict[str, Model],
    main: Model,
    solver: Solver | None,
    scorer: Scorer | None,
) -> list[ProbedSample]:
    init_model_context(main, dict(models))  # type: ignore[arg-type]
    generate = _generate_with(main)
    probed = []
    for sample in samples:
        state = _state(sample, main)
        set_sample_state(state)
        init_subtask_store(state.store)
        with _sample_scope():
            if solver is not None:
                state = await solver(state, generate)  # type: ignore[arg-type]
            if scorer is not None:
                await scorer(state, state.target)
        probed.append(
            ProbedSample(str(sample.id), state.output.completion, dict(state.store.items()), sample)
        )
    return probed


def probe_samples(
    samples: Sequence[Sample],
    models: dict[str, Model],
    main: Model,
    solver: Solver | None = None,
    scorer: Scorer | None = None,
) -> list[ProbedSample]:
    """Run `solver`, then `scorer`, over each sample with `models` as the eval's roles.

    `main` is the eval's model (what `generate` and `get_model()` use). Samples run one after
    another, in order, in a new event loop.
    """
    return asyncio.run(_probe(samples, models, main, solver, scorer))
