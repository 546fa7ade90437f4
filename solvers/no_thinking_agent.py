"""`no_thinking_agent`: as the preference agent, with rules distilled by strategy R1.

R1 compares the large model's zero-shot draft with the real text like R3, but asks for the
rules at once, without the thinking step (the paper's §5.5 compares R1, R2 =
`no_baseline_agent` and R3 = `preference_agent`).
"""

from inspect_ai.solver import Solver

from prefbench.solvers.registry import generation_system
from prefbench.solvers.rule_following import rule_following_solver
from prefbench.solvers.training.rule_agents import build_no_thinking_agent


@generation_system(
    roles=("small", "large"),
    build=build_no_thinking_agent,
    uses_adapter=True,
)
def no_thinking_agent(run_dir: str, rules_max_tokens: int = 128, max_tokens: int = 128) -> Solver:
    """Ablation R1: the agent's rules were distilled without the thinking step."""
    return rule_following_solver("no_thinking_agent", run_dir, rules_max_tokens, max_tokens)
