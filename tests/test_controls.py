"""The control systems and their checks: on the scripted model, and the statistics alone.

positive_control writes with the truth's rules (the persona's on the demo, rules distilled
from held-out emails elsewhere); negative_control uses another user's preference agent.
Their pairs are judged beside the reference's, and the report says whether the judge sees
them in the expected order. The same systems run on SmolLM2 in the integration test below.
"""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from inspect_ai.log import read_eval_log

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.pipeline import generate, judge, prepare_records, report
from prefbench.harness.profile import parse_profile
from prefbench.harness.report.controls import controls_report_section, controls_section
from prefbench.harness.report.schema import ComparisonRow
from prefbench.harness.stages.pairwise_judge import judged_pairs
from prefbench.human_eval.export import judge_logs_by_system
from prefbench.scorers.stats.controls import (
    ControlCheck,
    control_checks,
    control_pairs,
    detects_personalization,
    required_sample,
)
from prefbench.solvers import positive_control, registry
from prefbench.solvers.negative_control import user_derangement
from prefbench.solvers.registry import Control, control_checks_of, generation_system
from prefbench.solvers.writer import zero_shot_writer
from prefbench.tasks.demo.persona_rules import truth_rules
from prefbench.tasks.demo.personas import PERSONAS
from tests.helpers import INTENT, LARGE_EMAIL, SMALL_REPLY, scripted_profile, scripted_run
from tests.report_models import comparison as report_comparison
from tests.report_models import user_rate
from tests.test_pipeline_scripted import fake_adapter

CONTROLS = ["large_zero_shot", "preference_agent", "positive_control", "negative_control"]
CHECKS = control_checks_of(CONTROLS)
HELD_OUT_RULES = "- write like the held-out emails"


def controls_profile(call_log: Path | None = None) -> dict:
    profile = scripted_profile(call_log=call_log)
    profile["dataset"] = {"kind": "demo", "personas": 3, "records_per_persona": 5}
    profile["roles"]["large"]["model_args"]["replies"] = {
        "core content": INTENT,
        "Here are emails": f"<rules>{HELD_OUT_RULES}</rules>",
        "": LARGE_EMAIL,
    }
    profile["systems"] = list(CONTROLS)
    profile["reference_system"] = "preference_agent"
    return profile


def controls_run(run_dir: Path, call_log: Path | None = None):
    context = scripted_run(run_dir, controls_profile(call_log))
    records = prepare_records(context)
    for user in {record.user for record in records}:
        fake_adapter(run_dir, "preference_agent", user)
    return context, records


# --- the systems ------------------------------------------------------------------------------


def test_positive_control_follows_the_persona_rules_and_never_sees_a_test_email(tmp_path: Path):
    context, records = controls_run(tmp_path / "run")
    samples = generate(context, records, only="positive_control")["positive_control"]
    contents = [record.content for record in records]
    for sample in samples.read().samples:
        rules = truth_rules("demo", sample.metadata["user"])
        assert rules and sample.store["rules"] == rules
        assert sample.store["rules_source"] == "persona"
        prompt = sample.messages[1].text
        assert rules in prompt and all(content not in prompt for content in contents)
        assert sample.output.completion == LARGE_EMAIL


def test_positive_control_elsewhere_distills_rules_from_held_out_emails_once_per_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(positive_control, "truth_rules", lambda dataset, user: None)
    call_log = tmp_path / "calls.log"
    context, records = controls_run(tmp_path / "run", call_log)
    samples = generate(context, records, only="positive_control")["positive_control"]
    test_users = {record.user for record in records if record.split == "test"}
    distillations = [
        line for line in call_log.read_text().splitlines() if "emails a person wrote" in line
    ]
    assert len(distillations) == len(test_users)  # once per user, not per sample
    for sample in samples.read().samples:
        assert sample.store["rules"] == HELD_OUT_RULES
        assert sample.store["rules_source"] == "held_out"
    held_out = read_eval_log(str(samples.log_path)).samples
    assert held_out and all(HELD_OUT_RULES in s.messages[1].text for s in held_out)


