"""Judging is concurrent: every comparison of a stage and both orders of a pair are in flight
together, bounded by the judge role's `max_connections` and its `tokens_per_minute`.

The judge is a scripted model that holds each call for a moment and counts the calls in
flight (`prefbench-inflight`); the systems are the scripted `prefbench-mock` ones.
"""

import asyncio
from pathlib import Path

import pytest
from inspect_ai.model import ChatMessage, ChatMessageUser, GenerateConfig, ModelOutput, modelapi

from prefbench.core.offline_api import OfflineModelAPI
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.serving import token_rate
from prefbench.harness.serving.token_rate import TokenBucket, estimated_tokens
from tests.helpers import INTENT, LARGE_EMAIL, scripted_profile, scripted_run

HOLD_SECONDS = 30.0
"""The longest a call waits for the others it expects to be in flight with it."""


@modelapi(name="prefbench-inflight")
class InFlightJudgeAPI(OfflineModelAPI):
    """Answers `<winner>1</winner>`; records the most calls in flight at once, per phase.

    Phase k's calls wait until `hold_until[k]` calls are in flight together (or
    `HOLD_SECONDS` passed), then are all released and phase k + 1 begins (after the last
    target, calls pass at once). Judged one after another, the calls would never meet and
    the test would fail (slowly), however loaded the machine.
    """

    def __init__(
        self, model_name: str, hold_until: list[int] | None = None, **model_args: object
    ) -> None:
        super().__init__(model_name, **model_args)
        self.targets = list(hold_until or [])
        self.phase = 0
        self.peaks: list[int] = []
        self.in_flight = 0
        self.calls = 0

    async def answer(self, input: list[ChatMessage], config: GenerateConfig) -> ModelOutput:
        self.calls += 1
        self.in_flight += 1
        phase = self.phase
        if phase < len(self.targets):
            self.peaks += [0] * (phase + 1 - len(self.peaks))
            self.peaks[phase] = max(self.peaks[phase], self.in_flight)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + HOLD_SECONDS
            while phase < len(self.targets) and self.phase == phase and loop.time() < deadline:
                if self.in_flight >= self.targets[phase]:
                    self.phase += 1
                    break
                await asyncio.sleep(0.01)
        finally:
            self.in_flight -= 1
        return self.model_output("<winner>1</winner>", 10, 3)


FIRST_CALLS = 16
"""Two pairs × 4 test records × 2 orders (the profile of `judged_run`)."""


def judged_run(tmp_path: Path, judge_role: dict, multi_candidate: bool = False):
    """A scripted run with two pairs to judge; the judge's API object after the run."""
    profile = scripted_profile(
        dataset={"kind": "demo", "personas": 2, "records_per_persona": 4, "test_fraction": 0.5},
        systems=["small_zero_shot", "large_zero_shot", "few_shot"],
        reference_system="few_shot",
        judge={"kind": "llm", "multi_candidate": multi_candidate},
    )
    # three different texts, so no two judge prompts are alike (a repeated prompt can be
    # answered from the cache once the first has been)
    profile["roles"]["large"]["model_args"]["replies"] = {
        "core content": INTENT,
        "wrote before": "FEW-SHOT-EMAIL",
        "": LARGE_EMAIL,
    }
    profile["roles"]["judge"] = {"model": "prefbench-inflight/judge", **judge_role}
    profile["metrics"] = {"text_metrics": False}
    context = scripted_run(tmp_path / "run", profile)
    pool = context.runner.models
    api = pool.role_models(("judge",))["judge"].api
    report = run_benchmark(context)
    samples = report.rows()[0].n
    return api, samples, context


def test_every_pair_and_both_orders_are_in_flight_together(tmp_path: Path) -> None:
    judge = {"config": {"max_connections": 100}, "model_args": {"hold_until": [FIRST_CALLS]}}
    api, samples, _ = judged_run(tmp_path, judge)
    assert 2 * samples * 2 == FIRST_CALLS  # two pairs, both orders of every sample
    assert api.calls == FIRST_CALLS  # every answer parses: no retry
    # judged pair after pair, at most 2 * samples calls could meet; order after order, 1
    assert api.peaks == [FIRST_CALLS]


def test_the_role_connections_bound_the_calls_in_flight(tmp_path: Path) -> None:
    judge = {"config": {"max_connections": 3}, "model_args": {"hold_until": [3, 3, 3, 3, 3]}}
    api, _, _ = judged_run(tmp_path, judge)
    assert api.calls == FIRST_CALLS
    assert api.peaks == [3, 3, 3, 3, 3]  # three at a time, never a fourth


def test_rotations_of_the_multi_candidate_stage_are_in_flight_together(tmp_path: Path) -> None:
    rotations = 4 * 3  # 4 test records, three systems: three rotations each
    judge = {
        "config": {"max_connections": 100},
        "model_args": {"hold_until": [FIRST_CALLS, rotations]},
    }
    api, _, context = judged_run(tmp_path, judge, multi_candidate=True)
    assert len(context.multi_candidate_logs["llm"].read().samples) * 3 == rotations
    assert api.calls == FIRST_CALLS + rotations
    assert api.peaks == [FIRST_CALLS, rotations]


# --- tokens per minute -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_token_bucket_books_in_arrival_order_and_waits_for_room() -> None:
    clock = Clock()
    bucket = TokenBucket(6000, clock=clock)  # 100 tokens a second, one minute's worth held
    assert bucket.book(5000) == 0
    assert bucket.book(1000) == 0  # the bucket is full now
    assert bucket.book(500) == pytest.approx(5.0)  # 500 tokens drain in 5 s
    assert bucket.book(500) == pytest.approx(10.0)  # booked behind the previous one
    clock.now = 70.0  # the 7,000 tokens booked have drained (100 a second)
    assert bucket.book(6000) == 0
    assert bucket.book(12000) == pytest.approx(120.0)  # a call above the limit waits it out


def test_a_call_books_its_input_and_its_whole_answer_budget() -> None:
    messages = [ChatMessageUser(content="x" * 400)]
    assert estimated_tokens(messages, GenerateConfig(max_tokens=50)) == 150


def test_the_judge_role_waits_under_its_tokens_per_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def recorded_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(token_rate, "sleep", recorded_sleep)
    judge = {"config": {"max_connections": 100}, "tokens_per_minute": 1000}
    api, samples, context = judged_run(tmp_path, judge)
    calls = 2 * samples * 2
    assert api.calls == calls
    # every judge call books ~100 input tokens + its 512-token budget: after the first call
    # the bucket of 1000 is full, and each later call waits for its tokens to drain
    assert len(waits) == calls - 1
    assert waits == sorted(waits) and waits[-1] > 30 * (calls - 2)
    # the other roles have no limit: only the judge's calls waited
    small = context.runner.models.role_models(("small",))["small"]
    assert getattr(small.api, "_prefbench_token_bucket", None) is None
