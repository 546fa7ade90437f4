"""A scripted judge model that returns log-probabilities, as the hf and OpenAI providers do.

`prefbench-logprob/NAME` answers like `prefbench-mock` (a callable from the prompt to the
reply) and splits the reply into tokens: `<`, `winner`, `>`, digits and runs of other text.
The token right after each `<winner>` carries `top_logprobs` from the model arg `numbers`
(candidate number → probability); every other token is certain. With `logprobs_offered`
False it returns none, like a provider without them.
"""

import math
import re
from collections.abc import Callable
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelOutput,
    TopLogprob,
    modelapi,
)

from prefbench.core.offline_api import OfflineModelAPI

TOKEN = re.compile(r"<|>|\d|[^<>\d]+")


def scripted_logprobs(reply: str, numbers: dict[str, float]) -> Logprobs:
    """The reply's tokens; after each `<winner>` the numbers' probabilities as top tokens."""
    tokens = TOKEN.findall(reply)
    content = []
    for index, token in enumerate(tokens):
        after_tag = "".join(tokens[max(0, index - 3) : index]) == "<winner>"
        tops = (
            [TopLogprob(token=n, logprob=math.log(p)) for n, p in numbers.items()]
            if after_tag
            else [TopLogprob(token=token, logprob=0.0)]
        )
        content.append(Logprob(token=token, logprob=0.0, top_logprobs=tops))
    return Logprobs(content=content)


@modelapi(name="prefbench-logprob")
class LogprobJudgeAPI(OfflineModelAPI):
    """Scripted replies with log-probabilities; records every prompt and config."""

    def __init__(
        self,
        model_name: str,
        replies: Callable[[str], str] | None = None,
        numbers: dict[str, float] | None = None,
        logprobs_offered: bool = True,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, **model_args)
        self.calls: list[tuple[str, GenerateConfig]] = []
        self._reply = replies or (lambda prompt: "<winner>1</winner>")
        self._numbers = numbers or {"1": 0.5, "2": 0.5}
        self._logprobs_offered = logprobs_offered

    async def answer(self, input: list[ChatMessage], config: GenerateConfig) -> ModelOutput:
        """The scripted reply; with log-probabilities when asked for and offered."""
        prompt = "\n\n".join(message.text for message in input)
        self.calls.append((prompt, config))
        reply = self._reply(prompt)
        output = self.model_output(reply, len(prompt.split()), len(reply.split()))
        if config.logprobs and self._logprobs_offered:
            output.choices[0].logprobs = scripted_logprobs(reply, self._numbers)
        return output
