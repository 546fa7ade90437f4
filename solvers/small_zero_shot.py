"""`small_zero_shot`: the small model writes the email from the intent and metadata."""

from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState

from solvers._system import generation_system
from solvers._writer import generate_from_template, generation_cache

SYSTEM = "small_zero_shot"


@generation_system(roles=("small",))
def small_zero_shot(run_dir: str, max_tokens: int = 128) -> Solver:
    """M_S writes from x with the zero-shot writer prompt (`write_email_v1`)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.output = await generate_from_template(
            state,
            get_model(role="small"),
            "write_email_v1",
            cache=generation_cache(SYSTEM),
            max_tokens=max_tokens,
        )
        return state

    return solve
