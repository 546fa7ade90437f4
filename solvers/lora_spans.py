"""Many LoRA adapters in one batch, applied by row span: the engine's fast mixed-batch path.

peft generates a mixed batch (`adapter_names=`, one adapter per row) by, in every LoRA layer
and at every decoding step, gathering each adapter's rows by a Python index list and
scattering the result back. On a small model that bookkeeping costs more than the model: a
batch of six rows of three adapters generated at half the speed of the plain model (SmolLM2
on a CPU, `tests/benchmarks/bench_engine.py`).

Here the batch is ordered by adapter first, so each adapter's rows are one contiguous span.
For the length of one `generate`, every LoRA linear layer computes `base(x)` and adds each
row's adapter: over the prompts, span by span, `lora_B(lora_A(x[span])) * scaling` (peft's
own arithmetic on slices instead of gathered copies); at each decoding step, with several
adapters present, all rows at once through the adapters' weights stacked, each row keeping
its own adapter's columns (a fixed three operations per layer instead of a few per
adapter: a decoding step of a small model is itself only small operations). Tokens equal
peft's (tests compare them, biases included). The layers and adapter weights are peft's;
only the per-row dispatch is replaced. Adapters peft computes differently (DoRA and other
variants, non-linear LoRA layers) are not covered: `covers` says so, and the engine then
keeps peft's `adapter_names` path.
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
    """A LoRA layer's forward for one batch: its base output plus each row's adapter.

    A forward over the prompts (many positions per row, once per `generate`) applies each
    span's adapter to its rows: peft's arithmetic, one pair of matmuls per span. A decoding
    step (one position per row, every new token) with several adapters present instead
    multiplies all rows by the adapters' `lora_A` weights stacked, keeps each row's own
    adapter's columns (times its scaling; zero elsewhere) and multiplies by the `lora_B`
    weights stacked: three operations whatever the number of adapters, where per-span
    dispatch costs a handful per adapter, on a model whose decoding step is itself only a
    few hundred small operations. The stacked weights are a copy of the batch's adapters,
    freed with the batch.
    """
    from torch.nn.functional import linear

    present = [
        (span, layer.lora_A[span.name].weight, layer.lora_B[span.name], layer.scaling[span.name])
        for span in spans
        if span.name in layer.lora_A
    ]
    stacked = _StackedAdapters(present) if len(present) > 1 else None

    def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        result = layer.base_layer(x, *args, **kwargs)
        if stacked is not None and x.dim() == 3 and x.size(1) == 1:
            stacked.add_to(result, x)
            return result
        for span, weight_a, lora_b, scaling in present:
            rows = x[span.start : span.end].to(weight_a.dtype)
            update = linear(linear(rows, weight_a), lora_b.weight, lora_b.bias)
            result[span.start : span.end] += (update * scaling).to(result.dtype)
        return result

    return forward


class _StackedAdapters:
    """Several spans' adapters as one pair of matmuls over a whole decoding step."""

    def __init__(self, present: list[tuple[AdapterSpan, Any, Any, float]]) -> None:
        import torch

        self.spans = [(span, weight_a.size(0), scaling) for span, weight_a, _, scaling in present]
        self.biases = [
            (span, lora_b.bias, scaling)
            for span, _, lora_b, scaling in present
            if lora_b.bias is not None
        ]
        # transposed views: (features, stacked rank) and (stacked rank, outputs)
        self.weight_a = torch.cat([weight_a for _, weight_a, _, _ in present]).t()
        self.weight_b = torch.cat([lora_b.weight for _, _, lora_b, _ in present], dim=1).t()
        self.dtype = self.weight_a.dtype
        self._mask: Any = None

    def add_to(self, result: Any, x: Any) -> None:
        """Add each row's adapter on `x` (rows, 1, features) to `result` (rows, 1, outputs)."""
        import torch

        rows = x.size(0)
        hidden = torch.mm(x.reshape(rows, -1).to(self.dtype), self.weight_a)
        hidden.mul_(self._row_mask(rows))
        flat = result.view(rows, -1)
        if flat.dtype == self.dtype:
            flat.addmm_(hidden, self.weight_b)  # in place: one operation for product and sum
        else:
            flat += torch.mm(hidden, self.weight_b).to(flat.dtype)
        for span, bias, scaling in self.biases:
            flat[span.start : span.end] += (bias * scaling).to(flat.dtype)

    def _row_mask(self, rows: int) -> Any:
        """(rows, stacked rank): each row's adapter's scaling on its columns, else zero."""
        import torch

        if self._mask is None or self._mask.size(0) != rows:
            mask = torch.zeros(rows, self.weight_a.size(1), dtype=self.dtype)
            column = 0
            for span, rank, scaling in self.spans:
                mask[span.start : span.end, column : column + rank] = scaling
                column += rank
            self._mask = mask.to(self.weight_a.device)
        return self._mask


__all__ = ["AdapterSpan", "adapter_spans", "adapters_by_span", "covers", "lora_layers"]
