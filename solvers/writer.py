"""Shared generation step: pick and render a prompt template for a sample and call a model.

Every prompt exists once per text kind (`prefbench.tasks.corpora.TextKind`): `PROMPT_FAMILIES` maps
a prompt's purpose to the template of each kind, and `template_for` picks the one that fits a
sample's `text_kind` metadata (emails for Enron and the demo, articles for New Yorker).
"""

from pathlib import Path
from typing import Any

from inspect_ai.model import (
    CachePolicy,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelOutput,
    get_model,
)
from inspect_ai.solver import Generate, Solver, TaskState

from prefbench.core.templates import load_template
from prefbench.tasks.corpora import TextKind
from prefbench.tasks.samples import render_context, sample_text_kind, sender_name

PROMPTS = Path(__file__).parent / "prompts"
PROMPT_FAMILIES: dict[str, dict[TextKind, str]] = {
    "write": {"email": "write_email_v1", "article": "write_article_v1"},
    "write_few_shot": {"email": "write_email_few_shot_v1", "article": "write_article_few_shot_v1"},
    "write_with_rules": {
        "email": "write_email_with_rules_v1",
        "article": "write_article_with_rules_v1",
    },
    "agent_rules": {"email": "agent_rules_v1", "article": "agent_article_rules_v1"},
}
"""The writer prompts of `solvers/prompts/`, by purpose and text kind."""


def template_for(
    purpose: str,
    metadata: dict[str, Any],
    families: dict[str, dict[TextKind, str]] = PROMPT_FAMILIES,
) -> str:
    """The template of `purpose` (a key of `families`) for a sample's text kind.

    Raises `KeyError` naming the known purposes when `purpose` is not one of them.
    """
    if purpose not in families:
        raise KeyError(f"no prompt for '{purpose}'; the prompts are {sorted(families)}")
    return template_of_kind(families[purpose], metadata, purpose)


def template_of_kind(by_kind: dict[TextKind, str], metadata: dict[str, Any], purpose: str) -> str:
    """The template in `by_kind` for a sample's text kind.

    The kind is the sample's `text_kind` metadata, else its dataset's (`sample_text_kind`).
    Raises `KeyError` naming `purpose` and the kinds it has when the kind has no template.
    """
    kind = sample_text_kind(metadata)
    if kind not in by_kind:
        raise KeyError(f"prompt '{purpose}' has no {kind} template; it has {sorted(by_kind)}")
    return by_kind[kind]


def generation_cache(system: str, adapter_hash: str = "none") -> CachePolicy:
    """A never-expiring cache scoped to the system and adapter (docs/design.md §4).

    inspect's cache key leaves out model args, so two adapters of one base model would
    otherwise share entries.
    """
    return CachePolicy(expiry=None, scopes={"system": system, "adapter": adapter_hash})


def render_prompt(
    template_name: str, metadata: dict[str, Any], prompts_dir: Path = PROMPTS, **fields: str
) -> list[dict[str, str]]:
    """Chat messages for a sample: the template filled with its context, sender and intent.

    Training (build) and inference render prompts through this one function, so an adapter
    sees at inference exactly the prompt it was trained on.
    """
    template = load_template(prompts_dir, template_name)
    values: dict[str, Any] = {
        "context": render_context(metadata),
        "sender": sender_name(metadata),
        "intent": metadata["intent"],
        **fields,
    }
    values = {key: value for key, value in values.items() if key in template.fields}
    system, user = template.render(**values)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


async def generate_from_template(
    state: TaskState,
    model: Model,
    template_name: str,
    *,
    cache: CachePolicy,
    max_tokens: int,
    prompts_dir: Path = PROMPTS,
    **fields: str,
) -> ModelOutput:
    """Render `template_name` for the sample (see `render_prompt`) and generate.

    The prompt and the reply replace `state.messages`; the reply is returned.
    """
    system, user = render_prompt(template_name, state.metadata, prompts_dir, **fields)
    messages = [
        ChatMessageSystem(content=system["content"]),
        ChatMessageUser(content=user["content"]),
    ]
    output = await model.generate(
        messages, config=GenerateConfig(max_tokens=max_tokens), cache=cache
    )
    state.messages = [*messages, output.message]
    return output


def zero_shot_writer(system: str, role: str, max_tokens: int) -> Solver:
    """A solver in which the `role` model writes from x with the zero-shot writer prompt."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.output = await generate_from_template(
            state,
            get_model(role=role),
            template_for("write", state.metadata),
            cache=generation_cache(system),
            max_tokens=max_tokens,
        )
        return state

    return solve
