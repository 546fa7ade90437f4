"""Span dispatch against peft's own mixed batch, on a tiny two-layer model (no download).

Both of its paths: the forward over prompts (several positions per row, one pair of
matmuls per span) and a decoding step (one position per row, all adapters stacked), with
and without LoRA biases, base rows first as the engine orders them.
"""

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from prefbench.solvers.lora_spans import adapter_spans, adapters_by_span, covers, lora_layers

BASE = "__base__"
ROWS = [BASE, "u0", "u0", "u1", "u2", "u2"]


class _TwoLayers(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = torch.nn.Linear(12, 20)
        self.down = torch.nn.Linear(20, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.relu(self.up(x)))


def _model_with_adapters(lora_bias: bool) -> PeftModel:
    torch.manual_seed(0)
    model = None
    for seed, name in enumerate(("u0", "u1", "u2")):
        config = LoraConfig(
            r=2 + seed,
            lora_alpha=4 * (seed + 1),
            target_modules=["up", "down"],
            init_lora_weights=False,
            lora_bias=lora_bias,
        )
        if model is None:
            model = get_peft_model(_TwoLayers(), config, adapter_name=name)
        else:
            model.add_adapter(name, config)
    assert model is not None
    return model.eval()


@pytest.mark.parametrize("lora_bias", [False, True])
@pytest.mark.parametrize("positions", [1, 5], ids=["decoding step", "prompt"])
def test_span_dispatch_equals_peft_mixed_batch(lora_bias: bool, positions: int) -> None:
    model = _model_with_adapters(lora_bias)
    x = torch.randn(len(ROWS), positions, 12)
    with torch.inference_mode():
        expected = model(x, adapter_names=ROWS)
        layers = lora_layers(model)
        assert covers(layers, ROWS)
        with adapters_by_span(layers, adapter_spans(ROWS, BASE)):
            got = model.base_model.model(x)
        after = model.base_model.model(x)
        active_adapter = model(x)
        with model.disable_adapter():
            base_only = model(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[0], base_only[0])  # the base row: no adapter
    assert not torch.allclose(got[1:], base_only[1:])  # the adapters change their rows
    torch.testing.assert_close(after, active_adapter)  # peft's own forward is back
