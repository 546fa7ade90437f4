"""The decoding every model call states, and what a provider cannot honour.

Every call asks for greedy decoding (temperature 0) and, where the provider takes one, the
profile's seed, unless the role's `config` says otherwise (docs/design.md). A provider that
cannot honour a setting (`UNHONOURED_DECODING`: inspect's `anthropic/` sends no temperature)
is not sent it, so no log claims it; `unhonoured_decoding` states those roles for the logs'
metadata, the console and the report. A light module: the report reads it without loading
the serving machinery.
"""

from typing import Any

from prefbench.core.model_close import provider_of
from prefbench.harness.profile import ModelSpec, Profile

GREEDY = {"temperature": 0.0}
"""The decoding every call gets unless the role's `config` states another (docs/design.md)."""
UNHONOURED_DECODING = {
    "anthropic": (
        ("temperature", "top_p", "top_k"),
        "inspect's anthropic/ provider sends no temperature, top_p or top_k (the API version "
        "it uses removed them): answers are sampled at the model's defaults, not greedy",
    ),
}
"""Decoding settings a provider cannot honour, by provider, and why: never sent and never
claimed in a log's model config; `unhonoured_decoding` states them instead."""
SEEDED_PROVIDERS = ("vllm", "openai", "openai-api", "hf", "offline", "together", "groq", "mistral")
"""Providers whose requests take a seed; the profile's seed is sent with every call."""


def stated_decoding(profile: Profile, spec: ModelSpec) -> dict[str, Any]:
    """The decoding a role's calls carry, as its generate config.

    Temperature 0 and the seed where the provider takes one, then the role's `config`, less
    what the provider cannot honour (`UNHONOURED_DECODING`).
    """
    provider = provider_of(spec.model)
    decoding: dict[str, Any] = dict(GREEDY)
    if provider in SEEDED_PROVIDERS:
        decoding["seed"] = profile.seed
    dropped = UNHONOURED_DECODING.get(provider, ((), ""))[0]
    return {
        name: value for name, value in {**decoding, **spec.config}.items() if name not in dropped
    }


def unhonoured_decoding(profile: Profile) -> dict[str, dict[str, Any]]:
    """The roles whose provider cannot honour the project's decoding, by role.

    Each entry names the model, the settings not sent (greedy's `temperature` and any the
    role's `config` states) and why; none for roles that honour them. The stage runner puts
    it in every log's metadata and warns, and the report states it.
    """
    stated = {}
    for role, spec in profile.roles.items():
        dropped, reason = UNHONOURED_DECODING.get(provider_of(spec.model), ((), ""))
        settings = [name for name in dropped if name in {**GREEDY, **spec.config}]
        if settings:
            stated[role] = {"model": spec.model, "settings": settings, "reason": reason}
    return stated
