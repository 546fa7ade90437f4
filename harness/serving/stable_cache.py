"""Model-call cache keys that do not depend on the server's address.

inspect keys its model-call cache on the request (config, messages, tools) and on the
provider's `base_url`. A `vllm/` server that inspect starts gets a random port (and its first
calls are keyed before the server has an address at all), and an external server may move
to another host or port between two runs of the same folder: with the address in the key, a
resumed run would miss the cache for every call that had finished. What answers a call is
already pinned elsewhere: the cache folder is per model name (`cache/<provider>/<model>`),
and every stage key holds the role's identity (model, weights, model args, decoding;
`prefbench.harness.serving.models.role_identity`).

`use_address_free_cache_keys()` makes inspect compute its keys with `base_url` left out. It
wraps inspect's private `inspect_ai.model._cache._cache_key` (inspect has no setting for
this); `tests/test_endpoints_cache.py` fails if an inspect upgrade moves it.
"""

from typing import Any

from inspect_ai.model import _cache as inspect_cache

_installed = False


def use_address_free_cache_keys() -> None:
    """Leave the server address out of inspect's cache keys in this process (idempotent)."""
    global _installed
    if _installed:
        return
    address_key = inspect_cache._cache_key

    def key_without_address(entry: Any) -> str:
        base_url, entry.base_url = entry.base_url, None
        try:
            return address_key(entry)
        finally:
            entry.base_url = base_url

    inspect_cache._cache_key = key_without_address
    _installed = True
