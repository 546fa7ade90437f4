"""A small paper-shaped run on servers: every system, per-user LoRA adapters trained on
SmolLM2 on the CPU, `small` on inspect's `vllm/` provider and `large` and `judge` on
`openai-api/`, all served by the recording test server over loopback HTTP.

Checks what reaches the server: each user's adapter by name, each adapter loaded on the
server once per run, and the decoding every call claims.
"""

import pytest
from inspect_ai.log import read_eval_log

from prefbench.core.offline_models import smollm2_dir
from prefbench.harness.pipeline import run_benchmark
from tests.conftest import DEMO_SYSTEMS, tiny_demo_profile
from tests.helpers import scripted_run
from tests.openai_test_server import OpenAITestServer

pytestmark = pytest.mark.integration

KEY_VARIABLE = "PREFBENCH_TEST_SERVER_KEY"
INTENT_TEMPERATURES = {0.7, 1.0, 1.2}


@pytest.fixture(scope="module")
def served_run(tmp_path_factory: pytest.TempPathFactory):
    """The tiny demo profile with every role on the test server, run once; the server after."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv(KEY_VARIABLE, "test-key")
    run_dir = tmp_path_factory.mktemp("served") / "run"
    weights = smollm2_dir()
    try:
        with OpenAITestServer() as server:
            served = {"base_url": server.base_url, "api_key_env": KEY_VARIABLE}
            profile = tiny_demo_profile()
            profile["roles"] = {
                "small": {
                    "model": "vllm/smollm2",
                    "weights": str(weights),
                    "model_args": {"enable_lora": True, "max_lora_rank": 8},
                    **served,
                },
                "large": {"model": "openai-api/testserver/large", **served},
                "judge": {"model": "openai-api/testserver/judge", **served},
            }
            profile["judge"] = {"kind": "llm", "multi_candidate": False}
            report = run_benchmark(scripted_run(run_dir, profile))
        yield run_dir, report, server, weights
    finally:
        monkeypatch.undo()


def test_every_system_ran_on_the_servers(served_run):
    run_dir, report, server, _ = served_run
    assert report.rows()
    models = {request.model for request in server.requests}
    assert {"large", "judge"} <= models
    assert len(list((run_dir / "logs" / "gen").glob("*.eval"))) == len(DEMO_SYSTEMS)


def test_each_users_adapter_is_asked_for_by_name(served_run):
    run_dir, _, server, weights = served_run
    adapters = sorted((run_dir / "artifacts").glob("*/*/adapter"))
    assert adapters, "no adapter was trained"
    asked = {request.model for request in server.requests}
    for adapter in adapters:  # by its absolute path, the version folder its link points to
        assert str(adapter.resolve()) in asked, adapter
    # the base model is served from the weights the adapters were trained on
    assert str(weights) in asked


def test_the_small_server_holds_every_users_adapter_at_once(served_run):
    run_dir, *_ = served_run
    headers = [
        read_eval_log(path, header_only=True) for path in (run_dir / "logs" / "gen").glob("*.eval")
    ]
    small = [h.eval.model_roles["small"] for h in headers if "small" in (h.eval.model_roles or {})]
    assert small, "no generation log records the small role"
    for role in small:  # two users × three adapter systems: all in one batch, all kept
        assert role.args["max_loras"] == 6 and role.args["max_cpu_loras"] == 6
        assert role.args["enable_lora"] is True and role.args["max_lora_rank"] == 8
        assert role.config.temperature == 0.0 and role.config.seed == 0


def test_every_call_states_its_decoding(served_run):
    _, _, server, _ = served_run
    for request in server.requests:
        assert request.seed is not None and request.max_tokens is not None, request
        if "facts and requests" in request.system:
            assert request.temperature in INTENT_TEMPERATURES, request
        else:
            assert request.temperature == 0.0, request


def test_each_adapter_is_loaded_on_the_server_once(served_run):
    _, _, server, _ = served_run
    names = [load["lora_name"] for load in server.adapter_loads]
    assert names and len(names) == len(set(names)), names
