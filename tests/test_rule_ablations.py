"""The paper's rule ablations as systems: R1 (`no_thinking_agent`) and cross-family rules.

Control flow on the scripted model: which prompt and which role distill each system's rules,
what the agents are trained on, and that generation runs like every rule agent. The
integration test builds and generates both systems for real on the offline SmolLM2.
"""

from collections.abc import Sequence
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log

from prefbench.core.text_kinds import kind_template
from prefbench.harness.pipeline import build_systems, generate, prepare_records, run_benchmark
from prefbench.solvers import lookup_system
from prefbench.solvers.training.lora import (
    Checkpointing,
    LoraSettings,
    StepCallback,
    TrainingExample,
    TrainingResult,
)
from prefbench.solvers.training.rules import PURPOSES, STRATEGIES_WITH_DRAFT
from tests.helpers import INTENT, LARGE_EMAIL, SMALL_REPLY, scripted_profile, scripted_run

WRITER_RULES = "<rules>- sign off with Cheers</rules>"
LARGE_RULES = "<thinking>short</thinking><rules>- be brief</rules>"


class RecordingTrainer:
    """An adapter trainer that keeps each job's examples and writes a placeholder adapter."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], list[TrainingExample]] = {}

    def __call__(
        self,
        base_model_dir: Path,
        examples: Sequence[TrainingExample],
        settings: LoraSettings,
        adapter_dir: Path,
        on_step: StepCallback | None = None,
        *,
        checkpoints: Checkpointing | None = None,
    ) -> TrainingResult:
        parts = Path(adapter_dir).parts  # artifacts/SYSTEM/<versions>/USER/<version>/adapter
        at = parts.index("artifacts")
        self.jobs[(parts[at + 1], parts[at + 3])] = list(examples)
        Path(adapter_dir).mkdir(parents=True, exist_ok=True)
        (Path(adapter_dir) / "adapter_config.json").write_text("{}")
        return TrainingResult(losses=[1.0], steps=1, seconds=0.0, trainable_parameters=0)


def ablation_profile(call_log: Path, rule_writer: bool = True) -> dict:
    """The scripted profile with the two ablations; the large model distills its own rules."""
    profile = scripted_profile(call_log)
    large = profile["roles"]["large"]["model_args"]
    large["replies"] = {"core content": INTENT, "<draft>": LARGE_RULES, "": LARGE_EMAIL}
    if rule_writer:
        profile["roles"]["rule_writer"] = {
            "model": "prefbench-mock/writer",
            "model_args": {"replies": [WRITER_RULES], "call_log": str(call_log)},
        }
    profile["systems"] = ["large_zero_shot", "no_thinking_agent", "cross_family_agent"]
    profile["reference_system"] = "no_thinking_agent"
    return profile


def calls(call_log: Path) -> list[tuple[str, str]]:
    lines = call_log.read_text("utf-8").splitlines() if call_log.exists() else []
    return [tuple(line.split("\t", 1)) for line in lines]  # type: ignore[misc]


def test_both_ablations_are_registered_rule_agents():
    for name in ("no_thinking_agent", "cross_family_agent"):
        system = lookup_system(name)
        assert system.build is not None and system.uses_adapter
        assert system.roles == ("small", "large")


def test_r1_distills_from_the_draft_without_a_thinking_step():
    assert "r1" in STRATEGIES_WITH_DRAFT and "no_baseline" not in STRATEGIES_WITH_DRAFT
    r1 = kind_template("email", PURPOSES["r1"])
    r3 = kind_template("email", PURPOSES["r3"])
    assert "draft" in r1.fields and "draft" in r3.fields
    assert "<thinking>" not in r1.user and "<thinking>" in r3.user


def test_cross_family_rules_come_from_the_rule_writer_role(tmp_path: Path):
    call_log = tmp_path / "calls.log"
    context = scripted_run(tmp_path / "run", ablation_profile(call_log))
    trainer = RecordingTrainer()
    context.adapter_trainer = trainer
    records = prepare_records(context)
    call_log.unlink()
    build_systems(context, records)
    writers = [prompt for model, prompt in calls(call_log) if model == "writer"]
    train = [record for record in records if record.split == "train"]
    assert len(writers) == len(train)  # one R3 distillation per training record
    users = sorted({record.user for record in train})
    for user in users:
        cross = trainer.jobs[("cross_family_agent", user)]
        r1 = trainer.jobs[("no_thinking_agent", user)]
        assert {example.target for example in cross} == {"- sign off with Cheers"}
        assert {example.target for example in r1} == {"- be brief"}
    build_logs = sorted(path.name for path in (tmp_path / "run" / "logs" / "build").iterdir())
    assert any("rule-distillation-r1" in name for name in build_logs)
    logs = generate(context, records)
    for system in ("no_thinking_agent", "cross_family_agent"):
        for sample in logs[system].read().samples:
            assert sample.store["rules"] == SMALL_REPLY
            assert sample.output.completion == LARGE_EMAIL


def test_r1_prompt_reaches_the_large_model_with_the_draft(tmp_path: Path):
    profile = ablation_profile(tmp_path / "calls.log")
    profile["systems"] = ["large_zero_shot", "no_thinking_agent"]
    context = scripted_run(tmp_path / "run", profile)
    context.adapter_trainer = RecordingTrainer()
    build_systems(context, prepare_records(context))
    [log_path] = (tmp_path / "run" / "logs" / "build").glob("*rule-distillation-r1*")
    samples = read_eval_log(str(log_path)).samples or []
    assert samples
    for sample in samples:
        prompt = sample.messages[1].text
        assert f"<draft>\n{LARGE_EMAIL}\n</draft>" in prompt
        assert "<thinking>" not in prompt


def test_without_a_rule_writer_the_large_role_writes_and_the_r3_rules_are_reused(tmp_path: Path):
    call_log = tmp_path / "calls.log"
    profile = ablation_profile(call_log, rule_writer=False)
    profile["systems"] = ["large_zero_shot", "preference_agent", "cross_family_agent"]
    profile["reference_system"] = "preference_agent"
    context = scripted_run(tmp_path / "run", profile)
    trainer = RecordingTrainer()
    context.adapter_trainer = trainer
    records = prepare_records(context)
    build_systems(context, records, only="preference_agent")
    call_log.unlink()
    build_systems(context, records, only="cross_family_agent")
    assert calls(call_log) == []  # drafts and R3 rules of the large model: reused
    users = sorted({record.user for record in records})
    for user in users:
        assert (
            trainer.jobs[("cross_family_agent", user)] == trainer.jobs[("preference_agent", user)]
        )


def test_rule_writer_is_a_known_role_and_the_run_reuses_everything(tmp_path: Path):
    call_log = tmp_path / "calls.log"
    context = scripted_run(tmp_path / "run", ablation_profile(call_log))
    context.adapter_trainer = RecordingTrainer()
    run_benchmark(context)
    again = scripted_run(tmp_path / "run", ablation_profile(call_log))
    again.adapter_trainer = RecordingTrainer()
    run_benchmark(again)
    assert again.recomputed_nothing


@pytest.mark.integration
def test_both_ablations_build_and_generate_on_smollm2(tmp_path: Path):
    profile = {
        "name": "ablations",
        "dataset": {"kind": "demo", "personas": 2, "records_per_persona": 3},
        "roles": {
            "small": {"model": "offline/smollm2"},
            "large": {"model": "offline/smollm2"},
            "rule_writer": {"model": "offline/smollm2", "config": {"max_tokens": 40}},
        },
        "systems": ["no_thinking_agent", "cross_family_agent"],
        "reference_system": "no_thinking_agent",
        "judge": {"kind": "similarity"},
        "generation": {"max_tokens": 24, "rules_max_tokens": 24, "intent_max_tokens": 24},
        "training": {"rank": 4, "alpha": 8, "max_steps": 1, "batch_size": 2, "max_seq_len": 256},
    }
    context = scripted_run(tmp_path / "run", profile)
    records = prepare_records(context)
    build_systems(context, records)
    assert context.adapters_trained == 4  # two users × two systems
    build_logs = [path.name for path in (tmp_path / "run" / "logs" / "build").iterdir()]
    assert any("rule-distillation-r1" in name for name in build_logs)
    logs = generate(context, records)
    for system in ("no_thinking_agent", "cross_family_agent"):
        samples = logs[system].read().samples
        assert samples and all(sample.output.completion.strip() for sample in samples)
        assert all(sample.store["rules"] for sample in samples)
