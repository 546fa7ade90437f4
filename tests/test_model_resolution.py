"""Role specs to served and trained models: weights, GPUs, servers, decoding, LoRA slots.

No model is loaded: these tests check what prefbench would hand to inspect (and to the
trainer), and what it refuses before any stage runs.
"""

import json
import shutil
from pathlib import Path

import pytest
from inspect_ai.model import get_model

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.model_close import close_models
from prefbench.core.offline_models import smollm2_identity
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.profile import ModelSpec, parse_profile
from prefbench.harness.serving.decoding import unhonoured_decoding
from prefbench.harness.serving.lora_slots import plan_lora_slots
from prefbench.harness.serving.models import (
    role_fingerprint,
    role_identity,
    serving_spec,
    training_base,
    with_lora_serving,
)
from prefbench.harness.serving.weights import local_weights
from tests.helpers import run_cli, scripted_profile, scripted_run

HUB_ID = "acme/tiny-chat"


def parsed(profile: dict):
    return parse_profile(profile, Path("<test profile>"))


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face cache holding one snapshot of HUB_ID; its snapshot folder."""
    cache = tmp_path / "hf-cache"
    snapshot = cache / "models--acme--tiny-chat" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "llama"}))
    refs = cache / "models--acme--tiny-chat" / "refs"
    refs.mkdir()
    (refs / "main").write_text("0123abcd")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    return snapshot


def adapter_profile(small: dict, **overrides: object) -> dict:
    profile = scripted_profile(**overrides)
    profile["roles"]["small"] = small
    profile["systems"] = ["small_zero_shot", "few_shot", "naive_finetune"]
    return profile


def test_a_hub_id_resolves_to_its_cached_snapshot_for_serving_and_training(hub_cache):
    profile = parsed(adapter_profile({"model": f"vllm/{HUB_ID}", "model_args": {}}))
    assert local_weights(profile.roles["small"]) == hub_cache
    folder, _ = training_base(profile)
    assert folder == hub_cache
    # vLLM finds the hub id in the same cache itself: no model_path, which it would refuse
    served = serving_spec(profile, "small")
    assert served.model == f"vllm/{HUB_ID}" and "model_path" not in served.model_args
    hf = parsed(adapter_profile({"model": f"hf/{HUB_ID}"}))
    assert serving_spec(hf, "small").model_args["model_path"] == str(hub_cache)


def test_explicit_weights_serve_and_train_the_same_folder(hub_cache, tmp_path):
    profile = parsed(
        adapter_profile(
            {
                "model": f"vllm/{HUB_ID}",
                "weights": str(hub_cache),
                "devices": [1],
                "startup_timeout": 900,
            }
        )
    )
    assert training_base(profile)[0] == hub_cache
    served = serving_spec(profile, "small")
    assert served.model == f"vllm/{hub_cache}"
    assert served.model_args["devices"] == "1"
    assert served.model_args["timeout"] == 900  # inspect's vLLM startup timeout
    bad = parsed(adapter_profile({"model": f"vllm/{HUB_ID}", "weights": str(tmp_path)}))
    with pytest.raises(PrefbenchInputError, match="has no config.json"):
        training_base(bad)


def test_a_small_model_not_on_disk_is_refused_before_any_stage(
    monkeypatch, capsys, write_profile, tmp_path
):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty"))
    path = write_profile(adapter_profile({"model": "vllm/acme/not-downloaded"}))
    out = tmp_path / "run"
    code, output = run_cli(monkeypatch, capsys, "run", "--profile", str(path), "--out", str(out))
    assert code == 2, output
    flat = " ".join(output.split())
    assert "role small" in flat and "roles.small.weights" in flat
    assert "huggingface-cli download acme/not-downloaded" in flat
    assert not (out / "logs").exists(), "a stage ran before the check"


def test_a_hosted_small_model_cannot_train(tmp_path):
    context = scripted_run(tmp_path / "run", adapter_profile({"model": "openai/gpt-4o-mini"}))
    with pytest.raises(PrefbenchInputError, match="not served from local weights"):
        run_benchmark(context)


def test_decoding_is_stated_greedy_and_seeded_unless_the_role_says_otherwise():
    profile = parsed(scripted_profile(seed=7))
    profile.roles["large"] = ModelSpec(model="openai-api/local/llama", base_url="http://x/v1")
    profile.roles["judge"] = ModelSpec(model="anthropic/claude", config={"temperature": 0.3})
    assert serving_spec(profile, "large").config == {"temperature": 0.0, "seed": 7}
    assert serving_spec(profile, "large").model_args["base_url"] == "http://x/v1"
    # anthropic/ sends no temperature: not claimed in the config, stated instead
    assert serving_spec(profile, "judge").config == {}
    assert unhonoured_decoding(profile)["judge"]["settings"] == ["temperature"]
    assert "large" not in unhonoured_decoding(profile)
    profile.roles["large"] = ModelSpec(model="openai/gpt-4o", config={"temperature": 0.3})
    assert serving_spec(profile, "large").config == {"temperature": 0.3, "seed": 7}


def test_where_a_role_runs_is_not_part_of_its_stage_keys():
    here = parsed(scripted_profile())
    moved = parsed(scripted_profile())
    moved.roles["large"] = moved.roles["large"].model_copy(
        update={"base_url": "http://elsewhere:9000/v1", "api_key_env": "KEY"}
    )
    assert role_fingerprint(here, ("large",)) == role_fingerprint(moved, ("large",))
    greedy = parsed(scripted_profile())
    greedy.roles["large"] = greedy.roles["large"].model_copy(update={"config": {"seed": 3}})
    assert role_fingerprint(here, ("large",)) != role_fingerprint(greedy, ("large",))


def test_a_model_is_its_weights_not_their_place(hub_cache, tmp_path):
    """The hub cache's snapshot, a copy in /models/..., a folder named as the model: one model."""
    (hub_cache / "model.safetensors").write_bytes(b"the weights")
    copy = tmp_path / "models" / "tiny-chat"
    shutil.copytree(hub_cache, copy)
    (copy / "README.md").write_text("copied by someone else")
    from_hub = parsed(adapter_profile({"model": f"hf/{HUB_ID}"}))
    from_folder = parsed(adapter_profile({"model": f"hf/{HUB_ID}", "weights": str(copy)}))
    by_path = parsed(adapter_profile({"model": f"hf/{copy}"}))
    keys = {role_fingerprint(profile, ("small",)) for profile in (from_hub, from_folder, by_path)}
    assert len(keys) == 1
    bases = {training_base(profile)[1] for profile in (from_hub, from_folder, by_path)}
    assert len(bases) == 1  # adapters trained on one are current on the others
    assert str(tmp_path) not in json.dumps(role_identity(from_folder, "small"))

    (copy / "model.safetensors").write_bytes(b"other weights")
    assert role_fingerprint(from_folder, ("small",)) not in keys
    assert training_base(from_folder)[1] not in bases


