"""Build steps of the two rule agents: distill rules, then LoRA on (x, rules) per user.

- `preference_agent`: zero-shot drafts of the large model on the train split, rules with
  strategy R3 (thinking + draft vs real email), then the agent adapter.
- `no_baseline_agent`: rules from the real email alone, then the agent adapter.
"""

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog

from core.fingerprint import fingerprint
from solvers.large_zero_shot import large_zero_shot
from solvers.training.context import BuildContext
from solvers.training.lora import TrainingExample
from solvers.training.rules import TEMPLATES, RuleStrategy, rule_distillation_task
from solvers.training.training import ensure_user_adapter
from solvers.writer import render_prompt
from tasks.records import records_by_user
from tasks.samples import record_to_sample

AGENT_TEMPLATE = "agent_rules_v1"


def _train_samples(context: BuildContext) -> list[Sample]:
    return [record_to_sample(record) for record in context.train_records]


def zero_shot_drafts(context: BuildContext) -> dict[str, str]:
    """The large model's zero-shot drafts of every training record, by record id."""
    task = Task(
        name="zero_shot_drafts",
        dataset=MemoryDataset(_train_samples(context), name="train"),
        solver=large_zero_shot(run_dir=str(context.run_dir), max_tokens=context.email_max_tokens),
    )
    key = {
        "records": fingerprint([r.model_dump() for r in context.train_records]),
        "template": "write_email_v1",
        "max_tokens": context.email_max_tokens,
    }
    log = context.run_eval("drafts", task, key)
    return {str(sample.id): sample.output.completion for sample in log.samples or []}


def distill(
    context: BuildContext, strategy: RuleStrategy, drafts: dict[str, str] | None
) -> EvalLog:
    """Run rule distillation over the train split (cached like any stage)."""
    samples = _train_samples(context)
    if drafts is not None:
        for sample in samples:
            assert sample.metadata is not None
            sample.metadata["draft"] = drafts[str(sample.id)]
    key = {
        "records": fingerprint([r.model_dump() for r in context.train_records]),
        "drafts": fingerprint(drafts),
        "template": TEMPLATES[strategy],
        "max_tokens": context.rules_max_tokens,
    }
    task = rule_distillation_task(samples, strategy, context.rules_max_tokens)
    return context.run_eval(f"rules-{strategy}", task, key)


def train_rule_agents(context: BuildContext, system: str, rules_log: EvalLog) -> None:
    """One adapter per user, trained to write the distilled rules from the agent prompt."""
    rules_by_id = {str(sample.id): sample.store for sample in rules_log.samples or []}
    for user, records in records_by_user(context.train_records).items():
        examples, tagged = [], 0
        for record in records:
            distilled = rules_by_id[record.id]
            tagged += bool(distilled["rules_tagged"])
            metadata = record_to_sample(record).metadata or {}
            examples.append(
                TrainingExample(
                    prompt=render_prompt(AGENT_TEMPLATE, metadata), target=distilled["rules"]
                )
            )
        details = {"rules_with_tag": tagged, "rules_log": rules_log.location}
        _, trained = ensure_user_adapter(context, system, user, examples, details)
        context.announce(f"{system} / {user}: {'trained' if trained else 'adapter up to date'}")


def build_preference_agent(context: BuildContext) -> None:
    """Drafts → R3 rules → per-user agent adapters."""
    rules_log = distill(context, "r3", zero_shot_drafts(context))
    train_rule_agents(context, "preference_agent", rules_log)


def build_no_baseline_agent(context: BuildContext) -> None:
    """Rules from the real emails alone → per-user agent adapters."""
    rules_log = distill(context, "no_baseline", None)
    train_rule_agents(context, "no_baseline_agent", rules_log)
