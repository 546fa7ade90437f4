"""`no_baseline_agent`: as the preference agent, with rules distilled from g alone."""

from inspect_ai.solver import Solver

from solvers.registry import GROUND_TRUTH, ModelCall, generation_system
from solvers.rule_following import rule_following_solver
from solvers.training.rule_agents import AGENT_TEMPLATE, build_no_baseline_agent
from solvers.training.rules import PROMPTS as RULES_PROMPTS
from solvers.training.rules import TEMPLATES as RULES_TEMPLATES


@generation_system(
    roles=("small", "large"),
    build=build_no_baseline_agent,
    uses_adapter=True,
    calls=(
        ModelCall(
            "small", "rules", max_tokens="rules_max_tokens", template=AGENT_TEMPLATE, adapter=True
        ),
        ModelCall(
            "large",
            "email",
            template="write_email_with_rules_v1",
            fills={"rules": "rules_max_tokens"},
        ),
    ),
    build_calls_per_train_record=(
        ModelCall(
            "large",
            "rules",
            max_tokens="rules_max_tokens",
            template=RULES_TEMPLATES["no_baseline"],
            prompts_dir=RULES_PROMPTS,
            fills={"ground_truth": GROUND_TRUTH},
        ),
    ),
    trains_adapter=True,
)
def no_baseline_agent(run_dir: str, rules_max_tokens: int = 128, max_tokens: int = 128) -> Solver:
    """Ablation: the agent's rules were distilled without the zero-shot baseline."""
    return rule_following_solver("no_baseline_agent", run_dir, rules_max_tokens, max_tokens)
