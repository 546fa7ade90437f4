"""An LLM judge's prompt templates: which file each sample gets, and how it is filled.

A judge prompt is a versioned template file (`prefbench.core.templates`): a system part and a
user part. A judge's `prompt` setting names it, in one of three ways:

- None (the default): the `judge.txt` of the sample's text kind (`prefbench.core.text_kinds`,
  named ``KIND:judge``; a sample without a kind gets the email one);
- a reference for every sample: the name of a template in `prompts/` (``judge_email_paper``),
  a text kind's template (``article:judge``) or a path to a template file
  (``judges/closest_style_v1.txt``; relative paths from the current directory, or from the
  YAML judge file that names it);
- a mapping from text kind to reference (``{email: judge_email_paper, article:
  judge_article_paper}``); a kind it leaves out gets the default.

A template may use these fields (an unknown one is an error naming the file):

- ``{ground_truth}``: the text the person really wrote;
- ``{num_candidates}``: how many candidates are shown;
- ``{candidates}``: every candidate as ``<candidate_N>`` … ``</candidate_N>``, 1-based;
- ``{candidates_LABEL}`` (any LABEL, e.g. ``{candidates_email}``): every candidate as
  ``LABEL_N:`` and its text, 1-based (the paper's ``email_1``, ``email_2``).

The verdict a template asks for is read by the judge's `verdict_pattern` (default: the
``<winner>N</winner>`` rules of `prefbench.scorers.verdict.parse_winner`).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.templates import PromptTemplate, load_template_file
from prefbench.core.text_kinds import DEFAULT_TEXT_KIND, lookup_text_kind, text_kinds

__all__ = [
    "CANDIDATE_FIELDS",
    "FOLLOW_UP_TEMPLATE",
    "BUILT_IN_KINDS",
    "JUDGE_PURPOSE",
    "PROMPTS",
    "PromptChoice",
    "TemplateRef",
    "judge_messages",
    "judge_template_for",
    "prompt_label",
    "prompt_references",
    "render_candidates",
    "resolve_template",
    "template_for_kind",
]

PROMPTS = Path(__file__).parent / "prompts"
JUDGE_PURPOSE = "judge"
BUILT_IN_KINDS = ("article", "email")
"""prefbench's own text kinds, whose judge templates every LLM judge key holds."""
"""The text kinds' default judge template (`<kind folder>/judge.txt`)."""
FOLLOW_UP_TEMPLATE = "judge_follow_up_v1"
CANDIDATE_FIELDS = ("ground_truth", "num_candidates", "candidates")
"""The fields every judge template may use, besides ``candidates_LABEL``."""
LABELLED = "candidates_"

PromptChoice = str | Mapping[str, str] | None
"""A judge's `prompt` setting: None, one reference, or text kind → reference."""


@dataclass(frozen=True)
class TemplateRef:
    """A resolved template: its folder, file stem and name (``KIND:judge`` or the stem)."""

    folder: Path
    stem: str
    label: str = ""

    @property
    def name(self) -> str:
        """The template's name in logs and messages."""
        return self.label or self.stem

    @property
    def path(self) -> Path:
        """The template file."""
        return self.folder / f"{self.stem}.txt"

    def load(self) -> PromptTemplate:
        """The template, read once per file version."""
        return load_template_file(self.path, self.name)


def judge_template_for(text_kind: str | None) -> str:
    """The default judge template's name for a sample whose `text_kind` metadata is `text_kind`.

    ``KIND:judge``, the `judge.txt` of the kind's prompt folder (`email:judge` when the kind
    is missing). Every kind's judge template shows any number of candidates, so pairwise
    and multi-candidate judging use the same one.
    """
    return f"{text_kind or DEFAULT_TEXT_KIND}:{JUDGE_PURPOSE}"


def _kind_reference(reference: str) -> TemplateRef:
    """``KIND:PURPOSE``: that template of a registered text kind."""
    kind, _, purpose = reference.partition(":")
    try:
        folder = lookup_text_kind(kind).folder
    except PrefbenchInputError as error:
        raise ValueError(f"judge prompt {reference!r}: {error}") from error
    return TemplateRef(folder, purpose, reference)


