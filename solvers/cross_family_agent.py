"""`cross_family_agent`: as the preference agent, with rules written by another model family.

The build step's R3 rules come from the `rule_writer` role (e.g. GPT-4o or Qwen beside a
Llama large model, the paper's §5.4); a profile without that role uses `large`, which makes
the system the preference agent again. At inference the agent writes rules and the large
model follows them, as for every rule agent.
"""

from inspect_ai.solver import Solver

from prefbench.solvers.registry import generation_system
from prefbench.solvers.rule_following import rule_following_solver
from prefbench.solvers.training.rule_agents import RULE_WRITER_ROLE, build_cross_family_agent


@generation_system(
    roles=("small", "large"),
    build=build_cross_family_agent,
    uses_adapter=True,
    optional_roles=(RULE_WRITER_ROLE,),
)
def cross_family_agent(run_dir: str, rules_max_tokens: int = 128, max_tokens: int = 128) -> Solver:
    """Ablation: the agent's rules were distilled by the `rule_writer` role's model."""
    return rule_following_solver("cross_family_agent", run_dir, rules_max_tokens, max_tokens)
