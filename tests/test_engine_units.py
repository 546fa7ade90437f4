"""The local engine without a model: how it cuts batches, which models stay for the run."""

from dataclasses import dataclass, field

import pytest

from prefbench.harness.serving.models import held_per_stage
from prefbench.solvers.lora_engine import _Request, plan_batches
from prefbench.solvers.lora_spans import AdapterSpan, adapter_spans

GREEDY = (("do_sample", False), ("max_new_tokens", 8))
SAMPLED = (("do_sample", True), ("max_new_tokens", 8), ("temperature", 0.7))


def _request(prompt: str, settings: tuple = GREEDY, batch_size: int = 16) -> _Request:
    return _Request(prompt=prompt, adapter="__base__", settings=settings, batch_size=batch_size)


def test_a_burst_within_the_batch_size_is_one_batch_sorted_by_length() -> None:
    requests = [_request("x" * length) for length in (5, 1, 3, 2, 4)]
    (batch,) = plan_batches(requests)
    assert [len(request.prompt) for request in batch] == [1, 2, 3, 4, 5]


def test_a_larger_burst_is_cut_into_the_fewest_even_batches() -> None:
    requests = [_request("x" * length) for length in range(25, 0, -1)]
    batches = plan_batches(requests)
    assert [len(batch) for batch in batches] == [13, 12]
    lengths = [len(request.prompt) for batch in batches for request in batch]
    assert lengths == sorted(lengths)  # short prompts together, long ones together


def test_settings_never_share_a_batch_and_the_smallest_batch_size_wins() -> None:
    requests = [_request(str(i), GREEDY, batch_size=4) for i in range(6)]
    requests += [_request(str(i), SAMPLED) for i in range(3)]
    batches = plan_batches(requests)
    assert [len(batch) for batch in batches] == [3, 3, 3]
    assert {batch[0].settings for batch in batches[:2]} == {GREEDY}
    assert batches[2][0].settings == SAMPLED


@dataclass
class _Named:
    """Stands in for an inspect `Model`: its name and model args."""

    name: str
    model_args: dict = field(default_factory=dict)
    api: object = None

    def __str__(self) -> str:
        return self.name


@pytest.mark.parametrize(
    ("name", "model_args", "per_stage"),
    [
        ("hf/SmolLM2-135M-Instruct", {"device": "cpu"}, False),  # the demo: loaded once
        ("hf/SmolLM2-135M-Instruct", {}, False),
        ("hf/meta-llama/Llama-3-8B", {"device": "cuda:0"}, True),  # its memory goes to training
        ("vllm/meta-llama/Llama-3-8B", {"device": "cuda:0"}, False),  # a server: kept
        ("prefbench-mock/small", {}, False),
    ],
)
def test_only_accelerator_hf_models_are_closed_after_each_stage(
    name: str, model_args: dict, per_stage: bool
) -> None:
    assert held_per_stage(_Named(name, model_args)) is per_stage  # type: ignore[arg-type]


def test_adapter_spans_are_the_runs_of_each_adapter_without_base_rows() -> None:
    rows = ["__base__", "__base__", "a", "a", "b", "c", "c"]
    assert adapter_spans(rows, "__base__") == [
        AdapterSpan(2, 4, "a"),
        AdapterSpan(4, 5, "b"),
        AdapterSpan(5, 7, "c"),
    ]
    assert adapter_spans(["__base__"] * 3, "__base__") == []


def test_adapter_spans_refuse_rows_that_are_not_grouped() -> None:
    with pytest.raises(ValueError, match="'a' are not contiguous"):
        adapter_spans(["a", "b", "a"], "__base__")
