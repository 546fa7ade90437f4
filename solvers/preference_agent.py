"""`preference_agent`: the per-user agent (M_S + adapter on R3 rules) writes rules; M_L follows."""

from inspect_ai.solver import Solver

from prefbench.solvers.registry import generation_system
from prefbench.solvers.rule_following import rule_following_solver
from prefbench.solvers.training.rule_agents import build_preference_agent


@generation_system(
    roles=("small", "large"),
    build=build_preference_agent,
    uses_adapter=True,
)
def preference_agent(run_dir: str, rules_max_tokens: int = 128, max_tokens: int = 128) -> Solver:
    """The paper's method: p = M_A(x), y = M_L(x, p)."""
    return rule_following_solver("preference_agent", run_dir, rules_max_tokens, max_tokens)
