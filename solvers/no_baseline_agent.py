"""`no_baseline_agent`: as the preference agent, with rules distilled from g alone."""

from inspect_ai.solver import Solver

from prefbench.solvers.registry import generation_system
from prefbench.solvers.rule_following import rule_following_solver
from prefbench.solvers.training.rule_agents import build_no_baseline_agent


@generation_system(
    roles=("small", "large"),
    build=build_no_baseline_agent,
    uses_adapter=True,
)
def no_baseline_agent(run_dir: str, rules_max_tokens: int = 128, max_tokens: int = 128) -> Solver:
    """Ablation: the agent's rules were distilled without the zero-shot baseline."""
    return rule_following_solver("no_baseline_agent", run_dir, rules_max_tokens, max_tokens)
