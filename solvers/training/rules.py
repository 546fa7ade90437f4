"""Rule distillation: the large model states a user's preferences as rules (docs/design.md §1).

The strategies of the paper's §5.5: `r3` compares the large model's own zero-shot draft
with what the user really wrote (thinking + baseline, the paper's default); `r1` does the
same without the thinking step; `no_baseline` (R2) thinks over the real text alone. Each has
an email and an article template (`TEMPLATES`), picked by the sample's text kind. The rules
are what a rule agent is then trained to write. The model that writes them is the `large`
role unless the task names another (`rule_writer`, a model of another family, §5.4).
"""

import re
from pathlib import Path
from typing import Literal

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from prefbench.solvers.writer import generate_from_template, generation_cache, template_of_kind
from prefbench.tasks.corpora import TextKind

PROMPTS = Path(__file__).parent / "prompts"
RuleStrategy = Literal["r1", "r3", "no_baseline"]
TEMPLATES: dict[str, dict[TextKind, str]] = {
    "r1": {"email": "distill_rules_r1_v1", "article": "distill_article_rules_r1_v1"},
    "r3": {"email": "distill_rules_r3_v1", "article": "distill_article_rules_r3_v1"},
    "no_baseline": {
        "email": "distill_rules_no_baseline_v1",
        "article": "distill_article_rules_no_baseline_v1",
    },
}
"""Each strategy's template by text kind."""
STRATEGIES_WITH_DRAFT = ("r1", "r3")
"""Strategies that compare the large model's zero-shot draft with the real text."""

_RULES = re.compile(r"<rules>(.*?)(?:</rules>|$)", re.DOTALL | re.IGNORECASE)
_THINKING = re.compile(r"<thinking>.*?(?:</thinking>|$)", re.DOTALL | re.IGNORECASE)


def parse_rules(text: str) -> tuple[str, bool]:
    """The rules in a distillation answer, and whether they came from a `<rules>` tag.

    Without the tag (small models often omit it) the answer minus any `<thinking>` block is
    taken as the rules, and the second value is False so the build can count it.
    """
    match = _RULES.search(text)
    if match and match.group(1).strip():
        return match.group(1).strip(), True
    return _THINKING.sub("", text).strip(), False


@solver
def distill_rules(
    strategy: RuleStrategy = "r3", max_tokens: int = 256, role: str = "large"
) -> Solver:
    """Ask the `role` model for the user's preference rules for one training record.

    Strategies with a draft (`STRATEGIES_WITH_DRAFT`) read it from `metadata.draft`.
    """
    if strategy not in TEMPLATES:
        raise ValueError(f"unknown rule strategy '{strategy}'; choose one of {list(TEMPLATES)}")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        fields = {"ground_truth": state.target.text}
        if strategy in STRATEGIES_WITH_DRAFT:
            fields["draft"] = state.metadata["draft"]
        state.output = await generate_from_template(
            state,
            get_model(role=role),
            template_of_kind(TEMPLATES[strategy], state.metadata, f"rules {strategy}"),
            cache=generation_cache(f"rules-{strategy}"),
            max_tokens=max_tokens,
            prompts_dir=PROMPTS,
            **fields,
        )
        rules, tagged = parse_rules(state.output.completion)
        state.store.set("rules", rules)
        state.store.set("rules_tagged", tagged)
        return state

    return solve


def rule_distillation_task(
    samples: list[Sample], strategy: RuleStrategy, max_tokens: int, role: str = "large"
) -> Task:
    """A task over training samples (with `metadata.draft` for r1, r3) that distills rules."""
    return Task(
        name=f"rule_distillation_{strategy}",
        dataset=MemoryDataset(samples, name=f"train-{strategy}"),
        solver=distill_rules(strategy=strategy, max_tokens=max_tokens, role=role),
    )
