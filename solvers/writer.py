"""Shared generation step: pick and render a prompt template for a sample and call a model.

Every prompt a system sends about a user's text exists once per text kind
(`prefbench.core.text_kinds`: a folder of templates, one per purpose); `template_for` names
the template of a purpose for a sample's text kind (emails for Enron and the demo, articles
for New Yorker, any kind a plug-in registers).
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

from prefbench.core.text_kinds import PURPOSES, lookup_text_kind, resolve_template
from prefbench.tasks.samples import render_context, sample_text_kind, sender_name

PROMPTS = Path(__file__).parent / "prompts"
"""prefbench's writer prompts that are the same for every text kind."""


def template_for(purpose: str, metadata: dict[str, Any]) -> str:
    """The name (``KIND:PURPOSE``) of the template of `purpose` for a sample's text kind.

    The kind is the sample's `text_kind` metadata, else its dataset's (`sample_text_kind`).
    Besides prefbench's purposes (`PURPOSES`), a kind's folder may hold a plug-in's own.
    Raises `KeyError` naming the known purposes when the kind has no template for `purpose`.
    """
    kind = lookup_text_kind(sample_text_kind(metadata))
    if purpose not in PURPOSES and not kind.template_path(purpose).is_file():
        raise KeyError(
            f"no prompt for '{purpose}' in text kind {kind.name!r}; the prompts are "
            f"{sorted(PURPOSES)}"
        )
    return kind.template(purpose).name


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

    `template_name` is a text kind's ``KIND:PURPOSE`` (`template_for`) or the name of a
    file in `prompts_dir` (without `.txt`). Training (build) and inference render prompts
    through this one function, so an adapter sees at inference exactly the prompt it was
    trained on.
    """
    template = resolve_template(template_name, prompts_dir)
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
