"""Control flow of the whole pipeline on the offline scripted model.

Role routing, what the prompts contain, few-shot examples, re-runs that recompute nothing,
and bad logs/manifests. The same stages run for real on SmolLM2/MiniLM in
test_demo_integration.py.
"""

import json
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.pipeline import (
    PIPELINE,
    PipelineContext,
    build_systems,
    generate,
    judge,
    prepare_records,
    report,
    run_benchmark,
    system_options,
)
from prefbench.harness.profile import parse_profile
from prefbench.harness.stages import ReportStage, Stage
from prefbench.solvers.training.manifest import AdapterManifest, user_artifacts, write_manifest
from prefbench.tasks.records import read_records
from tests.helpers import LARGE_EMAIL, SMALL_REPLY, scripted_profile, scripted_run


def outputs(result) -> dict[str, str]:
    return {str(s.id): s.output.completion for s in result.read().samples}


def test_roles_route_to_the_right_models(tmp_path: Path):
    context = scripted_run(tmp_path / "run", scripted_profile())
    records = prepare_records(context)
    assert all(r.intent == "- meet on Friday" for r in records)
    logs = generate(context, records)
    assert set(outputs(logs["small_zero_shot"]).values()) == {SMALL_REPLY}
    assert set(outputs(logs["large_zero_shot"]).values()) == {LARGE_EMAIL}
    assert set(outputs(logs["few_shot"]).values()) == {LARGE_EMAIL}


def test_prompts_carry_metadata_and_intent_never_the_ground_truth(tmp_path: Path):
    context = scripted_run(tmp_path / "run", scripted_profile())
    records = prepare_records(context)
    by_id = {r.id: r for r in records}
    logs = generate(context, records)
    for system, result in logs.items():
        for sample in result.read().samples:
            record = by_id[str(sample.id)]
            prompt = "\n".join(m.text for m in sample.messages if m.role != "assistant")
            assert record.content not in prompt, system
            assert record.metadata["subject"] in prompt and "meet on Friday" in prompt
            if record.previous_context:
                assert record.previous_context.strip() in prompt


def test_few_shot_examples_come_from_the_same_users_train_split(tmp_path: Path):
    context = scripted_run(tmp_path / "run", scripted_profile())
    records = prepare_records(context)
    by_id = {r.id: r for r in records}
    samples = generate(context, records)["few_shot"].read().samples
    assert samples
    for sample in samples:
        chosen = sample.metadata["few_shot_ids"]
        assert len(chosen) == 3
        for example_id in chosen:
            example = by_id[example_id]
            assert example.split == "train" and example.user == by_id[str(sample.id)].user
            prompt = sample.messages[1].text
            assert example.content in prompt


def test_judge_sees_both_orders_and_report_counts_them(tmp_path: Path):
    context = scripted_run(tmp_path / "run", scripted_profile())
    result = run_benchmark(context)
    # the scripted judge always answers 1: each pair is order-inconsistent, so a tie
    for row in result.rows():
        assert row.system_a == "few_shot"
        assert row.n == row.ties == 2 and row.wins == row.losses == 0
        assert row.win_rate == 0.5 and row.position_consistency == 0.0
    # every pair a tie: all three systems rate the same
    ratings = {row.system: row.rating for row in result.ratings["llm"]}
    assert set(ratings) == {"few_shot", "small_zero_shot", "large_zero_shot"}
    assert max(ratings.values()) - min(ratings.values()) < 1e-6
    assert set(result.rows()[0].per_user) == {"ava", "bo"}
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved == result.dump()
    # a judge that always answers 1 fails the quality gate: every row says so
    assert all(row.judge_flags for row in result.rows())
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "| small_zero_shot ⚠ [1] | 2 |" in markdown
    assert "Quality gate (llm): FAILED ⚠ — position bias: candidate 1 chosen in 100.0 %" in markdown


