"""`preference_agent`: the per-user agent (M_S + adapter on R3 rules) writes rules; M_L follows."""

from inspect_ai.solver import Solver

from solvers.registry import GROUND_TRUTH, ModelCall, generation_system
from solvers.rule_following import rule_following_solver
from solvers.training.rule_agents import AGENT_TEMPLATE, build_preference_agent
from solvers.training.rules import PROMPTS as RULES_PROMPTS
from solvers.training.rules import TEMPLATES as RULES_TEMPLATES


@generation_system(
    roles=("small", "large"),
    build=build_preference_agent,
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
        ModelCall("large", "drafts"),
        ModelCall(
            "large",
            "rules",
            max_tokens="rules_max_tokens",
            template=RULES_TEMPLATES["r3"],
            prompts_dir=RULES_PROMPTS,
            fills={"draft": "max_tokens", "ground_truth": GROUND_TRUTH},
        ),
    ),
    trains_adapter=True,
)
def preference_agent(run_dir: str, rules_max_tokens: int = 128, max_tokens: int = 128) -> Solver:
    """The paper's method: p = M_A(x), y = M_L(x, p)."""
    return rule_following_solver("preference_agent", run_dir, rules_max_tokens, max_tokens)
