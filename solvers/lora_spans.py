"""Many LoRA adapters in one batch, applied by row span: the engine's fast mixed-batch path.

peft generates a mixed batch (`adapter_names=`, one adapter per row) by, in every LoRA layer
and at every decoding step, gathering each adapter's rows by a Python index list and
scattering the result back. On a small model that bookkeeping costs more than the model: a
batch of six rows of three adapters generated at half the speed of the plain model (SmolLM2
on a CPU, `tests/benchmarks/bench_engine.py`).

Here the batch is ordered by adapter first, so each adapter's rows are one contiguous span.
For the length of one `generate`, every LoRA linear layer computes
`base(x)` and adds, span by span, `lora_B(lora_A(x[span])) * scaling`: peft's own arithmetic
on slices instead of gathered copies, so the tokens equal peft's (a test compares them). The
layers and adapter weights are peft's; only the per-row dispatch is replaced. Adapters peft
computes differently (DoRA and other variants, non-linear LoRA layers) are not covered:
`covers` says so, and the engine then keeps peft's `adapter_names` path.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AdapterSpan:
    """Rows `start` to `end` (exclusive) of a batch use the adapter `name`."""

    start: int
    end: int
    name: str


def adapter_spans(row_adapters: Sequence[str], base_name: str) -> list[AdapterSpan]:
    """The contiguous runs of equal adapter names, leaving out rows of `base_name`.

    The rows must be ordered so that each adapter's rows are together.
    """
    spans: list[AdapterSpan] = []
    for index, name in enumerate(row_adapters):
        if spans and spans[-1].name == name and spans[-1].end == index:
            spans[-1] = AdapterSpan(spans[-1].start, index + 1, name)
        elif name != base_name:
            if any(span.name == name for span in spans):
                raise ValueError(f"rows of adapter {name!r} are not contiguous")
            spans.append(AdapterSpan(index, index + 1, name))
    return spans


def lora_layers(peft_model: Any) -> list[Any]:
    """Every LoRA layer of a peft model."""
    from peft.tuners.lora import LoraLayer

    return [module for module in peft_model.modules() if isinstance(module, LoraLayer)]


def covers(layers: Sequence[Any], names: Sequence[str]) -> bool:
    """Whether span dispatch computes these adapters exactly as peft does.

    True when every LoRA layer is peft's plain `Linear` and none of the adapters in `names`
    uses a variant (DoRA and the like) in it.
    """
    from peft.tuners.lora.layer import Linear

    return all(
        type(layer) is Linear and not any(name in layer.lora_variant for name in names)
        for layer in layers
    )


@contextmanager
def adapters_by_span(layers: Sequence[Any], spans: Sequence[AdapterSpan]) -> Iterator[None]:
    """Within the block, each LoRA layer applies each span's adapter to that span's rows only.

    Rows in no span get the base layer alone. Check `covers` first.
    """
    for layer in layers:
        layer.forward = _span_forward(layer, spans)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


def _span_forward(layer: Any, spans: Sequence[AdapterSpan]) -> Any:
    """A LoRA layer's forward for one batch: its base output plus each span's adapter."""
    from torch.nn.functional import linear

    present = [span for span in spans if span.name in layer.lora_A]

    def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        result = layer.base_layer(x, *args, **kwargs)
        for span in present:
            lora_a, lora_b = layer.lora_A[span.name], layer.lora_B[span.name]
            rows = x[span.start : span.end].to(lora_a.weight.dtype)
            update = linear(linear(rows, lora_a.weight), lora_b.weight, lora_b.bias)
            result[span.start : span.end] += (update * layer.scaling[span.name]).to(result.dtype)
        return result

    return forward


__all__ = ["AdapterSpan", "adapter_spans", "adapters_by_span", "covers", "lora_layers"]
