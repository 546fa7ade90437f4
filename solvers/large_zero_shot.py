"""`large_zero_shot`: the large model writes the email from the intent and metadata.

Its outputs on the train split are also the zero-shot drafts that rule distillation (R3)
compares with the real emails.
"""

from inspect_ai.solver import Solver

from prefbench.solvers.registry import generation_system
from prefbench.solvers.writer import zero_shot_writer


@generation_system(roles=("large",))
def large_zero_shot(run_dir: str, max_tokens: int = 128) -> Solver:
    """M_L writes from x with the zero-shot writer prompt (the text kind's `write.txt`)."""
    return zero_shot_writer("large_zero_shot", "large", max_tokens)
