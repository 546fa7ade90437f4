"""`few_shot`: the large model writes with k real emails of the same user as examples.

Examples come from the user's *train* split only, chosen by a rule seeded with the sample
id, so a run is reproducible and the test email can never be among them.
"""

import random
from functools import cache
from pathlib import Path

from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState

from prefbench.solvers.registry import generation_system
from prefbench.solvers.writer import generate_from_template, generation_cache, template_for
from prefbench.tasks.records import Record, read_records, records_by_user
from prefbench.tasks.samples import render_context, sample_text_kind

SYSTEM = "few_shot"


@cache
def _train_records_by_user(records_path: Path, modified_ns: int) -> dict[str, list[Record]]:
    return records_by_user(read_records(records_path), split="train")


def choose_examples(train: list[Record], sample_id: str, k: int, seed: int) -> list[Record]:
    """K training records picked by a rule seeded with `seed` and the sample id."""
    rng = random.Random(f"{seed}:{sample_id}")
    return rng.sample(train, min(k, len(train)))


def render_examples(examples: list[Record], tag: str = "email") -> str:
    """Examples as context + text blocks in `<tag>` (the text kind), numbered."""
    blocks = []
    for number, example in enumerate(examples, start=1):
        context = render_context({"fields": example.metadata})
        blocks.append(f"Example {number}:\n{context}\n<{tag}>\n{example.content}\n</{tag}>")
    return "\n\n".join(blocks)


@generation_system(roles=("large",))
def few_shot(run_dir: str, k: int = 3, seed: int = 0, max_tokens: int = 128) -> Solver:
    """M_L writes from x plus k of the user's training texts (`write_few_shot` prompt)."""
    if k < 1:
        raise ValueError(f"few_shot needs k >= 1, got {k}")
    records_path = Path(run_dir) / "data" / "records.jsonl"

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        by_user = _train_records_by_user(records_path, records_path.stat().st_mtime_ns)
        train = by_user.get(state.metadata["user"], [])
        examples = choose_examples(train, str(state.sample_id), k, seed)
        state.metadata["few_shot_ids"] = [example.id for example in examples]
        state.output = await generate_from_template(
            state,
            get_model(role="large"),
            template_for("write_few_shot", state.metadata),
            cache=generation_cache(SYSTEM),
            max_tokens=max_tokens,
            examples=render_examples(examples, tag=sample_text_kind(state.metadata)),
        )
        return state

    return solve
