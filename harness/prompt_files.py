"""Fingerprint of every prompt template, so editing a prompt invalidates the stages using it."""

import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from prefbench.core.fingerprint import fingerprint
from prefbench.core.text_kinds import lookup_text_kind
from prefbench.tasks.corpora.registry import corpus_text_kind
from prefbench.tasks.records import Record

PACKAGE_ROOTS = ("tasks", "solvers", "scorers")
TOP = Path(__file__).resolve().parent.parent
TEXT_KINDS = TOP / "core" / "text_kinds"
"""prefbench's own text kinds' prompt folders (`email/`, `article/`)."""


@cache
def prompts_fingerprint() -> str:
    """sha256 over the path and text of every prompt file in prefbench's packages.

    That is every `prompts/*.txt` and the prompt folders of prefbench's own text kinds.
    """
    files = sorted(path for root in PACKAGE_ROOTS for path in (TOP / root).rglob("prompts/*.txt"))
    files += sorted(TEXT_KINDS.rglob("*.txt"))
    return fingerprint({str(path.relative_to(TOP)): path.read_text("utf-8") for path in files})


def text_kind_prompts_key(records: Iterable[Record]) -> dict[str, str]:
    """`{"text_kind_prompts": sha256}` of the plug-in text kinds the records are written in.

    A corpus from another package may bring its own text kind (a folder of prompts): its
    prompts join the keys of the stages that read them, so editing one recomputes them.
    `{}` when every record's kind is one of prefbench's own (in `prompts_fingerprint()`),
    so their stage keys stay as they were.
    """
    kinds = {lookup_text_kind(corpus_text_kind(record.dataset)) for record in records}
    plugin_kinds = sorted(
        (kind for kind in kinds if not kind.folder.is_relative_to(TEXT_KINDS.resolve())),
        key=lambda kind: kind.name,
    )
    if not plugin_kinds:
        return {}
    return {"text_kind_prompts": fingerprint({k.name: k.prompt_files() for k in plugin_kinds})}


def plugin_prompts_key(factory: Callable[..., Any]) -> dict[str, str]:
    """`{"plugin_prompts": sha256}` of a plug-in's `prompts/*.txt`, `{}` for prefbench's own.

    A system or judge from another package keeps its prompt files in that package; they
    join the stage key, so editing one recomputes the stages that use it. prefbench's own
    prompts are in `prompts_fingerprint()`, and its stage keys stay as they were.
    """
    module_name = getattr(factory, "__module__", "") or ""
    source = getattr(sys.modules.get(module_name), "__file__", None)
    if source is None or module_name.split(".")[0] == "prefbench":
        return {}
    package = Path(source).resolve().parent
    files = sorted(package.rglob("prompts/*.txt"))
    texts = {str(path.relative_to(package)): path.read_text("utf-8") for path in files}
    return {"plugin_prompts": fingerprint(texts)}
