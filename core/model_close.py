"""Close inspect models from synchronous code, the way inspect asks: through their async close.

inspect's hosted and server-backed providers (`openai/`, `openai-api/`, `anthropic/`,
`vllm/`, ...) hold async HTTP clients and refuse the synchronous `ModelAPI.close()`
("... models require an async close / context manager"). `close_models` runs each model's
async context exit (`Model.__aexit__`, which awaits `ModelAPI.aclose()` once) on an event
loop of its own, so it works from the harness between evals and from a notebook whose loop
is running.

A `vllm/` model whose server other models share (every adapter model of one base shares the
base's server) stops that server when it is closed; `keep_servers=True` closes only such a
model's HTTP client and leaves the server to the model that owns it.
"""

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Iterable
from typing import Any

from inspect_ai.model import Model

__all__ = ["SHARED_SERVER_PROVIDERS", "WEIGHT_PROVIDERS", "close_models", "provider_of"]

WEIGHT_PROVIDERS = ("hf", "vllm")
"""Providers whose models hold weights (in this process, or in a server it started)."""
SHARED_SERVER_PROVIDERS = ("vllm",)
"""Providers whose models share one server per base model; closing one stops the server."""


def provider_of(model: Model | str) -> str:
    """The provider part of a model's name (`vllm` of `vllm/meta-llama/...`)."""
    return str(model).split("/", 1)[0]


async def _close_one(model: Model, keep_servers: bool) -> None:
    if keep_servers and provider_of(model) in SHARED_SERVER_PROVIDERS:
        client = getattr(model.api, "client", None)  # absent until the model first generated
        if client is not None:
            await client.close()
        return
    await model.__aexit__(None, None, None)


async def _close_all(models: list[Model], keep_servers: bool) -> None:
    for model in models:
        await _close_one(model, keep_servers)


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    # called from inside a running loop (a notebook cell): close on a loop of a worker thread
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def close_models(models: Iterable[Model], *, keep_servers: bool = False) -> bool:
    """Close every model through inspect's async close; whether any held weights.

    Each model is closed once (closing a closed model does nothing). With `keep_servers`,
    a model of a shared-server provider (`vllm/`) has only its HTTP client closed, so the
    server keeps serving the other models of its base. The result tells the caller whether
    to give freed memory back (`prefbench.core.memory.release_memory`).
    """
    models = list(models)
    if not models:
        return False
    _run(_close_all(models, keep_servers))
    return any(provider_of(model) in WEIGHT_PROVIDERS for model in models)