def test_held_out_prompt_shows_the_users_test_emails_only(tmp_path: Path):
    _, records = controls_run(tmp_path / "run")
    user = records[0].user
    chosen = positive_control.held_out_records(str(tmp_path / "run"), "demo", user, 8)
    assert chosen and all(r.user == user and r.split == "test" for r in chosen)
    block = positive_control.held_out_emails_block(chosen)
    assert all(record.content in block for record in chosen)
    with pytest.raises(PrefbenchInputError, match="no test record of user 'nobody'"):
        positive_control.held_out_records(str(tmp_path / "run"), "demo", "nobody", 8)


def test_negative_control_uses_another_users_agent(tmp_path: Path):
    context, records = controls_run(tmp_path / "run")
    samples = generate(context, records, only="negative_control")["negative_control"]
    test_users = sorted({record.user for record in records if record.split == "test"})
    agents = {}
    for sample in samples.read().samples:
        user, agent = sample.metadata["user"], sample.metadata["agent_user"]
        assert agent != user and agent in test_users
        agents.setdefault(user, set()).add(agent)
        assert sample.store["rules"] == SMALL_REPLY
    assert all(len(agent) == 1 for agent in agents.values())  # one fixed agent per user
    assert {user: agent.pop() for user, agent in agents.items()} == user_derangement(
        test_users, seed=0
    )


@pytest.mark.parametrize("users", [["a", "b"], ["a", "b", "c"], [f"u{i}" for i in range(9)]])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_derangement_has_no_fixed_point_and_is_reproducible(users, seed):
    mapping = user_derangement(users, seed)
    assert sorted(mapping) == sorted(users) and sorted(mapping.values()) == sorted(users)
    assert all(user != other for user, other in mapping.items())
    assert user_derangement(list(reversed(users)), seed) == mapping


def test_derangement_needs_two_users():
    with pytest.raises(ValueError, match="at least two users"):
        user_derangement(["alone", "alone"], 0)


def test_persona_rules_state_each_checked_trait():
    for persona in PERSONAS:
        rules = truth_rules("demo", persona.key)
        assert rules is not None
        for line in persona.sign_off.split("\n"):
            assert f'"{line}"' in rules
        assert f"between {persona.word_range[0]} and {persona.word_range[1]} words" in rules
        assert all(phrase in rules for phrase in persona.pet_phrases)
    assert len({truth_rules("demo", persona.key) for persona in PERSONAS}) == len(PERSONAS)
    assert truth_rules("enron", PERSONAS[0].key) is None
    assert truth_rules("demo", "nobody") is None


# --- which pairs are judged ----------------------------------------------------------------------


def test_without_controls_only_the_reference_pairs_are_judged():
    profile = parse_profile(scripted_profile(), Path("<test profile>"))
    assert judged_pairs(profile) == [
        ("few_shot", "small_zero_shot", False),
        ("few_shot", "large_zero_shot", False),
    ]


def test_the_control_systems_declare_their_pairs():
    assert CHECKS == [
        ControlCheck("positive", better="positive_control", worse="large_zero_shot"),
        ControlCheck("negative", better="preference_agent", worse="negative_control"),
    ]
    assert control_checks_of(["large_zero_shot", "preference_agent"]) == []


def test_control_pairs_skip_what_the_reference_already_plays():
    assert control_pairs(CONTROLS, "preference_agent", CHECKS) == [
        ("positive_control", "large_zero_shot")
    ]
    assert control_pairs(CONTROLS, "few_shot", CHECKS) == [
        ("positive_control", "large_zero_shot"),
        ("preference_agent", "negative_control"),
    ]
    assert control_pairs(["large_zero_shot", "preference_agent"], "few_shot", CHECKS) == []


