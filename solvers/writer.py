"""Shared generation step: render a prompt template for a sample and call a model."""

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

from core.templates import load_template
from tasks.samples import render_context, sender_name

PROMPTS = Path(__file__).parent / "prompts"


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
            "write_email_v1",
            cache=generation_cache(system),
            max_tokens=max_tokens,
        )
        return state

    return solve
