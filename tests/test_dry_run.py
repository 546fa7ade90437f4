"""`prefbench run --dry-run`: the plan counts what a real run calls, and runs nothing.

The key tests run the scripted profile for real (offline mock models; LoRA training
replaced by a stub) and compare the mock model's call log, stage by stage and role by role,
with the plan made beforehand.
"""

from collections import Counter
from pathlib import Path

import pytest
from inspect_ai.solver import Solver

from core.errors import PrefbenchInputError
from harness.dry_run import plan_run, plan_table, profile_records, totals_line
from harness.pipeline import build_systems, generate, judge, prepare_records, run_personalization
from harness.profile import parse_profile
from solvers import generation_system
from solvers.registry import GROUND_TRUTH, ModelCall
from solvers.training.lora import TrainingResult
from solvers.writer import zero_shot_writer
from tasks.records import write_records
from tests.helpers import INTENT, LARGE_EMAIL, run_cli, scripted_profile, scripted_run

ALL_SYSTEMS = [
    "small_zero_shot",
    "large_zero_shot",
    "few_shot",
    "naive_finetune",
    "preference_agent",
    "no_baseline_agent",
]


@generation_system(roles=("large",))
def undeclared_test_system(run_dir: str, max_tokens: int = 128) -> Solver:
    """A third-party-style system that declares no call plan."""
    return zero_shot_writer("undeclared_test_system", "large", max_tokens)


@generation_system(
    roles=("large",),
    calls=(ModelCall("large", "email", template="write_email_with_rules_v1"),),
)
def unfilled_test_system(run_dir: str, max_tokens: int = 128) -> Solver:
    """A system whose declared template has a field (`rules`) its call does not fill."""
    return zero_shot_writer("unfilled_test_system", "large", max_tokens)


def parsed(profile: dict):
    return parse_profile(profile, Path("<test profile>"))


def distinct_texts_profile(call_log: Path, judge_reply: str, **overrides: object) -> dict:
    """Every system writes a different text, so no judge prompt repeats (and hits the cache)."""
    profile = scripted_profile(call_log=call_log, **overrides)
    profile["roles"]["large"]["model_args"]["replies"] = {
        "core content": INTENT,
        "Here are emails that": "FEW-SHOT-EMAIL",
        "": LARGE_EMAIL,
    }
    profile["roles"]["judge"]["model_args"]["replies"] = [judge_reply]
    return profile


def calls_by_role(lines: list[str]) -> Counter:
    """Call-log lines by role; adapter models (`system/user/hash`) are the small role."""
    roles: Counter = Counter()
    for line in lines:
        model = line.split("\t", 1)[0]
        roles["small" if "/" in model else model] += 1
    return roles


def planned_by_role(plan, stage: str) -> Counter:
    roles: Counter = Counter()
    for row in plan.rows:
        if row.stage == stage and row.calls:
            roles[row.role] += row.calls
    return roles


class CallLog:
    """Reads the lines a stage added to the scripted models' call log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = 0

    def new_lines(self) -> list[str]:
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        added, self.seen = lines[self.seen :], len(lines)
        return added


@pytest.fixture
def stub_training(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace LoRA training by a stub that writes an empty adapter; records each job."""
    jobs: list[str] = []

    def train(base_dir, examples, settings, adapter_dir, on_step=None):
        jobs.append(str(adapter_dir))
        Path(adapter_dir).mkdir(parents=True, exist_ok=True)
        (Path(adapter_dir) / "adapter_config.json").write_text("{}")
        return TrainingResult(losses=[1.0], steps=1, seconds=0.0, trainable_parameters=0)

    monkeypatch.setattr("solvers.training.training.train_lora_adapter", train)
    return jobs


