"""`judge.batch`: the judge's calls through OpenAI's Batch API, priced at the batch rate.

The batch run goes through inspect's real OpenAI provider and batcher against the local test
server's Files and Batches endpoints (`tests.openai_batch_endpoints`): upload a JSONL file,
create a batch, poll it, download the output file. Its answers land in the same judge logs
and model-call cache as live calls: a live run over the same folder repeats no call.
"""

from pathlib import Path

import pytest
from inspect_ai.model import CachePolicy, ChatMessageUser, GenerateConfig
from inspect_ai.model import _cache as inspect_cache

from prefbench.harness.cost.dry_run import plan_run
from prefbench.harness.cost.spend import batch_discount, cost_section, price_of
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.profile import parse_profile
from prefbench.harness.stages.records import profile_records
from tests.helpers import scripted_profile, scripted_run
from tests.openai_test_server import OpenAITestServer
from tests.test_endpoints import KEY_VARIABLE, endpoint_profile

QUICK_BATCHES = {"size": 4, "send_delay": 0.2, "tick": 0.2}
"""Small batches sent and polled every 0.2 s (inspect's defaults: 100 requests, 15 s)."""
JUDGE_MODEL = "openai/gpt-4o"


@pytest.fixture(autouse=True)
def server_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "test-key")


def judge_requests(server: OpenAITestServer) -> list[str]:
    return [r.prompt for r in server.requests if "impartial evaluator" in r.system.lower()]


def test_batched_judge_uses_the_batch_api_and_shares_logs_and_cache(tmp_path: Path) -> None:
    with OpenAITestServer() as server:
        batched = endpoint_profile(server.base_url, judge={"kind": "llm", "batch": QUICK_BATCHES})
        context = scripted_run(tmp_path / "run", batched)
        report = run_benchmark(context)
        judged = judge_requests(server)
        batches = list(server.batch.batches.values())
        assert judged, "no judge call reached the server"
        assert batches and all(batch["status"] == "completed" for batch in batches)
        answered_in_batches = sum(batch["request_counts"]["completed"] for batch in batches)
        assert answered_in_batches == len(judged), "a judge call went around the Batch API"
        assert report.rows() and report.cost is not None

        # the report prices the judge's batched tokens at half the list price
        rows = [row for row in report.cost.by_stage_model if row.model == JUDGE_MODEL]
        assert rows and all(row.batch for row in rows)
        for row in rows:
            list_usd = (row.input_tokens * 2.5 + row.output_tokens * 10.0) / 1e6
            assert row.usd == pytest.approx(list_usd / 2)

        # the judge logs and the cache are those of live calls: live judging repeats nothing
        for log in (tmp_path / "run" / "logs" / "judge").glob("*.eval"):
            log.unlink()
        before = len(server.requests)
        live = endpoint_profile(server.base_url, judge={"kind": "llm"})
        again = run_benchmark(scripted_run(tmp_path / "run", live))
        without_log = [row.model_copy(update={"log": ""}) for row in report.rows()]
        assert [row.model_copy(update={"log": ""}) for row in again.rows()] == without_log
        assert len(server.requests) == before, "a live re-run asked again what a batch answered"
        assert len(server.batch.batches) == len(batches)


def test_cache_key_leaves_the_batch_setting_out() -> None:
    """inspect drops `batch` from its cache key (`_CACHE_KEY_DROPPED_FIELDS`): checked here."""

    def key(config: GenerateConfig) -> str:
        entry = inspect_cache.CacheEntry(
            base_url=None,
            config=config,
            input=[ChatMessageUser(content="judge this")],
            model=JUDGE_MODEL,
            policy=CachePolicy(),
            tool_choice=None,
            tools=[],
        )
        return inspect_cache._cache_key(entry)

    live = key(GenerateConfig(temperature=0.0, seed=0))
    assert key(GenerateConfig(temperature=0.0, seed=0, batch=True)) == live
    assert key(GenerateConfig(temperature=0.0, seed=0, batch=QUICK_BATCHES)) == live
    assert key(GenerateConfig(temperature=0.5, seed=0, batch=True)) != live


def test_batch_prices() -> None:
    profile = parse_profile(scripted_profile(), Path("<test profile>"))
    assert batch_discount("openai/gpt-4o") == 0.5
    assert batch_discount("anthropic/claude-sonnet-4-0") == 0.5
    assert batch_discount("together/some-model") == 0.0  # no batch rate known: list price
    batched = price_of("openai/gpt-4o", batch=True)
    assert batched is not None
    assert (batched.input_per_million, batched.output_per_million) == (1.25, 5.0)
    priced = profile.model_copy(
        update={
            "prices": parse_profile(
                scripted_profile(
                    prices={
                        JUDGE_MODEL: {
                            "input_per_million": 4.0,
                            "output_per_million": 8.0,
                            "batch_discount": 0.25,
                        }
                    }
                ),
                Path("<test profile>"),
            ).prices
        }
    )
    own = price_of(JUDGE_MODEL, priced, batch=True)
    assert own is not None and (own.input_per_million, own.output_per_million) == (3.0, 6.0)


def test_dry_run_prices_batched_judge_calls_at_the_batch_rate() -> None:
    roles = scripted_profile()["roles"]
    plans = {}
    for batch in (False, True):
        profile = parse_profile(
            scripted_profile(
                roles={**roles, "judge": {"model": JUDGE_MODEL}},
                judge={"kind": "llm", "batch": batch},
            ),
            Path("<test profile>"),
        )
        plans[batch] = plan_run(profile, profile_records(profile))
    live = [row for row in plans[False].rows if row.role == "judge" and row.calls]
    batched = [row for row in plans[True].rows if row.role == "judge" and row.calls]
    assert live and [row.calls for row in live] == [row.calls for row in batched]
    assert not any(row.batch for row in live) and all(row.batch for row in batched)
    for live_row, batched_row in zip(live, batched, strict=True):
        assert batched_row.usd == pytest.approx(live_row.usd / 2)
        assert batched_row.retry_usd == pytest.approx(live_row.retry_usd / 2)
    assert plans[True].usd == pytest.approx(plans[False].usd / 2)


def test_cost_section_of_a_run_without_batching_marks_no_row_batched(tmp_path: Path) -> None:
    context = scripted_run(tmp_path / "run", scripted_profile())
    run_benchmark(context)
    section = cost_section(context.run, context.profile)
    assert section["by_stage_model"] and not any(row["batch"] for row in section["by_stage_model"])


def test_a_batch_without_a_size_sends_the_stages_first_calls_in_one_batch(tmp_path: Path) -> None:
    """All pairs and both orders are in flight together, and the batch waits for all of them.

    Before, a batch held at most `generation.max_samples` requests and the orders of a sample
    went one after the other (two batch round trips per sample at least).
    """
    with OpenAITestServer() as server:
        batch = {"send_delay": 5, "tick": 0.2}  # no size: the stage's first calls
        profile = endpoint_profile(server.base_url, judge={"kind": "llm", "batch": batch})
        profile["generation"] = {"max_samples": 2}  # would cap a batch at 2 × 2 requests
        report = run_benchmark(scripted_run(tmp_path / "run", profile))
        first_calls = sum(row.n + row.parse_failures for row in report.rows()) * 2
        sizes = [batch["request_counts"]["total"] for batch in server.batch.batches.values()]
        assert len(judge_requests(server)) == first_calls  # every answer parsed: no retry
        assert sizes == [first_calls]
