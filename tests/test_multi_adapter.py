"""One base, many adapters, one batch: the engine against inspect's `hf/` provider.

Real SmolLM2 with two tiny random adapters: `prefbench-lora` rows against a full model copy
per adapter, and the base's own rows (`serve_with_engine`) against a plain `hf/` model, all
in one mixed batch; greedy outputs must match token by token.
"""

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.model import GenerateConfig, Model, get_model

from prefbench.core.offline_models import smollm2_dir
from prefbench.harness.profile import ModelSpec
from prefbench.harness.serving.models import SMOLLM2, resolved_spec
from prefbench.solvers.lora_engine import (
    BASE_ADAPTER,
    LORA_PROVIDER,
    release_engines,
    serve_with_engine,
    shared_engine,
)
from prefbench.solvers.lora_spans import covers, lora_layers

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytestmark = pytest.mark.integration

PROMPTS = {
    "u0": ["Write one line to Bob about lunch.", "Say thanks to Ann for the long report."],
    "u1": ["Write a memo on budgets.", "Hello"],
    "base": ["Write a short note to the team about the audit.", "Hi"],
}
ADAPTER_USERS = ("u0", "u1")
MAX_TOKENS = 24


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return smollm2_dir(tmp_path_factory.getbasetemp() / "smollm2-cache")


@pytest.fixture(scope="module")
def adapters(base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two random (not zero-initialised) rank-2 adapters, so each visibly changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folders = {}
    for seed, user in enumerate(ADAPTER_USERS):
        torch.manual_seed(seed)
        model = get_peft_model(
            AutoModelForCausalLM.from_pretrained(base_dir),
            LoraConfig(r=2, target_modules="all-linear", init_lora_weights=False),
        )
        for config in model.peft_config.values():
            config.base_model_name_or_path = str(base_dir)
        folders[user] = tmp_path_factory.mktemp(user) / "adapter"
        model.save_pretrained(folders[user])
    return folders


def _hf_model(name: str, base_dir: Path, **model_args: str) -> Model:
    spec = resolved_spec(ModelSpec(model=SMOLLM2))
    args = {**spec.model_args, "model_path": str(base_dir), **model_args}
    return get_model(f"hf/{name}", config=GenerateConfig(**spec.config), memoize=False, **args)


async def _generate_all(models: dict[str, Model]) -> dict[str, list[str]]:
    """Every user's prompts at once, as an eval's concurrent samples send them."""
    config = GenerateConfig(max_tokens=MAX_TOKENS)
    calls = [
        models[user].generate(prompt, config=config)
        for user, prompts in PROMPTS.items()
        for prompt in prompts
    ]
    outputs = iter(await asyncio.gather(*calls))
    return {user: [next(outputs).completion for _ in prompts] for user, prompts in PROMPTS.items()}


def test_shared_base_equals_one_copy_per_adapter(base_dir: Path, adapters: dict[str, Path]) -> None:
    copies = {
        user: _hf_model(
            f"copy-{user}", base_dir, model_path=str(path), tokenizer_path=str(base_dir)
        )
        for user, path in adapters.items()
    }
    copies["base"] = _hf_model("plain", base_dir)
    expected = asyncio.run(_generate_all(copies))
    for model in copies.values():
        model.api.close()

    base = serve_with_engine(_hf_model("base", base_dir))
    assert str(base) == "hf/base"  # the name (and so the cache keys) of inspect's hf/ model
    engine = shared_engine(base)
    batches: list[list[str]] = []
    generate_batch = engine._generate_batch

    def recording(batch, settings):  # noqa: ANN001, ANN202
        batches.append([request.adapter for request in batch])
        generate_batch(batch, settings)

    engine._generate_batch = recording  # type: ignore[method-assign]
    shared = {
        user: get_model(
            f"{LORA_PROVIDER}/{user}",
            config=base.config,
            memoize=False,
            base=base,
            adapter_path=str(path),
        )
        for user, path in adapters.items()
    }
    shared["base"] = base
    base_weight = base.api.model.model.layers[0].self_attn.q_proj.weight
    try:
        actual = asyncio.run(_generate_all(shared))
        assert actual == expected
        assert expected["u0"] != expected["u1"] != expected["base"]
        # every request went through one batch holding both adapters and the base, applied
        # span by span (not peft's per-row gathering)
        assert covers(lora_layers(engine._peft_model), engine.adapter_names)
        assert len(batches) == 1
        assert set(batches[0]) == {*engine.adapter_names, BASE_ADAPTER}
        assert len(engine.adapter_names) == 2
        # the role's base model is untouched and its weights are shared, not copied
        assert base.api.model.model.layers[0].self_attn.q_proj.weight is base_weight
        assert not hasattr(base.api.model, "peft_config")
        wrapped = engine._peft_model.base_model.model.model.layers[0].self_attn.q_proj
        assert wrapped.base_layer.weight.data_ptr() == base_weight.data_ptr()
    finally:
        release_engines()
        base.api.close()


def test_provider_rejects_a_base_that_is_not_hf(adapters: dict[str, Path]) -> None:
    mock = get_model("prefbench-mock/base", memoize=False)
    with pytest.raises(ValueError, match="must be an hf/ Model"):
        get_model(f"{LORA_PROVIDER}/x", memoize=False, base=mock, adapter_path=str(adapters["u0"]))


def test_span_dispatch_leaves_dora_adapters_to_peft(base_dir: Path) -> None:
    """DoRA computes its update differently: the engine must keep peft's own mixed batch."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir)
    plain = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"]))
    assert covers(lora_layers(plain), ["default"])
    plain.add_adapter("dora", LoraConfig(r=2, target_modules=["q_proj"], use_dora=True))
    assert not covers(lora_layers(plain), ["default", "dora"])
    assert covers(lora_layers(plain), ["default"])


def test_rows_of_different_budgets_share_a_batch_and_keep_their_own(base_dir: Path) -> None:
    """Greedy tokens do not depend on the budget: each row is cut at its own max_tokens."""
    plain = _hf_model("plain-budget", base_dir)
    prompts = {8: "Write one line to Bob about lunch.", 20: "Write a memo on budgets."}

    async def alone() -> dict[int, str]:
        return {
            budget: (
                await plain.generate(prompt, config=GenerateConfig(max_tokens=budget))
            ).completion
            for budget, prompt in prompts.items()
        }

    expected = asyncio.run(alone())
    plain.api.close()
    base = serve_with_engine(_hf_model("base-budget", base_dir))
    engine = shared_engine(base)
    batches: list[list[int | None]] = []
    generate_batch = engine._generate_batch

    def recording(batch, settings):  # noqa: ANN001, ANN202
        batches.append([request.max_new_tokens for request in batch])
        generate_batch(batch, settings)

    engine._generate_batch = recording  # type: ignore[method-assign]

    async def together() -> list[Any]:
        calls = [
            base.generate(prompt, config=GenerateConfig(max_tokens=budget))
            for budget, prompt in prompts.items()
        ]
        return await asyncio.gather(*calls)

    try:
        outputs = asyncio.run(together())
        assert len(batches) == 1 and sorted(batches[0]) == [8, 20]  # type: ignore[type-var]
        assert [output.completion for output in outputs] == list(expected.values())
        assert [output.usage.output_tokens for output in outputs] == [8, 20]
    finally:
        release_engines()
        base.api.close()
