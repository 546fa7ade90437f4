"""A role's tokens per minute: calls are delayed so the role stays under its provider's limit.

A role's `tokens_per_minute` (profile `roles.ROLE.tokens_per_minute`) puts a token bucket in
front of its model's API, the algorithm providers use for their own limits (Anthropic and
OpenAI document a bucket of the per-minute limit refilled continuously): the bucket holds one
minute's tokens and refills at `tokens_per_minute / 60` per second. Each call books its tokens
before it is sent: its input at ~4 characters per token (the dry run's rule when no tokenizer
is on disk) plus its whole `max_tokens` (an upper bound of its output, as providers count
it), and waits until the bucket has room, in the order calls arrive. So in any window of `t`
seconds the role sends at most `tokens_per_minute × (1 + t / 60)` booked tokens, and on
average no more than `tokens_per_minute`. Calls answered from the cache never reach the API
and book nothing; calls sent through a provider's batch API (`judge.batch`) are not limited
(the batch queue has its own limits).

aiolimiter, the usual asyncio limiter, binds to one event loop (inspect runs each stage's eval
in its own) and serves smaller requests before larger ones; this bucket uses the monotonic
clock and books in arrival order, so it carries over from stage to stage.
"""

import time
from collections.abc import Iterable
from typing import Any

from anyio import sleep
from inspect_ai.model import ChatMessage, GenerateConfig, Model

__all__ = ["TokenBucket", "estimated_tokens", "limit_token_rate"]

CHARS_PER_TOKEN = 4
_BUCKET = "_prefbench_token_bucket"


class TokenBucket:
    """Tokens per minute, booked in arrival order (module docstring)."""

    def __init__(self, tokens_per_minute: int, clock=time.monotonic) -> None:  # noqa: ANN001
        if tokens_per_minute < 1:
            raise ValueError(f"tokens_per_minute must be ≥ 1, got {tokens_per_minute}")
        self.capacity = float(tokens_per_minute)
        self.rate = tokens_per_minute / 60.0
        self._clock = clock
        self._level = 0.0
        self._updated = clock()

    def book(self, tokens: float) -> float:
        """Book `tokens` now; the seconds to wait before sending them (0 when there is room)."""
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._updated) * self.rate)
        self._updated = now
        wait = max(0.0, (self._level + tokens - self.capacity) / self.rate)
        self._level += tokens
        return wait

    async def acquire(self, tokens: float) -> None:
        """Wait until `tokens` fit under the rate (booked at once, so later calls queue behind)."""
        wait = self.book(tokens)
        if wait > 0:
            await sleep(wait)


def estimated_tokens(messages: Iterable[ChatMessage] | str, config: GenerateConfig) -> int:
    """A call's booked tokens: input characters / 4, plus its `max_tokens`."""
    if isinstance(messages, str):
        characters = len(messages)
    else:
        characters = sum(len(message.text) for message in messages)
    return characters // CHARS_PER_TOKEN + (config.max_tokens or 0)


def limit_token_rate(model: Model, tokens_per_minute: int | None) -> None:
    """Put a token bucket in front of `model`'s API (idempotent; the lowest rate given wins)."""
    if tokens_per_minute is None:
        return
    api = model.api
    bucket: TokenBucket | None = getattr(api, _BUCKET, None)
    if bucket is not None:
        if tokens_per_minute < bucket.capacity:
            setattr(api, _BUCKET, TokenBucket(tokens_per_minute))
        return
    setattr(api, _BUCKET, TokenBucket(tokens_per_minute))
    send = api.generate

    async def generate(*args: Any, **kwargs: Any) -> Any:
        messages = kwargs.get("input", args[0] if args else "")
        config = kwargs.get("config", args[3] if len(args) > 3 else GenerateConfig())
        if not config.batch:
            await getattr(api, _BUCKET).acquire(estimated_tokens(messages, config))
        return await send(*args, **kwargs)

    api.generate = generate  # type: ignore[method-assign]
