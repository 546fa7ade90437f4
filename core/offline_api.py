"""The base of prefbench's in-process model APIs (`prefbench-mock`, `-plan`, `-lora`)."""

import abc
from typing import Any

from inspect_ai.model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput, ModelUsage
from inspect_ai.tool import ToolChoice, ToolInfo

__all__ = ["OfflineModelAPI"]


class OfflineModelAPI(ModelAPI):
    """A model answered in-process: no key, no network, no tools, no default `max_tokens`.

    A subclass takes its own model args as keyword arguments, passes the rest (inspect's
    `base_url`, `api_key`, `config`) on to this constructor, and writes `answer`.
    """

    def __init__(
        self, model_name: str, config: GenerateConfig | None = None, **model_args: Any
    ) -> None:
        """Keep inspect's `base_url` and `api_key` (never used); ignore other unknown model args."""
        base_url, api_key = model_args.get("base_url"), model_args.get("api_key")
        super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        """The subclass's `answer` (an offline model offers no tools)."""
        return await self.answer(input, config)

    @abc.abstractmethod
    async def answer(self, input: list[ChatMessage], config: GenerateConfig) -> ModelOutput:
        """The reply to the messages `input` under the call's `config`."""

    def model_output(self, content: str, input_tokens: int, output_tokens: int) -> ModelOutput:
        """A reply of `content` with these token counts as its usage."""
        output = ModelOutput.from_content(model=self.model_name, content=content)
        output.usage = ModelUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
        )
        return output

    def max_tokens(self) -> int | None:
        """No default budget: each call's own `max_tokens` (or none) decides."""
        return None