def test_plan_equals_the_calls_of_intents_build_and_generation(tmp_path: Path, stub_training):
    call_log = tmp_path / "calls.log"
    profile = scripted_profile(
        call_log=call_log,
        systems=ALL_SYSTEMS,
        reference_system="preference_agent",
        metrics={"personalization_system": "preference_agent"},
    )
    plan = plan_run(parsed(profile), profile_records(parsed(profile)))
    assert not call_log.exists()  # planning called no model

    log = CallLog(call_log)
    context = scripted_run(tmp_path / "run", profile)
    records = prepare_records(context)
    intents = log.new_lines()
    build_systems(context, records)
    build = log.new_lines()
    generate(context, records)
    generation = log.new_lines()
    run_personalization(context, records)  # the K×K cross-user stage (scored with MiniLM)
    cross = log.new_lines()

    assert len(intents) == plan.calls_of("intents") == 3 * len(records)
    assert calls_by_role(intents) == planned_by_role(plan, "intents")
    assert len(build) == plan.calls_of("build")
    assert calls_by_role(build) == planned_by_role(plan, "build")
    assert len(stub_training) == plan.training_jobs == 3 * 2  # 3 adapter systems × 2 users
    cross_rows = [row for row in plan.rows if "cross-user" in row.job]
    planned_cross = {row.role: row.calls for row in cross_rows}
    assert len(generation) == plan.calls_of("generation") - sum(planned_cross.values())
    assert calls_by_role(generation) == planned_by_role(plan, "generation") - Counter(planned_cross)
    # each test text by the other user's agent; the diagonal came from the cache. (The
    # scripted agents all write the same rules, so the writer's cross calls hit the cache
    # too: only the agents' calls can be compared.)
    assert calls_by_role(cross)["small"] == planned_cross["small"] == 2 * (2 - 1)
    assert calls_by_role(cross)["large"] <= planned_cross["large"]
    # the two agents: drafts + r3 rules, and no-baseline rules, one call per train record
    train = sum(record.split == "train" for record in records)
    assert plan.calls_of("build") == 3 * train


@pytest.mark.parametrize(
    ("judge_reply", "retried"),
    [("<thinking>close</thinking><winner>1</winner>", False), ("no verdict here", True)],
)
def test_plan_equals_the_judge_calls_and_their_retry_bound(
    tmp_path: Path, judge_reply: str, retried: bool
):
    call_log = tmp_path / "calls.log"
    profile = distinct_texts_profile(call_log, judge_reply)
    profile["judge"] = {"kind": "llm", "multi_candidate": True}
    plan = plan_run(parsed(profile), profile_records(parsed(profile)))
    log = CallLog(call_log)
    context = scripted_run(tmp_path / "run", profile)
    generate(context, prepare_records(context))
    log.new_lines()
    judge(context)
    judged = log.new_lines()
    assert {line.split("\t")[0] for line in judged} == {"judge"}
    test = plan.test_records
    # 2 orders × 2 comparisons × test records, and 3 rotations × test records (multi-candidate)
    assert plan.calls_of("judge") == 2 * 2 * test + 3 * test
    assert plan.retry_calls == plan.calls_of("judge")
    expected = plan.calls_of("judge") + (plan.retry_calls if retried else 0)
    assert len(judged) == expected


def test_limit_caps_generation_and_judging(tmp_path: Path):
    profile = parsed(scripted_profile())
    records = profile_records(profile)
    full, limited = plan_run(profile, records), plan_run(profile, records, limit=1)
    assert full.test_records == 2 and limited.test_records == 1
    assert limited.calls_of("generation") == full.calls_of("generation") // 2
    assert limited.calls_of("judge") == full.calls_of("judge") // 2
    assert limited.calls_of("intents") == full.calls_of("intents")


def rows_by_job(plan) -> dict:
    return {f"{row.stage}: {row.job}": row for row in plan.rows}


def test_unwritten_text_is_counted_at_its_budget():
    profile = scripted_profile(systems=ALL_SYSTEMS, reference_system="preference_agent")
    records = profile_records(parsed(profile))
    base = rows_by_job(plan_run(parsed(profile), records))
    profile["generation"] = {"rules_max_tokens": 228}  # default 128, + 100
    more = rows_by_job(plan_run(parsed(profile), records))
    test = sum(record.split == "test" for record in records)
    writer = "generation: preference_agent: email"
    assert more[writer].input_tokens - base[writer].input_tokens == 100 * test
    assert more[writer].output_tokens == base[writer].output_tokens
    agent = "generation: preference_agent: rules"
    assert more[agent].output_tokens - base[agent].output_tokens == 100 * test
    assert more[agent].input_tokens == base[agent].input_tokens
    # few-shot prompts carry the user's training emails
    few, zero = base["generation: few_shot: email"], base["generation: large_zero_shot: email"]
    assert few.input_tokens > zero.input_tokens + test * 20
    # records have no intent yet: each prompt counts the intent at intent_max_tokens (96)
    with_intents = [record.model_copy(update={"intent": "x"}) for record in records]
    known = rows_by_job(plan_run(parsed(profile), with_intents))
    assert known["intents: intents"].calls == 0
    gap = base["generation: small_zero_shot: email"].input_tokens
    gap -= known["generation: small_zero_shot: email"].input_tokens
    assert gap == test * (96 - 1)  # "x" is one token at ~4 characters per token