def test_a_plugin_system_declares_itself_a_control(monkeypatch: pytest.MonkeyPatch):
    """A control no prefbench file names: judged beside the reference and checked."""
    monkeypatch.setattr(registry, "_SYSTEMS", dict(registry._SYSTEMS))

    @generation_system(roles=("large",), control=Control.loses_to("large_zero_shot"))
    def shuffled_control(run_dir: str, max_tokens: int = 128):
        return zero_shot_writer("shuffled_control", "large", max_tokens)

    systems = ["few_shot", "large_zero_shot", "shuffled_control"]
    profile = parse_profile(
        scripted_profile(systems=systems, reference_system="few_shot"), Path("<test profile>")
    )
    assert judged_pairs(profile)[-1] == ("large_zero_shot", "shuffled_control", True)
    row = comparison(
        "shuffled_control", "large_zero_shot", {"a": (8, 0.0), "b": (8, 0.125)}, 0, 0.2
    )
    (outcome,) = control_checks([row], control_checks_of(systems))
    assert (outcome.check, outcome.better, outcome.worse) == (
        "negative",
        "large_zero_shot",
        "shuffled_control",
    )
    assert outcome.expected_order and outcome.win_rate == pytest.approx(15 / 16)
    # a negative control alone does not tell whether the judge sees personalization
    assert detects_personalization([outcome]) is None


def test_control_pairs_are_judged_and_reported(tmp_path: Path):
    context, records = controls_run(tmp_path / "run")
    generate(context, records)
    judge(context)
    assert set(context.judge_logs) == {
        "large_zero_shot",
        "positive_control",
        "negative_control",
        "positive_control-vs-large_zero_shot",
    }
    control_log = context.judge_logs["positive_control-vs-large_zero_shot"].log_path
    header = read_eval_log(str(control_log), header_only=True)
    assert header.eval.metadata["control_pair"] is True
    assert header.eval.metadata["system_a"] == "positive_control"
    # the human-evaluation export keeps reference pairs only (one log per compared system)
    exported = judge_logs_by_system(tmp_path / "run")
    assert exported["large_zero_shot"] == context.judge_logs["large_zero_shot"].log_path
    result = report(context)
    # the scripted judge always answers 1: every pair a tie, the controls cannot pass
    controls = result.controls["llm"]
    assert controls.detects_personalization is False and controls.answer == "no"
    assert sorted(check.check for check in controls.checks) == ["negative", "positive"]
    assert all(check.win_rate == 0.5 and check.required is None for check in controls.checks)
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "the judge can detect personalization at this sample size: no" in markdown
    assert json.loads((tmp_path / "run" / "report.json").read_text()) == result.dump()


# --- the statistics ----------------------------------------------------------------------------


def comparison(a: str, b: str, per_user: dict[str, tuple[int, float]], low: float, high: float):
    """A report.json comparison row: per user (n, win rate)."""
    n = sum(count for count, _ in per_user.values())
    rate = sum(count * win for count, win in per_user.values()) / n
    return {
        "system_a": a,
        "system_b": b,
        "judge": "similarity",
        "dataset": "demo",
        "n": n,
        "win_rate": rate,
        "ci_low": low,
        "ci_high": high,
        "ci_method": "cr2-ik-logit",
        "per_user": {user: {"n": c, "win_rate": w} for user, (c, w) in per_user.items()},
    }


def typed(row: dict) -> ComparisonRow:
    """A plain comparison row as the report holds it (every field; per-user rows too)."""
    per_user = {user: user_rate(**values) for user, values in row["per_user"].items()}
    return report_comparison(**{**row, "per_user": per_user})


def test_a_check_read_in_the_reverse_order_is_flipped():
    row = comparison("large_zero_shot", "positive_control", {"a": (4, 0.25), "b": (4, 0.0)}, 0, 0.4)
    (outcome,) = control_checks([row], CHECKS)
    assert outcome.check == "positive" and outcome.better == "positive_control"
    assert outcome.win_rate == pytest.approx(0.875)
    assert (outcome.ci_low, outcome.ci_high) == pytest.approx((0.6, 1.0))
    assert outcome.expected_order and outcome.required is None


def test_a_check_that_fails_gets_the_required_sample():
    row = comparison(
        "preference_agent", "negative_control", {"a": (6, 0.75), "b": (6, 0.5)}, 0.3, 0.9
    )
    (outcome,) = control_checks([row], CHECKS)
    assert not outcome.expected_order and outcome.required is not None
    assert outcome.required.pairs_per_user * 2 >= outcome.required.pairs
    assert detects_personalization([outcome]) is False


