"""Profiles whose roles run on `tests.openai_test_server` (shared by the endpoint tests)."""

from tests.helpers import scripted_profile

KEY_VARIABLE = "PREFBENCH_TEST_SERVER_KEY"
"""The environment variable the roles read their (test) API key from."""


def endpoint_profile(base_url: str, **overrides: object) -> dict:
    """The scripted profile with every role on the test server."""
    profile = scripted_profile(**overrides)
    server = {"base_url": base_url, "api_key_env": KEY_VARIABLE}
    profile["roles"] = {
        "small": {"model": "vllm/small-model", **server},
        "large": {"model": "openai-api/testserver/large-model", **server},
        # inspect's own OpenAI provider, on Chat Completions (the server has no Responses API);
        # a name inspect does not know is taken for a reasoning model and sent no temperature
        "judge": {"model": "openai/gpt-4o", "model_args": {"responses_api": False}, **server},
    }
    profile["metrics"] = {"text_metrics": False}
    return profile
