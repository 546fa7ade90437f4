"""Intents: the large model extracts the core content of each real text (docs/design.md §1).

Variants are generated at temperatures 0.7, 1.0 and 1.2 (the profile's
`generation.intent_temperatures` may name others); one of them, chosen by a rule seeded with
the record id, becomes the record's intent. All three are kept in the
sample's store in the log. The prompt is the record's text kind's
`extract_intent` template (`prefbench.core.text_kinds`: an email's or an article's core
content).
"""

import random
import re

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    CachePolicy,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    get_model,
)
from inspect_ai.solver import Generate, Solver, TaskState, solver

from prefbench.core.text_kinds import kind_template
from prefbench.tasks.corpora.registry import corpus_text_kind
from prefbench.tasks.records import Record

PURPOSE = "extract_intent"
"""The intent prompt's purpose (its template in every text kind's folder)."""
TEMPERATURES = (0.7, 1.0, 1.2)

_CORE_CONTENT = re.compile(r"<core_content>(.*?)(?:</core_content>|$)", re.DOTALL | re.IGNORECASE)


def parse_core_content(text: str) -> str:
    """The bullet points inside `<core_content>`, or the whole answer when the tag is missing."""
    match = _CORE_CONTENT.search(text)
    content = match.group(1) if match and match.group(1).strip() else text
    return content.strip()


def choose_variant(record_id: str, seed: int, count: int) -> int:
    """Index of the variant that becomes the intent, seeded by run seed and record id."""
    return random.Random(f"{seed}:{record_id}").randrange(count)


def chosen_intent(store: dict) -> str:
    """The intent a finished sample's store selected among its variants."""
    return store["intent_variants"][store["intent_choice"]]


@solver
def extract_intents(
    temperatures: tuple[float, ...] = TEMPERATURES, seed: int = 0, max_tokens: int = 96
) -> Solver:
    """Generate one intent variant per temperature with the `large` role; keep one."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        template = kind_template(state.metadata.get("text_kind"), PURPOSE)
        system, user = template.render(content=state.target.text)
        messages = [ChatMessageSystem(content=system), ChatMessageUser(content=user)]
        model = get_model(role="large")
        variants, outputs = [], []
        for index, temperature in enumerate(temperatures):
            output = await model.generate(
                messages,
                config=GenerateConfig(
                    temperature=temperature, max_tokens=max_tokens, seed=seed + index
                ),
                cache=CachePolicy(expiry=None, scopes={"stage": "intents", "variant": str(index)}),
            )
            outputs.append(output)
            variants.append(parse_core_content(output.completion))
        chosen = choose_variant(str(state.sample_id), seed, len(variants))
        state.store.set("intent_variants", variants)
        state.store.set("intent_choice", chosen)
        state.messages = [*messages, outputs[chosen].message]
        state.output = outputs[chosen]
        return state

    return solve


def intent_task(
    records: list[Record],
    seed: int,
    max_tokens: int,
    temperatures: tuple[float, ...] = TEMPERATURES,
) -> Task:
    """A task over all records (both splits) whose log holds every record's intents.

    One variant per temperature in `temperatures`; a seeded rule keeps one.
    """
    samples = [
        Sample(
            id=record.id,
            input=record.content,
            target=record.content,
            metadata={"user": record.user, "text_kind": corpus_text_kind(record.dataset)},
        )
        for record in records
    ]
    return Task(
        name="intent_extraction",
        dataset=MemoryDataset(samples, name="records"),
        solver=extract_intents(temperatures=temperatures, seed=seed, max_tokens=max_tokens),
    )
