"""Shared solve step of the rule agents: the agent writes rules, the large model follows them."""

from pathlib import Path

from inspect_ai.model import get_model
from inspect_ai.solver import Solver, TaskState

from prefbench.solvers.adapters import adapter_model
from prefbench.solvers.writer import generate_from_template, generation_cache, template_for
from prefbench.tasks.cross_user import adapter_user


def rule_following_solver(
    system: str, run_dir: str, rules_max_tokens: int, max_tokens: int
) -> Solver:
    """P = M_A(x) with the user's adapter; y = M_L(x, p). Rules are kept in the store.

    The adapter is the sample's `agent_user`'s when set (cross-user generation), else its
    `user`'s.
    """

    async def solve(state: TaskState, generate: object) -> TaskState:
        user = adapter_user(state.metadata)
        agent, adapter_hash = adapter_model("small", Path(run_dir), system, user)
        rules_output = await generate_from_template(
            state,
            agent,
            template_for("agent_rules", state.metadata),
            cache=generation_cache(system, adapter_hash),
            max_tokens=rules_max_tokens,
        )
        rules = rules_output.completion.strip()
        state.store.set("rules", rules)
        state.output = await generate_from_template(
            state,
            get_model(role="large"),
            template_for("write_with_rules", state.metadata),
            cache=generation_cache(f"{system}-writer"),
            max_tokens=max_tokens,
            rules=rules,
        )
        return state

    return solve
