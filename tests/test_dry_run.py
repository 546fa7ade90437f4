"""`prefbench run --dry-run`: the plan is what a real run calls, and planning calls nothing real.

The key test runs a scripted profile for real (offline mock models whose every answer is
new, adapter training recorded instead of run) and compares its logged calls, eval by eval
and role by role, with the plan made beforehand; its judge cannot parse its answers, so the
run makes every retry the plan bounds.
"""

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from inspect_ai.model import get_model
from inspect_ai.solver import Solver

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.cost.dry_run import (
    LOCAL_ONLY,
    TrainingRecorder,
    plan_run,
    plan_table,
    totals_line,
)
from prefbench.harness.cost.spend import logged_calls
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.profile import parse_profile
from prefbench.harness.stages.records import profile_records
from prefbench.solvers import generation_system
from prefbench.solvers.writer import zero_shot_writer
from prefbench.tasks.records import write_records
from tests.conftest import DEMO_SYSTEMS
from tests.helpers import run_cli, scripted_profile, scripted_run

JUDGE_PRICE = {"input_per_million": 2.0, "output_per_million": 8.0}


@generation_system(roles=("large",))
def plugin_test_system(run_dir: str, max_tokens: int = 128) -> Solver:
    """A third-party-style system: it declares nothing about its calls."""
    return zero_shot_writer("plugin_test_system", "large", max_tokens)


def parsed(profile: dict):
    return parse_profile(profile, Path("<test profile>"))


