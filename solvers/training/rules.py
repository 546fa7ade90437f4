"""Rule distillation: the large model states a user's preferences as rules (docs/design.md §1).

The strategies of the paper's §5.5: `r3` compares the large model's own zero-shot draft
with what the user really wrote (thinking + baseline, the paper's default); `r1` does the
same without the thinking step; `no_baseline` (R2) thinks over the real text alone. Each has
a prompt purpose (`PURPOSES`) whose template the sample's text kind provides. The rules
are what a rule agent is then trained to write. The model that writes them is the `large`
role unless the task names another (`rule_writer`, a model of another family, §5.4).
"""

import re
from typing import Literal

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from prefbench.solvers.writer import generate_from_template, generation_cache, template_for

RuleStrategy = Literal["r1", "r3", "no_baseline"]
PURPOSES: dict[str, str] = {
    "r1": "distill_rules_r1",
    "r3": "distill_rules_r3",
    "no_baseline": "distill_rules_no_baseline",
}
"""Each strategy's prompt purpose (its template in every text kind's folder)."""
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
    if strategy not in PURPOSES:
        raise ValueError(f"unknown rule strategy '{strategy}'; choose one of {list(PURPOSES)}")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        fields = {"ground_truth": state.target.text}
        if strategy in STRATEGIES_WITH_DRAFT:
            fields["draft"] = state.metadata["draft"]
        state.output = await generate_from_template(
            state,
            get_model(role=role),
            template_for(PURPOSES[strategy], state.metadata),
            cache=generation_cache(f"rules-{strategy}"),
            max_tokens=max_tokens,
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
