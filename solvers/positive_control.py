"""`positive_control`: the large model writes with rules that know the truth (an oracle).

A control, not a method: it shows that the judge and the pipeline can see personalization
at all. If it does not beat `large_zero_shot`, no method can be expected to.

Where its rules come from, per user:

- on the demo corpus, from the persona definition that generated the user's emails
  (`prefbench.tasks.demo.persona_rules.truth_rules`): no test text is read;
- on any other corpus, from the user's held-out emails: the large model states rules from
  the user's first `held_out_emails` test-split records of the run (`data/records.jsonl`,
  prompt `distill_rules_held_out_v1`), once per user. This reads the texts it is judged on,
  which is the point of an oracle.

The rules are kept in the store (`rules`, with `rules_source` "persona" or "held_out").
"""

import asyncio
from pathlib import Path

from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig, get_model
from inspect_ai.solver import Solver, TaskState

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.core.templates import load_template
from prefbench.solvers.registry import Control, generation_system
from prefbench.solvers.training.rules import parse_rules
from prefbench.solvers.writer import (
    PROMPTS,
    generate_from_template,
    generation_cache,
    template_for,
)
from prefbench.tasks.demo.persona_rules import truth_rules
from prefbench.tasks.records import Record, read_records

HELD_OUT_TEMPLATE = "distill_rules_held_out_v1"
EMAIL_CHARACTERS = 2000
"""Each held-out email shown to the rule writer is cut to this many characters."""


def held_out_emails_block(records: list[Record]) -> str:
    """The emails as numbered `<email_N>` blocks, each cut to `EMAIL_CHARACTERS`."""
    return "\n\n".join(
        f"<email_{number}>\n{record.content[:EMAIL_CHARACTERS]}\n</email_{number}>"
        for number, record in enumerate(records, start=1)
    )


def held_out_records(run_dir: str, dataset: str, user: str, count: int) -> list[Record]:
    """The user's first `count` test-split records of the run; an input error when none."""
    path = RunFolder(Path(run_dir)).records
    chosen = [
        record
        for record in read_records(path)
        if record.dataset == dataset and record.user == user and record.split == "test"
    ][:count]
    if not chosen:
        raise PrefbenchInputError(
            f"positive_control: {path} has no test record of user '{user}' in dataset "
            f"'{dataset}'; prepare the run's records (`prefbench run`) first."
        )
    return chosen


@generation_system(roles=("large",), control=Control.beats("large_zero_shot"))
def positive_control(
    run_dir: str, rules_max_tokens: int = 128, max_tokens: int = 128, held_out_emails: int = 8
) -> Solver:
    """M_L writes x following the truth's rules (persona rules, or rules from held-out emails).

    Args:
        run_dir: the run folder (its `data/records.jsonl` holds the held-out emails).
        rules_max_tokens: the budget of the oracle's rule statement.
        max_tokens: the email's budget.
        held_out_emails: at most this many of a user's test emails go into the oracle prompt.
    """
    if held_out_emails < 1:
        raise PrefbenchInputError(
            f"positive_control: held_out_emails must be at least 1, got {held_out_emails}"
        )
    rules_by_user: dict[tuple[str, str], asyncio.Task[str]] = {}

    async def held_out_rules(dataset: str, user: str) -> str:
        records = held_out_records(run_dir, dataset, user, held_out_emails)
        system, prompt = load_template(PROMPTS, HELD_OUT_TEMPLATE).render(
            sender=user, emails=held_out_emails_block(records)
        )
        output = await get_model(role="large").generate(
            [ChatMessageSystem(content=system), ChatMessageUser(content=prompt)],
            config=GenerateConfig(max_tokens=rules_max_tokens),
            cache=generation_cache("positive_control-oracle"),
        )
        return parse_rules(output.completion)[0]

    async def solve(state: TaskState, generate: object) -> TaskState:
        dataset, user = str(state.metadata["dataset"]), str(state.metadata["user"])
        rules = truth_rules(dataset, user)
        source = "persona"
        if rules is None:
            source = "held_out"
            if (dataset, user) not in rules_by_user:
                rules_by_user[dataset, user] = asyncio.ensure_future(held_out_rules(dataset, user))
            rules = await rules_by_user[dataset, user]
        state.store.set("rules", rules)
        state.store.set("rules_source", source)
        state.output = await generate_from_template(
            state,
            get_model(role="large"),
            template_for("write_with_rules", state.metadata),
            cache=generation_cache("positive_control-writer"),
            max_tokens=max_tokens,
            rules=rules,
        )
        return state

    return solve
