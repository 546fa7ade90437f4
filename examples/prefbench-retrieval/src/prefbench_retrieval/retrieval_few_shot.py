"""`retrieval_few_shot`: the large model writes with the user's k most similar past emails.

For each test sample the k training records of the same user whose intents are closest to
the sample's intent (TF-IDF cosine, `prefbench_retrieval.retrieval`) are shown as examples;
unlike prefbench's `few_shot`, which draws them at random. Only the train split is ever
searched, so the test email can never be among its own examples.

Importing this module registers the system (the package's prefbench entry point does it).
It imports nothing from prefbench but `prefbench.plugin`.
It declares no separate call plan (`calls=`): the dry run derives the plan from this code.
"""

from functools import cache
from pathlib import Path

from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState

from prefbench.plugin import (
    RunFolder,
    generate_from_template,
    generation_cache,
    generation_system,
    read_records,
    records_by_user,
    render_examples,
)
from prefbench_retrieval.retrieval import IntentIndex

SYSTEM = "retrieval_few_shot"
PROMPTS = Path(__file__).parent / "prompts"
TEMPLATE = "write_email_retrieved_v1"


@cache
def _indexes_by_user(records_path: Path, modified_ns: int) -> dict[str, IntentIndex]:
    """Every user's training records, indexed once per version of the records file."""
    by_user = records_by_user(read_records(records_path), split="train")
    return {user: IntentIndex.from_records(train) for user, train in by_user.items()}


@generation_system(roles=("large",))
def retrieval_few_shot(run_dir: str, k: int = 3, max_tokens: int = 128) -> Solver:
    """M_L writes from x plus the k training emails of the user with the closest intents.

    `k` and `max_tokens` come from the profile's `generation.few_shot_k` and
    `generation.max_tokens`. The chosen record ids and their similarities are kept in the
    sample's metadata (`retrieved_ids`, `retrieved_similarities`) in the generation log.
    """
    if k < 1:
        raise ValueError(f"retrieval_few_shot needs k >= 1, got {k}")
    records_path = RunFolder(Path(run_dir)).records

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        indexes = _indexes_by_user(records_path, records_path.stat().st_mtime_ns)
        user = state.metadata["user"]
        if user not in indexes:
            raise ValueError(
                f"user {user!r} has no training records in {records_path}; "
                "retrieval_few_shot needs at least one: give the user a train split"
            )
        nearest = indexes[user].nearest(state.metadata["intent"], k)
        state.metadata["retrieved_ids"] = [record.id for record, _ in nearest]
        state.metadata["retrieved_similarities"] = [round(score, 4) for _, score in nearest]
        state.output = await generate_from_template(
            state,
            get_model(role="large"),
            TEMPLATE,
            cache=generation_cache(SYSTEM),
            max_tokens=max_tokens,
            prompts_dir=PROMPTS,
            examples=render_examples([record for record, _ in nearest]),
        )
        return state

    return solve
