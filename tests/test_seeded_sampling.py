"""A sampled call gives the same reply whatever batch it runs in (issue 23, item 9).

Before, the local engine sampled with torch's global random state: a resumed intents stage,
whose cached calls no longer took part, drew different intents for the calls left (4 of 8
in the issue), and two fresh runs differed too. Now each call samples from its own seeded
generator (`prefbench.solvers.seeded_sampling`), through the settings the engine builds.
"""

import pytest
import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

from prefbench.solvers.seeded_sampling import call_seed, seeded_sampling_settings

SETTINGS = {"do_sample": True, "temperature": 1.2, "max_new_tokens": 12}


@pytest.fixture(scope="module")
def model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    model = LlamaForCausalLM(config).eval()
    model.generation_config = GenerationConfig(pad_token_id=0, eos_token_id=1, top_k=50)
    return model


PROMPTS = [[2, 5, 9, 11], [2, 7, 3], [2, 40, 41, 42, 43, 44], [2, 13]]


def generate(model: LlamaForCausalLM, rows: list[int], seeded: bool) -> dict[int, list[int]]:
    """The new tokens of prompts `rows` generated in one left-padded batch."""
    width = max(len(PROMPTS[row]) for row in rows)
    ids = torch.tensor([[0] * (width - len(PROMPTS[row])) + PROMPTS[row] for row in rows])
    mask = (ids != 0).long()
    seeds = [call_seed(0, str(PROMPTS[row]), "__base__", ()) for row in rows]
    settings = (
        seeded_sampling_settings(dict(SETTINGS), seeds, model.generation_config)
        if seeded
        else dict(SETTINGS)
    )
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, **settings)
    return {row: reply(out[index, width:].tolist()) for index, row in enumerate(rows)}


def reply(tokens: list[int]) -> list[int]:
    """A row's new tokens up to its end of sequence (a batch pads rows that ended early)."""
    return tokens[: tokens.index(1) + 1] if 1 in tokens else tokens


def test_a_seeded_call_gives_the_same_tokens_alone_and_in_any_batch(model) -> None:
    alone = {row: generate(model, [row], seeded=True)[row] for row in range(len(PROMPTS))}
    torch.manual_seed(123)  # the global random state plays no part
    together = generate(model, [0, 1, 2, 3], seeded=True)
    resumed = generate(model, [3, 1], seeded=True)  # what is left after a kill
    assert together == alone
    assert resumed == {row: alone[row] for row in (3, 1)}
    assert len({tuple(tokens) for tokens in alone.values()}) > 1


def test_the_global_random_state_made_a_calls_reply_depend_on_its_batch(model) -> None:
    """What the engine did before: the same prompt, other rows beside it, other tokens."""
    torch.manual_seed(7)
    together = generate(model, [0, 1, 2, 3], seeded=False)
    torch.manual_seed(7)
    resumed = generate(model, [3, 1], seeded=False)
    assert (together[3], together[1]) != (resumed[3], resumed[1])


def test_the_sampler_draws_from_the_stated_distribution(model) -> None:
    """Temperature applies: near 0 the seeded draw is the greedy token."""
    greedy = {"do_sample": False, "max_new_tokens": 12}
    cold = seeded_sampling_settings(
        {"do_sample": True, "temperature": 1e-4, "max_new_tokens": 12},
        [call_seed(0, "x", "__base__", ())],
        model.generation_config,
    )
    ids = torch.tensor([PROMPTS[2]])
    with torch.inference_mode():
        assert (
            model.generate(input_ids=ids, **cold).tolist()
            == model.generate(input_ids=ids, **greedy).tolist()
        )


def test_call_seeds_differ_by_stated_seed_prompt_adapter_and_settings() -> None:
    base = call_seed(0, "p", "a", (("temperature", 0.7),))
    assert base == call_seed(0, "p", "a", (("temperature", 0.7),))
    others = {
        call_seed(1, "p", "a", (("temperature", 0.7),)),
        call_seed(0, "q", "a", (("temperature", 0.7),)),
        call_seed(0, "p", "b", (("temperature", 0.7),)),
        call_seed(0, "p", "a", (("temperature", 1.0),)),
        call_seed(None, "p", "a", (("temperature", 0.7),)),
    }
    assert base not in others and len(others) == 5
    assert 0 <= base < 2**63


@pytest.mark.integration
def test_a_resumed_intents_stage_draws_what_an_uninterrupted_one_draws(tmp_path) -> None:
    """SmolLM2 samples the intents (0.7 / 1.0 / 1.2): two fresh runs and a run resumed with
    half of the calls still in its cache give the same intents."""
    import shutil

    from prefbench.harness.pipeline import prepare_records
    from tests.conftest import tiny_demo_profile
    from tests.helpers import scripted_run

    def intents(run_dir) -> dict[str, str]:
        context = scripted_run(run_dir, profile)
        try:
            return {record.id: record.intent for record in prepare_records(context)}
        finally:
            context.runner.close()

    profile = tiny_demo_profile()
    profile["dataset"] = {**profile["dataset"], "records_per_persona": 2, "test_fraction": 0.5}
    profile["generation"] = {**profile["generation"], "intent_max_tokens": 12}
    first = intents(tmp_path / "first")
    assert intents(tmp_path / "second") == first
    resumed = tmp_path / "resumed"
    shutil.copytree(tmp_path / "first" / "cache", resumed / "cache")
    entries = sorted(path for path in (resumed / "cache").rglob("*") if path.is_file())
    for path in entries[::2]:  # the calls a kill left unanswered
        path.unlink()
    assert intents(resumed) == first
    assert len(set(first.values())) > 1