def resolve_template(reference: str, base: Path | None = None) -> TemplateRef:
    """The template a reference names: a name in `prompts/`, ``KIND:PURPOSE`` or a `.txt` file.

    A reference with a path separator or a `.txt` ending is a file, relative to `base` (the
    current directory when None); ``KIND:PURPOSE`` is a text kind's template; anything else
    names a template in `prompts/`. Raises
    `ValueError` naming the reference and the fix when the file does not exist or uses a
    field no judge fills.
    """
    is_path = "/" in reference or "\\" in reference or reference.endswith(".txt")
    if is_path:
        path = Path(reference)
        if not path.is_absolute() and base is not None:
            path = base / path
        ref = TemplateRef(path.parent, path.name.removesuffix(".txt"))
    elif ":" in reference:
        ref = _kind_reference(reference)
    else:
        ref = TemplateRef(PROMPTS, reference)
    if not ref.path.is_file():
        known = sorted(path.stem for path in PROMPTS.glob("judge_*.txt"))
        known += [judge_template_for(kind.name) for kind in text_kinds()]
        raise ValueError(
            f"judge prompt {reference!r}: no file {ref.path}; give the path of a template "
            f"file (.txt) or the name of one of prefbench's judge prompts {known}"
        )
    try:
        template = ref.load()
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"judge prompt {ref.path} cannot be read: {error}") from error
    unknown = sorted(
        field
        for field in template.fields
        if field not in CANDIDATE_FIELDS and not field.startswith(LABELLED)
    )
    if unknown:
        raise ValueError(
            f"judge prompt {ref.path} uses the field(s) {unknown}, which no judge fills; a "
            f"judge template may use {{ground_truth}}, {{num_candidates}}, {{candidates}} or "
            "{candidates_LABEL} (escape a literal brace as {{ or }})"
        )
    return ref


def template_for_kind(choice: PromptChoice, text_kind: str | None) -> TemplateRef:
    """The template a sample of `text_kind` gets under a `prompt` setting (module docstring)."""
    if isinstance(choice, str):
        return resolve_template(choice)
    kind = text_kind or DEFAULT_TEXT_KIND
    if isinstance(choice, Mapping) and kind in choice:
        return resolve_template(choice[kind])
    return resolve_template(judge_template_for(text_kind))


def prompt_references(choice: PromptChoice) -> list[TemplateRef]:
    """Every template a `prompt` setting can give a sample (the defaults for unnamed kinds).

    The defaults are prefbench's own kinds' judge templates (`BUILT_IN_KINDS`); a plug-in
    kind's prompts reach the judge stages' keys through their generation logs' keys
    (`prefbench.harness.prompt_files.text_kind_prompts_key`), so a key never depends on which
    plug-ins happen to be loaded.
    """
    references = {judge_template_for(kind) for kind in BUILT_IN_KINDS}
    if isinstance(choice, str):
        return [resolve_template(choice)]
    refs = [resolve_template(name) for name in sorted(references)]
    if isinstance(choice, Mapping):
        refs += [resolve_template(reference) for reference in choice.values()]
    return sorted(set(refs), key=lambda ref: str(ref.path))


def prompt_label(path: Path) -> str:
    """A prompt file's name in a stage key: ``KIND:PURPOSE`` or the file name.

    ``KIND:PURPOSE`` for a template in a registered text kind's folder, else the file name;
    never its folder, so the same content elsewhere keys the same.
    """
    for kind in text_kinds():
        if path.parent.resolve() == kind.folder.resolve():
            return f"{kind.name}:{path.stem}"
    return path.name


def render_candidates(candidates: Sequence[str], label: str | None = None) -> str:
    """Candidates 1-based: ``<candidate_N>`` blocks, or ``LABEL_N:`` and the text."""
    if label is None:
        return "\n\n".join(
            f"<candidate_{number}>\n{text}\n</candidate_{number}>"
            for number, text in enumerate(candidates, start=1)
        )
    return "\n\n".join(
        f"{label}_{number}:\n{text}" for number, text in enumerate(candidates, start=1)
    )


def judge_messages(
    template: TemplateRef, ground_truth: str, candidates: Sequence[str]
) -> list[ChatMessage]:
    """The judge prompt for one order of the candidates: a system and a user message."""
    loaded = template.load()
    values = {
        "ground_truth": ground_truth,
        "num_candidates": str(len(candidates)),
        "candidates": render_candidates(candidates),
    }
    values |= {
        field: render_candidates(candidates, field.removeprefix(LABELLED))
        for field in loaded.fields
        if field.startswith(LABELLED)
    }
    system, user = loaded.render(**{name: values[name] for name in loaded.fields})
    return [ChatMessageSystem(content=system), ChatMessageUser(content=user)]