def test_priced_judge_costs_tokens_times_price():
    profile = scripted_profile()
    profile["prices"] = {
        "prefbench-mock/judge": {"input_per_million": 2.0, "output_per_million": 8.0}
    }
    plan = plan_run(parsed(profile), profile_records(parsed(profile)))
    judges = [row for row in plan.rows if row.stage == "judge"]
    assert len(judges) == 2
    for row in judges:
        assert row.output_tokens == row.calls * 512  # judge.max_tokens default
        assert row.usd == pytest.approx((2.0 * row.input_tokens + 8.0 * row.output_tokens) / 1e6)
        assert row.retry_usd == pytest.approx(row.usd)  # one retry per order at most
    assert plan.usd == pytest.approx(sum(row.usd for row in judges))  # the rest is local
    assert "if every judge answer is retried" in totals_line(plan)


def test_unpriced_model_and_undeclared_system_make_the_cost_unknown():
    profile = scripted_profile()
    profile["roles"]["judge"] = {"model": "openai/not-a-listed-model"}
    plan = plan_run(parsed(profile), profile_records(parsed(profile)))
    assert plan.usd is None and plan.unpriced_models == ["openai/not-a-listed-model"]
    assert "no price for openai/not-a-listed-model" in totals_line(plan)

    profile = scripted_profile(systems=["few_shot", "undeclared_test_system"])
    plan = plan_run(parsed(profile), profile_records(parsed(profile)))
    assert rows_by_job(plan)["generation: undeclared_test_system"].calls is None
    assert plan.unknown == ["generation: undeclared_test_system"] and plan.usd is None
    assert "no call plan for generation: undeclared_test_system" in totals_line(plan)
    # its pairs are still judged: 2 orders × test records
    assert plan.calls_of("judge") == 2 * plan.test_records


def test_similarity_multi_candidate_and_cross_user_rows():
    profile = scripted_profile(systems=ALL_SYSTEMS, reference_system="preference_agent")
    profile["judge"] = {"kind": "llm", "multi_candidate": True}
    profile["metrics"] = {"personalization_system": "preference_agent"}
    plan = plan_run(parsed(profile), profile_records(parsed(profile)))
    rows = rows_by_job(plan)
    test = plan.test_records
    multi = rows["judge: multi-candidate (6 systems)"]
    assert multi.calls == multi.retry_calls == 6 * test
    cross = rows["generation: preference_agent cross-user: rules"]
    assert cross.calls == test * (2 - 1)  # 2 users: one other agent per test text
    profile["judge"] = {"kind": "similarity"}
    plan = plan_run(parsed(profile), profile_records(parsed(profile)))
    assert plan.calls_of("judge") == 0 and plan.retry_calls == 0


def test_call_plan_declarations_are_checked():
    with pytest.raises(ValueError, match="unknown source"):
        ModelCall("large", "rules", fills={"ground_truth": "the_email"})
    with pytest.raises(ValueError, match="generation token setting"):
        ModelCall("large", "rules", max_tokens=GROUND_TRUTH)
    with pytest.raises(ValueError, match="not in roles"):
        generation_system(roles=("small",), calls=(ModelCall("large", "email"),))
    profile = parsed(scripted_profile(systems=["few_shot", "unfilled_test_system"]))
    with pytest.raises(ValueError, match=r"unfilled_test_system: call 'email'.*rules.*fills"):
        plan_run(profile, profile_records(profile))


def test_cli_dry_run_prints_the_plan_and_creates_nothing(
    monkeypatch, capsys, write_profile, tmp_path: Path
):
    call_log = tmp_path / "calls.log"
    path = write_profile(scripted_profile(call_log=call_log))
    out = tmp_path / "run"
    code, output = run_cli(
        monkeypatch, capsys, "run", "--profile", str(path), "--out", str(out), "--dry-run"
    )
    assert code == 0, output
    assert not out.exists() and not call_log.exists()
    assert "few_shot vs small_zero_shot" in output and "total: " in output
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
    profile = parsed(scripted_profile())
    records = profile_records(profile)
    write_records(tmp_path / "records.jsonl", records)
    from_file = parsed(
        scripted_profile(dataset={"kind": "records", "path": str(tmp_path / "records.jsonl")})
    )
    assert profile_records(from_file) == records
    with pytest.raises(PrefbenchInputError, match="prefbench data prepare"):
        profile_records(
            parsed(scripted_profile(dataset={"kind": "records", "path": str(tmp_path / "no")}))
        )
    assert plan_table(plan_run(from_file, records)).row_count == len(
        plan_run(profile, records).rows
    )
