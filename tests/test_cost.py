"""Prices and the cost section of report.json, from constructed and from scripted-run logs."""

from datetime import date
from pathlib import Path

import pytest
from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalLog,
    EvalSpec,
    EvalStats,
    read_eval_log,
    write_eval_log,
)
from inspect_ai.model import ModelUsage

from prefbench.core.run_folder import RunFolder
from prefbench.harness.cost.spend import cost_section, logged_calls, price_list, price_of
from prefbench.harness.pipeline import generate, judge, prepare_records
from prefbench.harness.profile import ModelPrice, parse_profile
from tests.helpers import scripted_profile, scripted_run


def parsed(profile: dict):
    return parse_profile(profile, Path("<test profile>"))


def test_price_of_profile_file_local_and_unknown():
    profile = parsed(scripted_profile())
    assert price_of("openai/gpt-4o", profile) == ModelPrice(
        input_per_million=2.5, output_per_million=10.0
    )
    assert price_of("openai/gpt-4o-mini") == ModelPrice(
        input_per_million=0.15, output_per_million=0.6
    )
    local_models = (
        "hf/SmolLM2-135M-Instruct",
        "vllm/meta-llama/x",
        "offline/smollm2",
        "prefbench-lora/preference_agent/ava/0d1e123173457f27",  # an adapter on the CPU
    )
    for local in local_models:
        assert price_of(local, profile) == ModelPrice(input_per_million=0, output_per_million=0)
    assert price_of("openai/not-a-listed-model", profile) is None
    assert price_of("openai/gpt-4o-2099-01-01", profile) is None  # unlisted snapshot
    raw = scripted_profile()
    raw["prices"] = {
        "openai/gpt-4o": {"input_per_million": 1.0, "output_per_million": 2.0},
        "vllm/rented": {"input_per_million": 0.5, "output_per_million": 0.5},
    }
    overridden = parsed(raw)
    assert price_of("openai/gpt-4o", overridden).input_per_million == 1.0
    assert price_of("vllm/rented", overridden).output_per_million == 0.5


def test_price_file_has_a_date_and_the_common_models():
    prices = price_list()
    assert date.fromisoformat(prices.as_of) <= date.today()
    for model in ("openai/gpt-4o", "openai/gpt-4o-mini", "openai/gpt-4.1"):
        assert model in prices.models
    assert all(p.output_per_million >= p.input_per_million for p in prices.models.values())


def write_log(folder: Path, name: str, usage: dict[str, tuple[int, int]], status="success"):
    spec = EvalSpec(
        created="2026-01-01T00:00:00+00:00",
        task="t",
        dataset=EvalDataset(),
        model="none/none",
        config=EvalConfig(),
    )
    stats = EvalStats(
        model_usage={
            model: ModelUsage(input_tokens=i, output_tokens=o, total_tokens=i + o)
            for model, (i, o) in usage.items()
        }
    )
    write_eval_log(EvalLog(eval=spec, status=status, stats=stats), str(folder / f"{name}.eval"))


def test_cost_from_constructed_logs_in_dollars(tmp_path: Path):
    run = RunFolder(tmp_path / "run")
    write_log(run.logs("judge"), "a", {"openai/gpt-4o": (1_000_000, 500_000)})
    write_log(run.logs("judge"), "b", {"openai/gpt-4o": (200_000, 100_000)})
    write_log(run.logs("judge"), "failed", {"openai/gpt-4o": (9_000_000, 0)}, status="error")
    write_log(run.logs("gen"), "g", {"hf/x": (300, 200), "openai/gpt-4o-mini": (2_000_000, 0)})
    write_log(run.logs("metrics"), "m", {"openai/gpt-4o-mini": (0, 1_000_000)})
    cost = cost_section(run, parsed(scripted_profile()))
    # judge: 1.2 M input × $2.50 + 0.6 M output × $10 = 3.00 + 6.00
    assert cost["usd_by_stage"]["judge"] == pytest.approx(9.0)
    # gen: local hf free; 2 M input of gpt-4o-mini × $0.15 = 0.30
    assert cost["usd_by_stage"]["gen"] == pytest.approx(0.30)
    assert cost["usd_by_stage"]["metrics"] == pytest.approx(0.60)  # a folder beyond the four
    assert cost["usd_by_stage"]["intents"] == 0 and cost["usd_by_stage"]["build"] == 0
    assert cost["usd_total"] == pytest.approx(9.90)
    assert cost["tokens_by_stage"]["judge"] == {
        "input_tokens": 1_200_000,
        "output_tokens": 600_000,
        "total_tokens": 1_800_000,
    }
    assert list(cost["tokens_by_stage"]) == ["intents", "build", "gen", "judge", "metrics"]
    assert {(row["stage"], row["model"]) for row in cost["by_stage_model"]} == {
        ("gen", "hf/x"),
        ("gen", "openai/gpt-4o-mini"),
        ("judge", "openai/gpt-4o"),
        ("metrics", "openai/gpt-4o-mini"),
    }
    assert cost["prices_as_of"] == price_list().as_of


