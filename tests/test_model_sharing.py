"""The greedy roles and the intents stage's sampling model share one loaded SmolLM2.

`ModelPool` makes the sampling `hf/` model (`do_sample=True`) on the weights of the greedy
one it already holds (`prefbench.harness.serving.models.decoding_twin`): one torch module and
tokenizer, the name, config and model args a freshly loaded model would have (so logs and cache keys
do not change), greedy outputs as before, and sampling that samples.
"""

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from inspect_ai.model import GenerateConfig, Model

from prefbench.core.model_close import close_models
from prefbench.harness.profile import ModelSpec, Profile, parse_profile
from prefbench.harness.serving.models import (
    ModelPool,
    decoding_twin,
    make_model,
    serving_spec,
    weights_identity,
)
from prefbench.solvers.lora_engine import release_engine
from tests.helpers import scripted_profile

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPT = "Write one line to Bob about lunch on Friday."
MAX_TOKENS = 12


def smollm2_profile() -> Profile:
    """The scripted profile with both text roles on the packaged SmolLM2 (as the demo)."""
    profile = scripted_profile()
    profile["roles"]["small"] = {"model": "offline/smollm2"}
    profile["roles"]["large"] = {"model": "offline/smollm2"}
    return parse_profile(profile, Path("<sharing test>"))


def close(model: Model) -> None:
    """Close a model made outside the pool as the pool closes its own: engine first."""
    release_engine(model)
    close_models([model])


def reply(model: Model, **config: object) -> str:
    """`model`'s answer to PROMPT, at most MAX_TOKENS tokens."""
    settings = GenerateConfig(max_tokens=MAX_TOKENS, **config)  # type: ignore[arg-type]
    return asyncio.run(model.generate(PROMPT, config=settings)).completion


def test_hf_specs_that_differ_only_in_do_sample_load_the_same_weights() -> None:
    profile = smollm2_profile()
    greedy = serving_spec(profile, "small")
    sampling = serving_spec(profile, "large", sampling=True)
    assert greedy.model_args["do_sample"] is False
    assert sampling.model_args["do_sample"] is True
    assert weights_identity(greedy) == weights_identity(sampling) is not None
    other_folder = {**greedy.model_args, "model_path": "/elsewhere"}
    assert weights_identity(greedy.model_copy(update={"model_args": other_folder})) != (
        weights_identity(greedy)
    )
    assert weights_identity(ModelSpec(model="openai/gpt-4o")) is None


@pytest.mark.integration
class TestSharedSmolLM2:
    """One pool on the real SmolLM2 (loaded once for the class)."""

    @pytest.fixture(scope="class")
    def pool(self) -> Iterator[ModelPool]:
        with ModelPool(smollm2_profile()) as pool:
            yield pool

    @pytest.fixture(scope="class")
    def greedy_before(self, pool: ModelPool) -> str:
        """The greedy answer before any sampling model exists."""
        return reply(pool.role_models(("small",))["small"])

    def test_sampling_and_greedy_models_share_one_loaded_model(
        self, pool: ModelPool, greedy_before: str
    ) -> None:
        greedy = pool.role_models(("small",))["small"]
        sampling = pool.role_models(("large",), sampling=True)["large"]
        assert sampling is not greedy
        assert sampling.api.model is greedy.api.model
        assert sampling.api.tokenizer is greedy.api.tokenizer
        assert (greedy.api.do_sample, sampling.api.do_sample) == (False, True)
        assert pool.role_models(("large",), sampling=True)["large"] is sampling  # made once

    def test_the_twin_is_what_a_fresh_load_would_be_and_samples_the_same(
        self, pool: ModelPool, greedy_before: str
    ) -> None:
        profile = pool.profile
        sampling_spec = serving_spec(profile, "large", sampling=True)
        twin = pool.role_models(("large",), sampling=True)["large"]
        # what logs record and what cache keys are made of: name, base URL, config, model args
        fresh = make_model(sampling_spec)
        try:
            assert str(twin) == str(fresh) == "hf/SmolLM2-135M-Instruct"
            assert twin.name == fresh.name
            assert twin.api.base_url == fresh.api.base_url
            assert twin.config == fresh.config
            assert list(twin.model_args.items()) == list(fresh.model_args.items())
            assert twin.api.model is not fresh.api.model
            drawn_by_fresh = reply(fresh, temperature=1.0)  # right after its load's seeding
        finally:
            close(fresh)
        # making a model seeds the generator (inspect's hf/ provider does), so a twin made
        # now (the generator has moved on) draws what the freshly loaded model drew
        greedy = pool.role_models(("small",))["small"]
        redone = decoding_twin(greedy, sampling_spec)
        try:
            assert reply(redone, temperature=1.0) == drawn_by_fresh
        finally:
            close(redone)

    def test_greedy_output_is_unchanged_and_sampling_samples(
        self, pool: ModelPool, greedy_before: str
    ) -> None:
        greedy = pool.role_models(("small",))["small"]
        sampling = pool.role_models(("large",), sampling=True)["large"]
        drawn = [reply(sampling, temperature=t) for t in (0.7, 1.0, 1.0, 1.3)]
        assert all(text.strip() for text in drawn)
        assert len(set(drawn)) > 1  # the twin samples: not one fixed answer
        # calls asking for logprobs take inspect's own hf/ path: the twin's provider there too
        with_logprobs = [reply(sampling, temperature=1.3, logprobs=True) for _ in range(3)]
        assert len(set(with_logprobs)) > 1
        assert reply(greedy) == greedy_before  # the greedy model still decodes greedily
        assert reply(greedy, temperature=1.3) == greedy_before  # greedy ignores temperature

    def test_closing_the_twin_leaves_the_greedy_weights_loaded(
        self, pool: ModelPool, greedy_before: str
    ) -> None:
        greedy = pool.role_models(("small",))["small"]
        twin = decoding_twin(greedy, serving_spec(pool.profile, "large", sampling=True))
        close(twin)
        assert twin.api.model is None
        assert greedy.api.model is not None
        assert reply(greedy) == greedy_before
