"""A resumed run's cost report counts the calls it answered from the cache (issue 23, item 9).

Before, only calls that reached a model counted (inspect's `model_usage` leaves cache reads
out): after a kill, the calls a resumed stage answered from the cache, paid for by the killed
run, vanished from the report (intents 624 input tokens against 1,476 in a fresh run).
"""

import shutil
from pathlib import Path

from prefbench.harness.cost.spend import cost_section
from prefbench.harness.pipeline import run_benchmark
from tests.helpers import scripted_profile, scripted_run

PRICES = {
    "prefbench-mock/large": {"input_per_million": 1.0, "output_per_million": 2.0},
    "prefbench-mock/judge": {"input_per_million": 3.0, "output_per_million": 4.0},
}


def test_calls_answered_from_the_cache_count_once_and_are_said_to_be_cached(tmp_path: Path):
    calls = tmp_path / "calls.log"
    profile = {**scripted_profile(call_log=calls), "prices": PRICES}
    fresh = scripted_run(tmp_path / "fresh", profile)
    run_benchmark(fresh)
    expected = cost_section(fresh.run, fresh.profile)
    made = calls.read_text().count("\n")
    assert made > 0 and sum(expected["cached_calls_by_stage"].values()) == 0

    # a run killed after every call reached its cache, whose logs were never finished:
    # its resumed run answers every call from the cache and asks no model
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(fresh.run.cache, resumed_dir / "cache")
    resumed = scripted_run(resumed_dir, profile)
    run_benchmark(resumed)
    assert calls.read_text().count("\n") == made, "the resumed run asked a model"
    cost = cost_section(resumed.run, resumed.profile)

    assert cost["tokens_by_stage"] == expected["tokens_by_stage"]
    assert cost["usd_by_stage"] == expected["usd_by_stage"]
    assert cost["usd_total"] == expected["usd_total"] > 0
    for kind in ("intents", "gen", "judge"):
        assert cost["tokens_by_stage"][kind]["input_tokens"] > 0
        assert cost["cached_calls_by_stage"][kind] > 0
    assert sum(cost["cached_calls_by_stage"].values()) == made
    assert all(row["cached_calls"] > 0 for row in cost["by_stage_model"])

    # a second report of the same folder counts nothing twice
    assert cost_section(resumed.run, resumed.profile) == cost