def test_a_failed_check_blames_identical_outputs_before_the_judge():
    row = comparison(
        "preference_agent", "negative_control", {"a": (6, 0.75), "b": (6, 0.5)}, 0.3, 0.9
    )
    (same,) = control_checks([{**row, "identical_outputs": 8, "compared_outputs": 12}], CHECKS)
    assert same.diagnosis == (
        "the systems do not differ: 8 of 12 outputs identical, so no judge can tell them apart"
    )
    (different,) = control_checks([{**row, "identical_outputs": 1, "compared_outputs": 12}], CHECKS)
    assert different.diagnosis == (
        "the judge does not see the difference at this sample size (1 of 12 outputs identical)"
    )
    (uncounted,) = control_checks([row], CHECKS)
    assert uncounted.diagnosis == "the judge does not see the difference at this sample size"
    passing = comparison("positive_control", "large_zero_shot", {"a": (9, 1.0)}, 0.7, 1)
    (passed,) = control_checks([{**passing, "identical_outputs": 0, "compared_outputs": 9}], CHECKS)
    assert passed.diagnosis == ""
    section = controls_report_section(
        controls_section(
            [typed({**row, "identical_outputs": 8, "compared_outputs": 12}), typed(passing)],
            CHECKS,
        )
    )
    assert section.paragraphs[1] == (
        "similarity: preference_agent vs negative_control (demo): the systems do not differ: 8 of "
        "12 outputs identical, so no judge can tell them apart."
    )
    assert len(section.paragraphs) == 2


def test_required_sample_matches_the_closed_form_and_grows_with_clustering():
    from scipy.stats import norm
    from statsmodels.stats.proportion import proportion_effectsize

    effect = proportion_effectsize(0.6, 0.5)
    closed_form = ((norm.ppf(0.975) + norm.ppf(0.8)) / effect) ** 2
    even = required_sample(0.6, [(6.0, 10), (6.0, 10)])  # no spread between users: D = 1
    assert even is not None and even.design_effect == 1.0
    assert even.pairs == int(closed_form) + 1 and even.pairs_per_user == (even.pairs + 1) // 2
    spread = required_sample(0.6, [(9.0, 10), (3.0, 10)])
    assert spread is not None and spread.design_effect > 1 and spread.pairs > even.pairs
    assert spread.users == -(-spread.pairs // 10)
    assert required_sample(0.5, [(5.0, 10)]) is None and required_sample(0.3, [(3.0, 10)]) is None


def test_detects_personalization_needs_both_checks_to_pass():
    passing = comparison(
        "positive_control", "large_zero_shot", {"a": (9, 1.0), "b": (9, 0.9)}, 0.7, 1
    )
    negative = comparison("preference_agent", "negative_control", {"a": (9, 0.8)}, 0.6, 0.9)
    both = control_checks([passing, negative], CHECKS)
    assert detects_personalization(both) is True
    assert detects_personalization(both[:1]) is None
    section = controls_section([typed(passing), typed(negative)], CHECKS)
    assert section["similarity"].answer == "yes"
    assert controls_section([], CHECKS) == {}
    assert controls_section([typed(passing), typed(negative)], CHECKS[:1])["similarity"].answer == (
        "not measured (a control system is missing)"
    )


# --- on SmolLM2 --------------------------------------------------------------------------------


@pytest.mark.integration
def test_control_systems_run_on_the_offline_models(pristine_demo_run: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    shutil.copytree(pristine_demo_run, run_dir, symlinks=True)
    profile = yaml.safe_load((run_dir / "profile.yaml").read_text())
    profile["systems"] = [*profile["systems"], "positive_control", "negative_control"]
    context = scripted_run(run_dir, profile)
    records = prepare_records(context)
    logs = generate(context, records)  # the demo's systems reused, the controls generated
    for system in ("positive_control", "negative_control"):
        samples = logs[system].read().samples
        assert samples and all(sample.output.completion.strip() for sample in samples)
        assert all(sample.store["rules"] for sample in samples)
    judge(context)
    result = report(context)
    assert {check.check for check in result.controls["similarity"].checks} == {
        "positive",
        "negative",
    }