def test_rerun_with_nothing_changed_makes_no_model_call(tmp_path: Path):
    call_log = tmp_path / "calls.log"
    profile = scripted_profile(call_log=call_log)
    first = run_benchmark(scripted_run(tmp_path / "run", profile))
    calls_first = call_log.read_text().count("\n")
    logs_before = sorted(p.name for p in (tmp_path / "run" / "logs").rglob("*.eval"))
    again = scripted_run(tmp_path / "run", profile)
    second = run_benchmark(again)
    assert again.recomputed_nothing
    assert call_log.read_text().count("\n") == calls_first
    assert sorted(p.name for p in (tmp_path / "run" / "logs").rglob("*.eval")) == logs_before
    assert second.comparisons == first.comparisons


def test_lost_stage_log_is_redone_from_the_cache(tmp_path: Path):
    call_log = tmp_path / "calls.log"
    profile = scripted_profile(call_log=call_log)
    run_benchmark(scripted_run(tmp_path / "run", profile))
    calls_first = call_log.read_text().count("\n")
    for log in (tmp_path / "run" / "logs" / "gen").glob("*.eval"):
        log.unlink()
    context = scripted_run(tmp_path / "run", profile)
    run_benchmark(context)
    assert not context.recomputed_nothing  # the evals ran again ...
    assert call_log.read_text().count("\n") == calls_first  # ... but every answer was cached


def test_changed_profile_recomputes_only_what_depends_on_it(tmp_path: Path):
    call_log = tmp_path / "calls.log"
    run_benchmark(scripted_run(tmp_path / "run", scripted_profile(call_log=call_log)))
    call_log.write_text("")
    changed = scripted_profile(call_log=call_log)
    changed["generation"] = {"few_shot_k": 2}
    run_benchmark(scripted_run(tmp_path / "run", changed))
    calls = call_log.read_text().splitlines()
    # only few_shot regenerates (2 test samples); intents and the other systems are
    # reused; its pairs are judged again but the scripted texts are unchanged, so every
    # judge answer comes from the cache
    assert sum(line.startswith("large") for line in calls) == 2
    assert not any(line.startswith(("small", "judge")) for line in calls)


def adapter_profile() -> dict:
    profile = scripted_profile()
    profile["systems"] = ["large_zero_shot", "preference_agent"]
    profile["reference_system"] = "preference_agent"
    return profile


def fake_adapter(run_dir: Path, system: str, user: str) -> None:
    folder = user_artifacts(run_dir, system, user) / "adapter"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    manifest = AdapterManifest(
        system=system,
        user=user,
        base_model="scripted",
        input_hash="f" * 64,
        settings={},
        examples=1,
        losses=[1.0],
        steps=1,
        seconds=0.1,
    )
    write_manifest(folder.parent, manifest)


def test_preference_agent_rules_come_from_the_adapter_and_reach_the_large_model(tmp_path: Path):
    run_dir = tmp_path / "run"
    context = scripted_run(run_dir, adapter_profile())
    records = prepare_records(context)
    for user in {r.user for r in records}:
        fake_adapter(run_dir, "preference_agent", user)
    samples = generate(context, records)["preference_agent"].read().samples
    for sample in samples:
        assert sample.store["rules"] == SMALL_REPLY  # the agent (small + adapter) wrote them
        assert SMALL_REPLY in sample.messages[1].text  # the large model's prompt has them
        assert sample.output.completion == LARGE_EMAIL


def test_missing_adapter_names_the_build_command(tmp_path: Path):
    context = scripted_run(tmp_path / "run", adapter_profile())
    records = prepare_records(context)
    with pytest.raises(PrefbenchInputError, match="prefbench build preference_agent"):
        generate(context, records)


def test_corrupt_manifest_names_the_folder_to_delete(tmp_path: Path):
    run_dir = tmp_path / "run"
    context = scripted_run(run_dir, adapter_profile())
    records = prepare_records(context)
    user = records[0].user
    fake_adapter(run_dir, "preference_agent", user)
    (user_artifacts(run_dir, "preference_agent", user) / "manifest.json").write_text("{oops")
    with pytest.raises(PrefbenchInputError) as error:
        generate(context, records)
    assert "manifest.json" in str(error.value) and "Delete the folder" in str(error.value)


