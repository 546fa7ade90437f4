"""`small_zero_shot`: the small model writes the email from the intent and metadata."""

from inspect_ai.solver import Solver

from prefbench.solvers.registry import generation_system
from prefbench.solvers.writer import zero_shot_writer


@generation_system(roles=("small",))
def small_zero_shot(run_dir: str, max_tokens: int = 128) -> Solver:
    """M_S writes from x with the zero-shot writer prompt (the text kind's `write.txt`)."""
    return zero_shot_writer("small_zero_shot", "small", max_tokens)