def test_the_packaged_model_is_its_gguf_content():
    demo = parsed(scripted_profile())
    demo.roles["small"] = ModelSpec(model="offline/smollm2")
    identity = role_identity(demo, "small")
    assert identity["gguf_sha256"] == smollm2_identity()["gguf_sha256"]
    assert "mtime" not in json.dumps(identity) and "/" not in identity["gguf_sha256"]


def test_lora_slots_follow_the_users_and_yield_to_the_profile():
    chosen = {"max_loras": 32}
    small = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4}
    small["num_hidden_layers"] = 2
    slots = plan_lora_slots(rank=8, adapters=15, model_config=small)
    assert (slots.max_loras, slots.max_cpu_loras) == (15, 15)
    slots = plan_lora_slots(rank=8, adapters=500, model_config=small)
    assert (slots.max_loras, slots.max_cpu_loras) == (64, 500)
    slots = plan_lora_slots(rank=8, adapters=500, model_config=None)  # memory unknown
    assert (slots.max_loras, slots.max_cpu_loras) == (8, 500)
    slots = plan_lora_slots(rank=8, adapters=15, model_config=None, given=chosen)
    assert (slots.max_loras, slots.max_cpu_loras) == (32, 32)  # vLLM: ≥ max_loras
    spec = with_lora_serving(ModelSpec(model="vllm/base"), slots)
    assert spec.model_args["enable_lora"] is True and spec.model_args["max_lora_rank"] == 8


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        (
            {"small": {"devices": [1, 2]}, "large": {"devices": [2, 3]}},
            "GPU 2 is shared by vLLM servers",
        ),
        ({"small": {"devices": [3]}, "large": {}}, "set roles.large.devices"),
        ({"small": {"devices": [0]}, "large": {"devices": [2]}}, "adapter training uses GPU 0"),
    ],
)
def test_roles_that_cannot_share_their_gpus_are_refused_at_load(roles, message):
    profile = adapter_profile({"model": "vllm/a/small", **roles["small"]})
    profile["roles"]["large"] = {"model": "vllm/a/large", **roles["large"]}
    with pytest.raises(PrefbenchInputError, match=message):
        parsed(profile)


def test_servers_that_state_their_share_may_share_a_gpu():
    half = {"gpu_memory_utilization": 0.45}
    profile = adapter_profile({"model": "vllm/a/small", "devices": [1], "model_args": half})
    profile["roles"]["large"] = {"model": "vllm/a/large", "devices": [1, 2], "model_args": half}
    parsed(profile)


def test_a_vllm_model_path_is_refused_for_weights():
    with pytest.raises(PrefbenchInputError, match="set `weights:`"):
        parsed(adapter_profile({"model": "vllm/a/small", "model_args": {"model_path": "/m"}}))


def test_an_hf_role_runs_on_one_gpu():
    with pytest.raises(PrefbenchInputError, match="hf/ model runs on one GPU"):
        parsed(adapter_profile({"model": "hf/a/small", "devices": [0, 1]}))


def test_closing_async_clients_does_not_raise(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    monkeypatch.setenv("LOCAL_API_KEY", "test")
    models = [
        get_model("openai/gpt-4o", memoize=False),
        get_model("anthropic/claude-3-5-sonnet-latest", memoize=False),
        get_model("openai-api/local/llama", base_url="http://127.0.0.1:9/v1", memoize=False),
        get_model("vllm/acme/base", base_url="http://127.0.0.1:9/v1", memoize=False),
    ]
    with pytest.raises(RuntimeError, match="async close"):
        models[0].api.close()  # what prefbench did before: inspect refuses it
    assert close_models(models) is True  # vllm/ holds weights (in its server)
    assert close_models(models) is True  # closing again does nothing