def test_records_file_matches_the_schema(tmp_path: Path):
    context = scripted_run(tmp_path / "run", scripted_profile())
    prepare_records(context)
    records = read_records(tmp_path / "run" / "data" / "records.jsonl")
    assert {r.split for r in records} == {"train", "test"}
    assert all(r.intent for r in records)


def test_stage_functions_compose_like_run(tmp_path: Path):
    context = scripted_run(tmp_path / "run", scripted_profile())
    records = prepare_records(context)
    build_systems(context, records)
    generate(context, records)
    judge(context)
    result = report(context)
    assert [row.system_b for row in result.rows()] == [
        "small_zero_shot",
        "large_zero_shot",
    ]
    header = read_eval_log(str(context.judge_logs["small_zero_shot"].log_path), header_only=True)
    assert header.eval.metadata["system_a"] == "few_shot"


def test_pipeline_lists_every_stage_in_run_order():
    assert [stage.name for stage in PIPELINE] == [
        "records",
        "build",
        "generation",
        "similarity",
        "cross_user",
        "pairwise_judge",
        "multi_candidate",
        "report",
    ]
    sections = [stage.section for stage in PIPELINE if stage.section is not None]
    assert sections == [
        "long_texts",
        "similarity",
        "personalization",
        "failed_samples",
        "multi_candidate",
    ]


class ExtraSectionStage(Stage):
    """A stage from elsewhere that adds its own report.json section."""

    name = "extra"
    title = "extra"
    section = "extra_section"

    def run(self, context: PipelineContext) -> None:
        self.keep_section(context, {"answer": 42})


def test_report_collects_the_section_of_every_stage_in_the_pipeline(tmp_path: Path):
    context = scripted_run(tmp_path / "run", scripted_profile())
    context.stages = (ExtraSectionStage(), ReportStage())
    result = run_benchmark(context)
    assert result.stage_sections == {"extra_section": {"answer": 42}}
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["stage_sections"]["extra_section"] == {"answer": 42}
    assert "similarity" not in saved  # a stage that did not run adds nothing


def test_system_options_offer_generation_settings_and_profile_overrides():
    profile = parse_profile(
        scripted_profile(system_options={"few_shot": {"k": 1}}), Path("<test profile>")
    )
    assert system_options(profile, "few_shot") == {"k": 1, "seed": 0, "max_tokens": 128}
    assert system_options(profile, "large_zero_shot") == {"max_tokens": 128}


def test_unknown_system_option_names_what_the_solver_takes():
    profile = parse_profile(
        scripted_profile(system_options={"few_shot": {"temperature": 1.0}}), Path("<p>")
    )
    with pytest.raises(PrefbenchInputError, match=r"system_options.few_shot.*'k'"):
        system_options(profile, "few_shot")


def test_system_options_of_a_system_not_in_the_profile_is_an_input_error():
    with pytest.raises(PrefbenchInputError, match="system_options"):
        parse_profile(
            scripted_profile(system_options={"preference_agent": {"max_tokens": 9}}), Path("<p>")
        )


def test_systems_generate_in_one_eval_and_a_lost_log_is_redone_alone(tmp_path: Path):
    """All systems' generation is one inspect eval (one run id), each with its own log."""
    context = scripted_run(tmp_path / "run", scripted_profile())
    logs = generate(context, prepare_records(context))
    run_ids = {result.read_header().eval.run_id for result in logs.values()}
    assert len(logs) >= 3 and len(run_ids) == 1
    assert len({result.log_path for result in logs.values()}) == len(logs)
    logs["few_shot"].log_path.unlink()

    again = scripted_run(tmp_path / "run", scripted_profile())
    redone = generate(again, prepare_records(again))
    assert again.runner.evals_run == 1
    assert not redone["few_shot"].cached
    assert all(result.cached for name, result in redone.items() if name != "few_shot")
