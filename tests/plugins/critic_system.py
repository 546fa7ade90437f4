"""A plug-in system with a role no prefbench system uses: `critic` rewrites the large model's draft.

Installed by the tests through a stand-in distribution (`tests.plugins.install_plugin`).
"""

from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState

from prefbench.plugin import (
    generate_from_template,
    generation_cache,
    generation_system,
    template_for,
)


@generation_system(roles=("large", "critic"))
def critic_revision(run_dir: str, max_tokens: int = 128) -> Solver:
    """The large model drafts the text; the `critic` model rewrites the draft."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        draft = await generate_from_template(
            state,
            get_model(role="large"),
            template_for("write", state.metadata),
            cache=generation_cache("critic_revision"),
            max_tokens=max_tokens,
        )
        state.output = await get_model(role="critic").generate(
            f"Rewrite this draft in the author's voice:\n{draft.completion}",
            cache=generation_cache("critic_revision-critic"),
        )
        return state

    return solve
