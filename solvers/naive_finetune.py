"""`naive_finetune`: the small model with the user's adapter trained on (x, g) writes the email."""

from pathlib import Path

from inspect_ai.solver import Generate, Solver, TaskState

from prefbench.solvers.adapters import adapter_model
from prefbench.solvers.registry import generation_system
from prefbench.solvers.training.naive_finetune import build_naive_finetune
from prefbench.solvers.writer import generate_from_template, generation_cache, template_for
from prefbench.tasks.cross_user import adapter_user

SYSTEM = "naive_finetune"


@generation_system(
    roles=("small",),
    build=build_naive_finetune,
    uses_adapter=True,
)
def naive_finetune(run_dir: str, max_tokens: int = 128) -> Solver:
    """M_S + the user's LoRA adapter writes from x (the `write` prompt, as in training).

    The adapter is the sample's `agent_user`'s when set (cross-user generation).
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        user = adapter_user(state.metadata)
        model, adapter_hash = adapter_model("small", Path(run_dir), SYSTEM, user)
        state.output = await generate_from_template(
            state,
            model,
            template_for("write", state.metadata),
            cache=generation_cache(SYSTEM, adapter_hash),
            max_tokens=max_tokens,
        )
        return state

    return solve