@pytest.fixture
def answers_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scripted small and large models answer each prompt with text of their own.

    As a real model's, an answer depends on the model (adapters included) and the prompt, so
    the real run's cache hits only where a plan's do; the judge keeps its scripted reply.
    """
    api_class = type(get_model("prefbench-mock/probe", memoize=False).api)
    scripted = api_class.generate

    async def generate(self, input, tools, tool_choice, config):
        output = await scripted(self, input, tools, tool_choice, config)
        if self.model_name != "judge":
            prompt = "\n".join(message.text for message in input) + str(config.temperature)
            digest = hashlib.sha256(f"{self.model_name}\0{prompt}".encode()).hexdigest()
            output.completion = f"{output.completion} {digest[:16]}"
            output.choices[0].message.content = output.completion
        return output

    monkeypatch.setattr(api_class, "generate", generate)


def planned_calls(plan) -> Counter:
    """Calls and retries per (log folder, eval, role)."""
    calls: Counter = Counter()
    for row in plan.rows:
        calls[(row.stage, row.job, row.role)] += row.calls + row.retry_calls
    return +calls


def test_plan_equals_the_calls_of_a_real_run_and_its_retry_bound(
    tmp_path: Path, answers_of_their_own: None
):
    call_log = tmp_path / "calls.log"
    profile = scripted_profile(
        call_log=call_log,
        systems=DEMO_SYSTEMS,
        reference_system="preference_agent",
        metrics={"personalization_system": "preference_agent"},
        judge={"kind": "llm", "multi_candidate": True},
    )
    profile["roles"]["judge"]["model_args"]["replies"] = ["no verdict here"]
    records = profile_records(parsed(profile))
    plan = plan_run(parsed(profile), records)
    assert not call_log.exists()  # planning called no model

    context = scripted_run(tmp_path / "run", profile)
    trainings = TrainingRecorder()
    context.adapter_trainer = trainings
    run_benchmark(context)

    real = Counter(
        (call.kind, call.stage, call.role or "small") for call in logged_calls(context.run)
    )
    assert real == planned_calls(plan)  # adapter models have no role: they are the small one
    assert len(call_log.read_text().splitlines()) == plan.total("calls") + plan.total("retry_calls")
    assert (
        len(trainings.jobs) == plan.total("training_jobs") == 3 * 2
    )  # 3 adapter systems × 2 users
    test, pairs = plan.test_records, len(DEMO_SYSTEMS) - 1
    assert plan.calls_of("intents") == 3 * len(records)  # one per temperature
    assert plan.calls_of("judge") == 2 * pairs * test  # both orders of every pair
    assert plan.calls_of("multi") == len(DEMO_SYSTEMS) * test  # every rotation
    assert plan.total("retry_calls") == plan.calls_of(
        "judge", "multi"
    )  # each answer asked again once
    # the cross-user stage: each test text by the other user's agent (the diagonal is cached)
    assert plan.calls_of("cross") == 2 * test * (2 - 1)  # agent and writer
    settings = parsed(profile).generation
    intents = [row for row in plan.rows if row.stage == "intents"]
    assert [row.output_tokens for row in intents] == [3 * len(records) * settings.intent_max_tokens]


@pytest.fixture(scope="module")
def small_plan():
    """A plan with a priced judge, an unpriced large model and a plug-in system."""
    profile = scripted_profile(
        systems=["small_zero_shot", "few_shot", "preference_agent", "plugin_test_system"],
        prices={"prefbench-mock/judge": JUDGE_PRICE},
    )
    profile["roles"]["large"] = {"model": "openai/not-a-listed-model"}
    records = profile_records(parsed(profile))
    return profile, records, plan_run(parsed(profile), records)


def rows_by_job(plan) -> dict:
    return {(row.stage, row.job, row.role): row for row in plan.rows}


def test_a_plugin_system_is_planned_like_any_other(small_plan):
    _, _, plan = small_plan
    rows = rows_by_job(plan)
    assert rows[("gen", "gen-plugin_test_system", "large")].calls == plan.test_records
    assert rows[("judge", "judge-few_shot-vs-plugin_test_system", "judge")].calls == (
        2 * plan.test_records
    )


def test_prices_apply_to_the_real_model_and_unpriced_models_are_named(small_plan):
    _, _, plan = small_plan
    judges = [row for row in plan.rows if row.role == "judge"]
    assert len(judges) == 3  # few_shot against each other system
    for row in judges:
        assert row.model == "prefbench-mock/judge"
        assert row.output_tokens == row.calls * 512  # judge.max_tokens default
        assert row.usd == pytest.approx((2.0 * row.input_tokens + 8.0 * row.output_tokens) / 1e6)
        # each order retried once, in a follow-up turn: the prompt and answer again as input,
        # FOLLOW_UP_MAX_TOKENS of output instead of 512
        assert row.retry_calls == row.calls
        assert 2.0 * row.input_tokens / 1e6 < row.retry_usd < row.usd
    assert plan.usd is None and plan.unpriced_models == ["openai/not-a-listed-model"]
    assert "no price for openai/not-a-listed-model" in totals_line(plan)
    assert len(plan_table(plan).rows) == len(plan.rows)


def test_limit_caps_generation_and_judging(small_plan):
    profile, records, full = small_plan
    limited = plan_run(parsed(profile), records, limit=1)
    assert full.test_records == 2 and limited.test_records == 1
    assert limited.calls_of("gen") == full.calls_of("gen") // 2
    assert limited.calls_of("judge") == full.calls_of("judge") // 2
    assert limited.calls_of("intents", "build") == full.calls_of("intents", "build")


def test_text_not_written_yet_enters_later_prompts_at_its_budget(small_plan):
    profile, records, base = small_plan
    more = plan_run(parsed({**profile, "generation": {"rules_max_tokens": 228}}), records)
    before, after = rows_by_job(base), rows_by_job(more)
    test = base.test_records
    agent, writer = (
        ("gen", "gen-preference_agent", "small"),
        ("gen", "gen-preference_agent", "large"),
    )
    assert after[agent].output_tokens - before[agent].output_tokens == 100 * test  # default 128
    assert after[writer].output_tokens == before[writer].output_tokens
    # the writer's prompt carries the rules: ~4 characters per token, rounded per message
    assert abs(after[writer].input_tokens - before[writer].input_tokens - 100 * test) <= test


def test_planning_neither_converts_nor_loads_a_generation_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def refuse(*args, **kwargs):
        raise AssertionError("the dry run must not convert or load a generation model")

    monkeypatch.setattr("prefbench.core.offline_models.smollm2_dir", refuse)
    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", refuse)
    profile = scripted_profile(
        systems=["small_zero_shot", "naive_finetune"],
        reference_system="naive_finetune",
        judge={"kind": "similarity"},
    )
    profile["roles"] = {role: {"model": "offline/smollm2"} for role in ("small", "large")}
    plan = plan_run(parsed(profile), profile_records(parsed(profile)))
    assert plan.total("training_jobs") == 2 and plan.calls_of("judge") == 0
    assert {row.model for row in plan.rows if row.calls} == {
        "offline/smollm2",
        "offline/smollm2 + adapter",
    }


def test_cli_dry_run_prints_the_plan_and_creates_nothing(
    monkeypatch, capsys, write_profile, tmp_path: Path
):
    call_log = tmp_path / "calls.log"
    path = write_profile(scripted_profile(call_log=call_log))
    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)
    code, output = run_cli(
        monkeypatch, capsys, "run", "--profile", str(path), "--out", str(out), "--dry-run"
    )
    assert code == 0, output
    assert sorted(item.name for item in tmp_path.iterdir()) == ["profile.yaml"]
    assert "judge-few_shot-vs-small_zero_shot" in output and "total: " in output
    assert "~4 characters per token" in output


def test_cli_dry_run_with_a_missing_records_file_exits_2(
    monkeypatch, capsys, write_profile, tmp_path: Path
):
    missing = tmp_path / "data" / "enron" / "records.jsonl"
    path = write_profile(scripted_profile(dataset={"kind": "records", "path": str(missing)}))
    code, output = run_cli(monkeypatch, capsys, "run", "--profile", str(path), "--dry-run")
    assert code == 2
    assert str(missing) in output.replace("\n", "") and "prefbench data prepare" in output


def test_profile_records_reads_a_records_file(tmp_path: Path):
    records = profile_records(parsed(scripted_profile()))
    write_records(tmp_path / "records.jsonl", records)
    from_file = scripted_profile(
        dataset={"kind": "records", "path": str(tmp_path / "records.jsonl")}
    )
    assert profile_records(parsed(from_file)) == records
    with pytest.raises(PrefbenchInputError, match="prefbench data prepare"):
        profile_records(
            parsed(scripted_profile(dataset={"kind": "records", "path": str(tmp_path / "no")}))
        )


def test_stages_without_model_calls_are_listed_not_run(tmp_path: Path):
    profile = scripted_profile(judge={"kind": "similarity", "multi_candidate": True})
    plan = plan_run(parsed(profile), profile_records(parsed(profile)))
    skipped = {row.stage for row in plan.rows if row.note == LOCAL_ONLY}
    assert {"similarity", "pairwise_judge", "multi_candidate", "report"} <= skipped
    assert not [row for row in plan.rows if row.stage in ("metrics", "judge", "multi")]
    assert plan.calls_of("gen") > 0
