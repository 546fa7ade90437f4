"""Build steps of the rule agents: distill rules, then LoRA on (x, rules) per user.

- `preference_agent`: zero-shot drafts of the large model on the train split, rules with
  strategy R3 (thinking + draft vs real text), then the agent adapter.
- `no_baseline_agent`: rules from the real text alone (R2), then the agent adapter.
- `no_thinking_agent`: rules with strategy R1 (draft vs real text, no thinking step).
- `cross_family_agent`: R3 rules written by the `rule_writer` role (a model of another
  family than the large model, the paper's §5.4; the `large` role when the profile sets none).

Drafts, rules and agent prompts follow each record's text kind (email or article).
"""

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog

from prefbench.core.fingerprint import fingerprint
from prefbench.solvers.large_zero_shot import large_zero_shot
from prefbench.solvers.training.context import BuildContext
from prefbench.solvers.training.lora import TrainingExample
from prefbench.solvers.training.rules import PURPOSES, RuleStrategy, rule_distillation_task
from prefbench.solvers.training.training import request_user_adapter
from prefbench.solvers.writer import render_prompt, template_for
from prefbench.tasks.records import records_by_user, records_fingerprint
from prefbench.tasks.samples import record_to_sample

RULE_WRITER_ROLE = "rule_writer"
"""The role that writes the cross-family agent's rules (falls back on `large`)."""


def _train_samples(context: BuildContext) -> list[Sample]:
    return [record_to_sample(record) for record in context.train_records]


def _key_template(samples: list[Sample], purpose: str) -> str | list[str]:
    """The template(s) of `purpose` the samples use, for a stage key: one when one text kind."""
    names = sorted({template_for(purpose, s.metadata or {}) for s in samples})
    return names[0] if len(names) == 1 else names


def zero_shot_drafts(context: BuildContext) -> dict[str, str]:
    """The large model's zero-shot drafts of every training record, by record id."""
    samples = _train_samples(context)
    task = Task(
        name="zero_shot_drafts",
        dataset=MemoryDataset(samples, name="train"),
        solver=large_zero_shot(run_dir=str(context.run_dir), max_tokens=context.email_max_tokens),
    )
    key = {
        "records": records_fingerprint(context.train_records),
        "template": _key_template(samples, "write"),
        "max_tokens": context.email_max_tokens,
    }
    log = context.run_eval("drafts", task, key)
    return {str(sample.id): sample.output.completion for sample in log.samples or []}


def distill(
    context: BuildContext,
    strategy: RuleStrategy,
    drafts: dict[str, str] | None,
    role: str = "large",
) -> EvalLog:
    """Run rule distillation over the train split with the `role` model (cached like any stage).

    The stage is `rules-<strategy>`, or `rules-<strategy>-<role>` for a role other than large.
    """
    samples = _train_samples(context)
    if drafts is not None:
        for sample in samples:
            assert sample.metadata is not None
            sample.metadata["draft"] = drafts[str(sample.id)]
    key = {
        "records": records_fingerprint(context.train_records),
        "drafts": fingerprint(drafts),
        "template": _key_template(samples, PURPOSES[strategy]),
        "max_tokens": context.rules_max_tokens,
    }
    stage = f"rules-{strategy}"
    if role != "large":
        key["role"] = role
        stage = f"{stage}-{role}"
    task = rule_distillation_task(samples, strategy, context.rules_max_tokens, role=role)
    return context.run_eval(stage, task, key, roles=(role,))


def train_rule_agents(context: BuildContext, system: str, rules_log: EvalLog) -> None:
    """Queue one adapter per user that writes the distilled rules from the agent prompt."""
    rules_by_id = {str(sample.id): sample.store for sample in rules_log.samples or []}
    for user, records in records_by_user(context.train_records).items():
        examples, tagged = [], 0
        for record in records:
            distilled = rules_by_id[record.id]
            tagged += bool(distilled["rules_tagged"])
            metadata = record_to_sample(record).metadata or {}
            prompt = render_prompt(template_for("agent_rules", metadata), metadata)
            examples.append(TrainingExample(prompt=prompt, target=distilled["rules"]))
        details = {"rules_with_tag": tagged, "rules_log": rules_log.location}
        request_user_adapter(context, system, user, examples, details)


def build_preference_agent(context: BuildContext) -> None:
    """Drafts → R3 rules → per-user agent adapters."""
    rules_log = distill(context, "r3", zero_shot_drafts(context))
    train_rule_agents(context, "preference_agent", rules_log)


def build_no_baseline_agent(context: BuildContext) -> None:
    """Rules from the real texts alone (R2) → per-user agent adapters."""
    rules_log = distill(context, "no_baseline", None)
    train_rule_agents(context, "no_baseline_agent", rules_log)


def build_no_thinking_agent(context: BuildContext) -> None:
    """Drafts → R1 rules (no thinking step) → per-user agent adapters."""
    rules_log = distill(context, "r1", zero_shot_drafts(context))
    train_rule_agents(context, "no_thinking_agent", rules_log)


def build_cross_family_agent(context: BuildContext) -> None:
    """Drafts of the large model → R3 rules by the `rule_writer` role → agent adapters."""
    role = context.role_or(RULE_WRITER_ROLE, "large")
    rules_log = distill(context, "r3", zero_shot_drafts(context), role=role)
    train_rule_agents(context, "cross_family_agent", rules_log)