def test_a_model_without_price_leaves_its_stage_and_total_unknown(tmp_path: Path):
    run = RunFolder(tmp_path / "run")
    write_log(run.logs("judge"), "a", {"openai/gpt-4o": (1_000_000, 0)})
    write_log(run.logs("gen"), "g", {"openai/not-a-listed-model": (10, 10)})
    cost = cost_section(run, parsed(scripted_profile()))
    assert cost["usd_by_stage"]["gen"] is None and cost["usd_total"] is None
    assert cost["usd_by_stage"]["judge"] == pytest.approx(2.5)
    row = next(r for r in cost["by_stage_model"] if r["stage"] == "gen")
    assert row["usd"] is None and row["input_tokens"] == 10


def test_cost_of_a_scripted_run_matches_its_samples(tmp_path: Path):
    raw = scripted_profile(call_log=tmp_path / "calls.log")
    raw["prices"] = {
        "prefbench-mock/large": {"input_per_million": 1.0, "output_per_million": 2.0},
        "prefbench-mock/judge": {"input_per_million": 3.0, "output_per_million": 4.0},
    }
    context = scripted_run(tmp_path / "run", raw)
    generate(context, prepare_records(context))
    judge(context)
    cost = cost_section(context.run, context.profile)

    # independent path: the per-sample usage in the full logs
    prices = {"prefbench-mock/large": (1.0, 2.0), "prefbench-mock/judge": (3.0, 4.0)}
    expected_usd: dict[str, float] = {}
    expected_tokens: dict[str, int] = {}
    for kind in ("intents", "gen", "judge"):
        expected_usd[kind], expected_tokens[kind] = 0.0, 0
        for path in context.run.logs(kind).glob("*.eval"):
            for sample in read_eval_log(str(path)).samples:
                for model, usage in sample.model_usage.items():
                    price_in, price_out = prices.get(model, (0.0, 0.0))
                    expected_usd[kind] += (
                        usage.input_tokens * price_in + usage.output_tokens * price_out
                    ) / 1e6
                    expected_tokens[kind] += usage.input_tokens
    for kind in ("intents", "gen", "judge"):
        assert cost["tokens_by_stage"][kind]["input_tokens"] == expected_tokens[kind] > 0
        assert cost["usd_by_stage"][kind] == pytest.approx(expected_usd[kind])
    assert expected_usd["judge"] > 0 and expected_usd["intents"] > 0
    assert cost["usd_total"] == pytest.approx(sum(expected_usd.values()))
    assert {row["model"] for row in cost["by_stage_model"] if row["stage"] == "gen"} == {
        "prefbench-mock/small",
        "prefbench-mock/large",
    }

    # one logged call per model call that reached a model, with the tokens the stats sum
    calls = list(logged_calls(context.run))
    assert len(calls) == len((tmp_path / "calls.log").read_text().splitlines())
    for kind in ("intents", "gen", "judge"):
        tokens = sum(call.input_tokens for call in calls if call.kind == kind)
        assert tokens == cost["tokens_by_stage"][kind]["input_tokens"]
    assert {call.role for call in calls if call.kind == "judge"} == {"judge"}
    assert {call.stage for call in calls if call.kind == "gen"} == {
        "gen-small_zero_shot",
        "gen-large_zero_shot",
        "gen-few_shot",
    }
