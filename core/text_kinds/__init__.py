"""Text kinds: what a corpus's texts are (emails, articles, ...), each one a folder of prompts.

Every prompt prefbench sends about a user's text exists once per text kind. A kind is a
folder holding one template file per purpose (`PURPOSES`: `write.txt`, `judge.txt`, ...,
in the `prefbench.core.templates` format). A corpus names its kind
(`@corpus(text_kind="article")`), its samples carry it (metadata `text_kind`), and the
writers, the intents stage, rule distillation and the LLM judge take the kind's template for
their purpose (`kind_template`). prefbench registers `email` and `article` from the folders
beside this module; a plug-in registers its own with `register_text_kind(name, folder)`
(copy one of prefbench's folders to start). A template is named ``KIND:PURPOSE`` (e.g.
``article:judge``) in logs and stage keys; its identity is its text.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.templates import PromptTemplate, load_template, load_template_file

__all__ = [
    "DEFAULT_TEXT_KIND",
    "PURPOSES",
    "Purpose",
    "TextKind",
    "kind_template",
    "lookup_text_kind",
    "register_text_kind",
    "resolve_template",
    "text_kinds",
]


@dataclass(frozen=True)
class Purpose:
    """What one prompt of a text kind is for, and the fields its template may use.

    `required` are the fields the template must use (the caller fills exactly those).
    """

    description: str
    fields: frozenset[str]
    required: frozenset[str] = frozenset()


_WRITER = frozenset({"context", "sender", "intent"})
_DISTILL = frozenset({"context", "sender", "intent", "ground_truth", "draft"})
_CANDIDATES = frozenset({"ground_truth", "num_candidates", "candidates"})

PURPOSES: dict[str, Purpose] = {
    "write": Purpose("the zero-shot writer (small/large zero-shot systems)", _WRITER),
    "write_few_shot": Purpose("the writer shown k of the user's texts", _WRITER | {"examples"}),
    "write_with_rules": Purpose(
        "the large model following a preference agent's rules", _WRITER | {"rules"}
    ),
    "agent_rules": Purpose("the preference agent writing the user's rules", _WRITER),
    "extract_intent": Purpose(
        "the intents stage: what a real text says (its core content)", frozenset({"content"})
    ),
    "distill_rules_r1": Purpose("rule distillation, draft vs real text (R1)", _DISTILL),
    "distill_rules_r3": Purpose("rule distillation, thinking + draft (R3)", _DISTILL),
    "distill_rules_no_baseline": Purpose("rule distillation from the real text (R2)", _DISTILL),
    "judge": Purpose(
        "the LLM judge: which candidate is closest to the real text", _CANDIDATES, _CANDIDATES
    ),
}
"""The prompts every text kind provides, by purpose (the file is `<purpose>.txt`)."""

DEFAULT_TEXT_KIND = "email"
"""The text kind of a dataset no corpus registers (records made elsewhere)."""

_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class TextKind:
    """A registered text kind: its name, its folder of prompts and what its texts are."""

    name: str
    folder: Path
    description: str

    def template_path(self, purpose: str) -> Path:
        """The template file of `purpose` in the kind's folder."""
        return self.folder / f"{purpose}.txt"

    def template(self, purpose: str) -> PromptTemplate:
        """The kind's template for `purpose`, named ``KIND:PURPOSE``.

        Raises `PrefbenchInputError` naming the kind's folder and the file to add when the
        kind has no such prompt.
        """
        path = self.template_path(purpose)
        if not path.is_file():
            raise PrefbenchInputError(
                f"text kind {self.name!r} has no {purpose!r} prompt: add {path} "
                f"(the kinds' prompts: {', '.join(PURPOSES)})"
            )
        return load_template_file(path, f"{self.name}:{purpose}")

    def prompt_files(self) -> dict[str, str]:
        """The text of every template in the kind's folder, by file name (for stage keys)."""
        return {
            path.name: path.read_text(encoding="utf-8")
            for path in sorted(self.folder.glob("*.txt"))
        }


_KINDS: dict[str, TextKind] = {}


def _check_folder(name: str, folder: Path) -> None:
    """Every purpose's template is there, parses, and uses only the fields it is given."""
    if not folder.is_dir():
        raise ValueError(f"text kind {name!r}: {folder} is not a folder of prompts")
    problems = []
    for purpose, spec in PURPOSES.items():
        path = folder / f"{purpose}.txt"
        if not path.is_file():
            problems.append(f"{path.name} is missing ({spec.description})")
            continue
        try:
            fields = load_template_file(path, f"{name}:{purpose}").fields
        except (OSError, UnicodeDecodeError, ValueError) as error:
            problems.append(f"{path.name}: {error}")
            continue
        unknown, missing = fields - spec.fields, spec.required - fields
        if unknown:
            problems.append(f"{path.name} uses {sorted(unknown)}; it may use {sorted(spec.fields)}")
        if missing:
            problems.append(f"{path.name} must use {sorted(missing)}")
    if problems:
        raise ValueError(f"text kind {name!r} in {folder}: {'; '.join(problems)}")


def register_text_kind(name: str, folder: Path | str, description: str = "") -> TextKind:
    """Register the text kind `name` from its folder of prompts; the registered kind.

    The folder holds one template per purpose of `PURPOSES` (`write.txt`, ...,
    `judge.txt`), each using only the fields its purpose fills; more files may sit beside
    them (a plug-in's own purposes). Registering the same name with the same folder again
    does nothing. Raises `ValueError` naming every problem: a name that is not lower-case
    letters, digits and `_`, a missing or unreadable template, a field its purpose does not
    fill, or a name another folder registered.
    """
    folder = Path(folder).resolve()
    if not _NAME.fullmatch(name):
        raise ValueError(f"text kind {name!r}: use lower-case letters, digits and '_'")
    known = _KINDS.get(name)
    if known is not None:
        if known.folder == folder:
            return known
        raise ValueError(
            f"text kind {name!r} is already registered from {known.folder}; {folder} must "
            "choose another name"
        )
    _check_folder(name, folder)
    kind = TextKind(name=name, folder=folder, description=description)
    _KINDS[name] = kind
    return kind


def lookup_text_kind(name: str) -> TextKind:
    """The text kind called `name`; `PrefbenchInputError` naming the registered ones otherwise."""
    if name not in _KINDS:
        raise PrefbenchInputError(
            f"unknown text kind {name!r}; registered kinds: {', '.join(sorted(_KINDS))}. "
            "A corpus's kind must be registered (`register_text_kind`) before the corpus."
        )
    return _KINDS[name]


def text_kinds() -> list[TextKind]:
    """Every registered text kind, by name."""
    return [_KINDS[name] for name in sorted(_KINDS)]


def kind_template(kind: str | None, purpose: str) -> PromptTemplate:
    """The template of `purpose` for text kind `kind` (`DEFAULT_TEXT_KIND` when None)."""
    return lookup_text_kind(kind or DEFAULT_TEXT_KIND).template(purpose)


def resolve_template(name: str, folder: Path) -> PromptTemplate:
    """A template by name: ``KIND:PURPOSE`` from a text kind, else `<folder>/<name>.txt`."""
    kind, colon, purpose = name.partition(":")
    if colon:
        return kind_template(kind, purpose)
    return load_template(folder, name)


_BUILT_IN = Path(__file__).parent
register_text_kind("email", _BUILT_IN / "email", "emails (Enron, the demo)")
register_text_kind("article", _BUILT_IN / "article", "articles (New Yorker)")
