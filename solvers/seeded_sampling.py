"""Sampling with a seed per call, so a sampled reply does not depend on the batch it ran in.

transformers samples a batch's next tokens with one draw from torch's global random state,
so a row's tokens depend on every row beside it and on every draw before it in the process.
The local engine batches whatever requests are pending: two fresh runs of the intents stage
(sampled at temperatures 0.7 / 1.0 / 1.2) drew different intents, and a resumed run, whose
cached calls no longer take part, drew different ones again for the calls left (issue 23:
4 of 8 intents).

Here each call gets its own `torch.Generator`, seeded by the call (:func:`call_seed`: the
stated seed, the prompt, the adapter and the decoding settings). The engine decodes "greedily"
through :class:`RowSeededSampler`, a logits processor that applies the call's temperature,
top-k and top-p, draws the token from the row's own generator and leaves only that token
possible. The distribution is the one transformers samples from; the draw is the call's
own. The same call in any batch, in any process, gives the same reply.
"""

import hashlib
from collections.abc import Sequence
from typing import Any

__all__ = ["RowSeededSampler", "call_seed", "seeded_sampling_settings"]

SAMPLING_SETTINGS = ("temperature", "top_k", "top_p")
"""The `generate` arguments the sampler applies itself (transformers' warpers, in its order)."""


def call_seed(stated_seed: int | None, prompt: str, adapter: str, settings: Sequence) -> int:
    """A 63-bit seed for one call: the same call (seed, prompt, adapter, settings) always."""
    key = repr((stated_seed, prompt, adapter, tuple(settings)))
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") >> 1


class RowSeededSampler:
    """A transformers logits processor that samples each row from its own generator.

    Given the batch's raw next-token scores, it applies temperature, top-k and top-p as
    transformers would, draws one token per row with that row's `torch.Generator`, and
    returns scores in which only the drawn token is possible, so greedy decoding emits it.
    """

    def __init__(
        self,
        seeds: Sequence[int],
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
    ) -> None:
        import torch
        from transformers import (
            LogitsProcessorList,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        self._seeds = list(seeds)
        self._generators: list[torch.Generator] = []  # made on the scores' device
        self._warpers = LogitsProcessorList()
        if temperature is not None and temperature != 1.0:
            self._warpers.append(TemperatureLogitsWarper(temperature))
        if top_k is not None and top_k != 0:
            self._warpers.append(TopKLogitsWarper(top_k=top_k))
        if top_p is not None and top_p < 1.0:
            self._warpers.append(TopPLogitsWarper(top_p=top_p))

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """Scores with `-inf` everywhere but each row's drawn token."""
        import torch

        if not self._generators:
            self._generators = [
                torch.Generator(device=scores.device).manual_seed(seed) for seed in self._seeds
            ]
        warped = self._warpers(input_ids, scores.float())
        probabilities = torch.softmax(warped, dim=-1)
        drawn = [
            torch.multinomial(probabilities[row], 1, generator=self._generators[row])
            for row in range(probabilities.size(0))
        ]
        chosen = torch.stack(drawn)
        only = torch.full_like(scores, float("-inf"))
        return only.scatter_(1, chosen, 0.0)


def seeded_sampling_settings(
    settings: dict[str, Any], seeds: Sequence[int], defaults: Any
) -> dict[str, Any]:
    """`generate` keyword arguments that sample each row with its seed (rows in batch order).

    `settings` are the batch's arguments (`do_sample` true, maybe temperature, top_k,
    top_p); `defaults` the model's `generation_config`, whose values stand in for the ones
    not given, as transformers would use them. Decoding becomes greedy over the sampler's
    scores.
    """
    chosen = {name: settings.get(name, getattr(defaults, name, None)) for name in SAMPLING_SETTINGS}
    rest = {
        name: value
        for name, value in settings.items()
        if name not in (*SAMPLING_SETTINGS, "do_sample")
    }
    from transformers import LogitsProcessorList

    sampler = RowSeededSampler(seeds, **chosen)
    return {**rest, "do_sample": False, "logits_processor": LogitsProcessorList([sampler])}
