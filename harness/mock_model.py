"""An offline scripted model for unit tests of control flow (DESIGN §5).

inspect's stock `mockllm` counts tokens with tiktoken, which downloads an encoding: not
offline. `prefbench-mock/NAME` never touches the network. Its replies come from the
`replies` model arg (a list cycled in order, or a callable taking the prompt text);
without it every reply is `DEFAULT_REPLY`. Every call is recorded in `calls` so tests can
assert on the prompts a stage sent.
"""

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

DEFAULT_REPLY = "mock reply"

ReplyFunction = Callable[[str], str]


@modelapi(name="prefbench-mock")
class ScriptedModelAPI(ModelAPI):
    """A model that answers from a script and records every prompt it receives."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        replies: list[str] | ReplyFunction | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())
        self.calls: list[tuple[str, GenerateConfig]] = []
        self._reply_function: ReplyFunction | None = None
        self._reply_cycle: Iterator[str] | None = None
        if callable(replies):
            self._reply_function = replies
        else:
            self._reply_cycle = itertools.cycle(replies or [DEFAULT_REPLY])

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        """Return the next scripted reply, with word-count token usage."""
        prompt = "\n\n".join(message.text for message in input)
        self.calls.append((prompt, config))
        if self._reply_function is not None:
            reply = self._reply_function(prompt)
        else:
            assert self._reply_cycle is not None
            reply = next(self._reply_cycle)
        input_tokens = len(prompt.split())
        output_tokens = len(reply.split())
        output = ModelOutput.from_content(model=self.model_name, content=reply)
        output.usage = ModelUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
        )
        return output

    def max_tokens(self) -> int | None:
        """Scripted replies ignore token limits."""
        return None
