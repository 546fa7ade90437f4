"""`large_zero_shot`: the large model writes the email from the intent and metadata.

Its outputs on the train split are also the zero-shot drafts that rule distillation (R3)
compares with the real emails.
"""

from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState

from solvers._system import generation_system
from solvers._writer import generate_from_template, generation_cache

SYSTEM = "large_zero_shot"


@generation_system(roles=("large",))
def large_zero_shot(run_dir: str, max_tokens: int = 128) -> Solver:
    """M_L writes from x with the zero-shot writer prompt (`write_email_v1`)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.output = await generate_from_template(
            state,
            get_model(role="large"),
            "write_email_v1",
            cache=generation_cache(SYSTEM),
            max_tokens=max_tokens,
        )
        return state

    return solve
