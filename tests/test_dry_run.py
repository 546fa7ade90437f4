"""`prefbench run --dry-run`: the plan is what a run calls, planning calls nothing real, and a
run folder's finished work is not planned again.

Two oracles: a scripted profile run for real (offline mock models whose every answer is new,
adapter training recorded instead of run), compared eval by eval and role by role with the plan
made beforehand; and the planning run of the pipeline that was the dry run before plans were
arithmetic (`tests/planning_oracle.py`), compared with the plan number by number on the demo
profile and on a scripted profile with a plug-in system.
"""

import re
from collections import Counter
from pathlib import Path

import pytest
from inspect_ai.model import CachePolicy, ChatMessageUser, GenerateConfig, get_model
from inspect_ai.solver import Generate, Solver, TaskState
from rich.console import Console

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.tables import rich_table
from prefbench.harness.cost.dry_run import LOCAL_ONLY, RunPlan, plan_run
from prefbench.harness.cost.plan_tables import plan_table, totals_line
from prefbench.harness.cost.spend import logged_calls
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.profile import load_profile, parse_profile
from prefbench.harness.stages.records import profile_records
from prefbench.solvers import generation_system
from prefbench.solvers.writer import zero_shot_writer
from prefbench.tasks.records import write_records
from tests.conftest import DEMO_SYSTEMS
from tests.helpers import run_cli, scripted_profile, scripted_run
from tests.planning_oracle import TrainingRecorder, planning_run

JUDGE_PRICE = {"input_per_million": 2.0, "output_per_million": 8.0}
INPUT_TOLERANCE = 0.02
"""Input tokens of an eval and role may differ from the planning run's by 2 %: the plan counts
a prompt's texts and its chat format apart (the demo measures within 0.8 % with SmolLM2's
tokenizer; the ~4 characters rule is exact)."""


@generation_system(roles=("large",))
def plugin_test_system(run_dir: str, max_tokens: int = 128) -> Solver:
    """A third-party-style system that declares nothing about its calls: it writes a draft,
    then asks the large model to revise it (two calls per sample, the second carrying the
    first's answer)."""
    draft = zero_shot_writer("plugin_test_system", "large", max_tokens)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state = await draft(state, generate)
        request = f"Revise this email so it reads better:\n\n{state.output.completion}"
        state.output = await get_model(role="large").generate(
            [ChatMessageUser(content=request)],
            config=GenerateConfig(max_tokens=max_tokens),
            cache=CachePolicy(expiry=None, scopes={"system": "plugin_test_system-revise"}),
        )
        return state

    return solve


def parsed(profile: dict):
    return parse_profile(profile, Path("<test profile>"))


def planned_calls(plan: RunPlan) -> Counter:
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
    assert len(trainings.jobs) == plan.total("training_jobs") == 3 * 2  # 3 systems × 2 users
    test, pairs = plan.test_records, len(DEMO_SYSTEMS) - 1
    assert plan.calls_of("intents") == 3 * len(records)  # one per temperature
    assert plan.calls_of("judge") == 2 * pairs * test  # both orders of every pair
    assert plan.calls_of("multi") == len(DEMO_SYSTEMS) * test  # every rotation
    assert plan.total("retry_calls") == plan.calls_of("judge", "multi")  # each asked again once
    # the cross-user stage: each test text by the other user's agent (the diagonal is cached)
    assert plan.calls_of("cross") == 2 * test * (2 - 1)  # agent and writer
    settings = parsed(profile).generation
    intents = [row for row in plan.rows if row.stage == "intents"]
    assert [row.output_tokens for row in intents] == [3 * len(records) * settings.intent_max_tokens]

    # the run is finished: planned again on its folder, it needs nothing
    again = plan_run(parsed(profile), records, run_dir=context.run.root)
    assert again.total("calls") == again.total("retry_calls") == 0
    assert again.total("training_jobs") == 0


