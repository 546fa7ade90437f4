"""`negative_control`: the preference agent of ANOTHER user writes the rules; M_L follows them.

A control, not a method: the user's own agent (`preference_agent`) must beat it, or the
judge cannot tell one user's preferences from another's. Each user is given the agent of
the next user in a seeded derangement of the run's test users (`user_derangement`), so no
user ever gets their own agent. It loads `preference_agent`'s adapters and builds them with
the same build step (reused when `preference_agent` is in the run too), and sends exactly
the prompts of the cross-user stage's off-diagonal cell, so it shares that stage's cache.
The agent used is kept in the sample's `agent_user` metadata.
"""

import random
from collections.abc import Sequence
from pathlib import Path

from inspect_ai.solver import Generate, Solver, TaskState

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.solvers.registry import Control, generation_system
from prefbench.solvers.rule_following import rule_following_solver
from prefbench.solvers.training.rule_agents import build_preference_agent
from prefbench.tasks.cross_user import AGENT_USER
from prefbench.tasks.records import read_records

RULES_OF = "preference_agent"
"""The system whose per-user agents write the rules."""


def user_derangement(users: Sequence[str], seed: int) -> dict[str, str]:
    """Each user → another user, never themselves: one seeded cycle through all users.

    The users are shuffled with `seed` and each is mapped to the next in that order (the
    last to the first), so the map is a derangement for any two or more users and the same
    users and seed always give the same map.

    Raises:
        ValueError: with fewer than two distinct users.
    """
    ordered = sorted(set(users))
    if len(ordered) < 2:
        raise ValueError(f"a derangement needs at least two users, got {ordered}")
    random.Random(f"prefbench-negative-control:{seed}").shuffle(ordered)
    return {user: ordered[(index + 1) % len(ordered)] for index, user in enumerate(ordered)}


def run_derangement(run_dir: str, seed: int) -> dict[str, str]:
    """The derangement of the users with test records in the run (`data/records.jsonl`)."""
    path = RunFolder(Path(run_dir)).records
    users = [record.user for record in read_records(path) if record.split == "test"]
    try:
        return user_derangement(users, seed)
    except ValueError as error:
        raise PrefbenchInputError(
            f"negative_control: {path}: {error}; it needs test records of at least two "
            "users. Remove negative_control from the profile's `systems` or add users."
        ) from error


@generation_system(
    roles=("small", "large"),
    build=build_preference_agent,
    uses_adapter=True,
    adapters_of=RULES_OF,
    control=Control.loses_to(RULES_OF),
)
def negative_control(
    run_dir: str, rules_max_tokens: int = 128, max_tokens: int = 128, seed: int = 0
) -> Solver:
    """Another user's agent A' (a seeded derangement) writes p = M_A'(x); y = M_L(x, p).

    Args:
        run_dir: the run folder (records and `preference_agent` adapters).
        rules_max_tokens: the agent's rules budget.
        max_tokens: the email's budget.
        seed: the derangement's seed (the profile's `seed`).
    """
    follow_rules = rule_following_solver(RULES_OF, run_dir, rules_max_tokens, max_tokens)
    derangements: list[dict[str, str]] = []

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if not derangements:
            derangements.append(run_derangement(run_dir, seed))
        state.metadata[AGENT_USER] = derangements[0][str(state.metadata["user"])]
        return await follow_rules(state, generate)

    return solve
