"""An offline scripted model for unit tests of control flow (docs/design.md §5).

inspect's stock `mockllm` counts tokens with tiktoken, which downloads an encoding: not
offline. `prefbench-mock/NAME` never touches the network. Model args:

- `replies`: a list cycled in order; or a dict from a substring of the prompt to the reply
  (the first key found in the prompt wins, the key "" is the fallback); or a callable
  taking the prompt text. Without it every reply is `DEFAULT_REPLY`.
- `call_log`: a file that gets one line per call (model name, a tab, the first prompt line), so
  tests can count calls across processes and runs.
- `delay_seconds`: sleep before answering (to interrupt a run mid-stage in tests).
"""

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from inspect_ai.model import ChatMessage, GenerateConfig, ModelOutput, modelapi

from prefbench.core.offline_api import OfflineModelAPI

DEFAULT_REPLY = "mock reply"

ReplyFunction = Callable[[str], str]


def _reply_function(replies: list[str] | dict[str, str] | ReplyFunction | None) -> ReplyFunction:
    if callable(replies):
        return replies
    if isinstance(replies, dict):
        table = dict(replies)

        def by_substring(prompt: str) -> str:
            for key, reply in table.items():
                if key and key in prompt:
                    return reply
            return table.get("", DEFAULT_REPLY)

        return by_substring
    cycle: Iterator[str] = itertools.cycle(replies or [DEFAULT_REPLY])
    return lambda prompt: next(cycle)


@modelapi(name="prefbench-mock")
class ScriptedModelAPI(OfflineModelAPI):
    """A model that answers from a script and records every prompt it receives."""

    def __init__(
        self,
        model_name: str,
        replies: list[str] | dict[str, str] | ReplyFunction | None = None,
        call_log: str | None = None,
        delay_seconds: float = 0.0,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, **model_args)
        self.calls: list[tuple[str, GenerateConfig]] = []
        self._reply = _reply_function(replies)
        self._call_log = Path(call_log) if call_log else None
        self._delay_seconds = delay_seconds

    async def answer(self, input: list[ChatMessage], config: GenerateConfig) -> ModelOutput:
        """Return the scripted reply, with word-count token usage."""
        if self._delay_seconds:
            await asyncio.sleep(self._delay_seconds)
        prompt = "\n\n".join(message.text for message in input)
        self.calls.append((prompt, config))
        if self._call_log is not None:
            first_line = prompt.strip().splitlines()[0] if prompt.strip() else ""
            with self._call_log.open("a", encoding="utf-8") as handle:
                handle.write(f"{self.model_name}\t{first_line}\n")
        reply = self._reply(prompt)
        return self.model_output(reply, len(prompt.split()), len(reply.split()))