def assert_plan_matches_the_planning_run(profile) -> RunPlan:
    """The plan and the oracle agree: calls, retries, output tokens, adapters; input ±2 %."""
    records = profile_records(profile)
    plan = plan_run(profile, records)
    oracle = planning_run(profile, records)
    calls, retries, inputs, outputs = Counter(), Counter(), Counter(), Counter()
    for row in plan.rows:
        key = (row.stage, row.job, row.role)
        calls[key] += row.calls
        retries[key] += row.retry_calls
        inputs[key] += row.input_tokens
        outputs[key] += row.output_tokens
    assert +calls == +oracle.calls
    assert +retries == +oracle.retry_calls
    assert +outputs == +oracle.output_tokens
    assert plan.total("training_jobs") == oracle.adapters
    for key, expected in oracle.input_tokens.items():
        assert abs(inputs[key] - expected) <= INPUT_TOLERANCE * expected, key
    return plan


def test_the_demo_plan_matches_the_planning_run() -> None:
    plan = assert_plan_matches_the_planning_run(load_profile("demo")[0])
    assert plan.total("calls") > 100 and plan.total("training_jobs") == 9


def test_a_plugin_system_is_planned_from_its_code_as_the_planning_run_calls_it() -> None:
    profile = scripted_profile(
        systems=[*DEMO_SYSTEMS, "plugin_test_system", "positive_control", "negative_control"],
        reference_system="preference_agent",
        metrics={"personalization_system": "preference_agent"},
        judge={"kind": "llm", "multi_candidate": True},
    )
    plan = assert_plan_matches_the_planning_run(parsed(profile))
    rows = rows_by_job(plan)
    assert rows[("gen", "gen-plugin_test_system", "large")].calls == 2 * plan.test_records
    judged = ("judge", "judge-preference_agent-vs-plugin_test_system", "judge")
    assert rows[judged].calls == 2 * plan.test_records


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
    assert rows[("gen", "gen-plugin_test_system", "large")].calls == 2 * plan.test_records
    assert rows[("judge", "judge-few_shot-vs-plugin_test_system", "judge")].calls == (
        2 * plan.test_records
    )


def test_prices_apply_to_the_real_model_and_unpriced_models_are_named(small_plan):
    profile, _, plan = small_plan
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
    assert len(plan_table(plan, parsed(profile)).rows) > len(plan.rows) - 3


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
    # the writer's prompt carries the rules at their budget
    assert after[writer].input_tokens - before[writer].input_tokens == 100 * test


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


def test_stages_without_model_calls_are_listed_not_run():
    profile = scripted_profile(judge={"kind": "similarity", "multi_candidate": True})
    plan = plan_run(parsed(profile), profile_records(parsed(profile)))
    local = [row for row in plan.rows if row.note == LOCAL_ONLY]
    assert {"similarity", "pairwise_judge", "multi_candidate", "report"} <= {
        row.pipeline_stage for row in local
    }
    assert not any(row.calls for row in plan.rows if row.stage in ("metrics", "judge", "multi"))
    assert plan.calls_of("gen") > 0


# --- what the table shows in a narrow terminal -----------------------------------------


def rendered(plan: RunPlan, profile, width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(rich_table(plan_table(plan, profile)))
    return console.export_text()


def job_column(text: str) -> str:
    """The first column's text, every line of it joined (a folded name joins up again)."""
    lines = text.splitlines()
    header = next(line for line in lines if "job / role" in line)
    end = header.index("calls") - 2
    return "".join(line[:end].strip() for line in lines[lines.index(header) + 2 :])


@pytest.mark.parametrize("width", [80, 60])
def test_the_plan_stays_whole_in_a_narrow_terminal(small_plan, width: int):
    profile, _, plan = small_plan
    text = rendered(plan, parsed(profile), width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text  # nothing cut short
    jobs = job_column(text)
    for row in plan.rows:
        if row.calls:
            assert row.job in jobs and row.role in jobs
    for role, spec in parsed(profile).roles.items():
        assert f"{role} = {spec.model}" in " ".join(text.split())  # every model is named
    dollars = re.findall(r"\$[\d,.]*", text)
    assert dollars and all(re.fullmatch(r"\$\d[\d,]*\.\d{2,4}", amount) for amount in dollars)
