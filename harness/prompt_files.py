"""Which prompt files and code a stage key holds, so an edit recomputes exactly what uses it.

- prefbench's own prompts: `prompts_fingerprint(*roots, purposes=...)` over the
  `prompts/*.txt` files of the packages a stage reads and the templates of prefbench's text
  kinds for the purposes it uses (intents: `tasks` and `extract_intent`; the stages that
  generate: `tasks`, `solvers` and every purpose but `judge`). A plug-in text kind's
  prompts join the stages' keys through `text_kind_prompts_key`. The judge stages hold
  their judge's own prompt files instead
  (`prefbench.scorers.registry.judge_key_inputs`), so a judge prompt recomputes only judging.
- a plug-in system's code and prompts: `system_code_key(factory)`, the identity of the
  package that defines it (`prefbench.core.code_identity`: distribution, version, a hash of
  its source and prompt files), `{}` for prefbench's own systems. A plug-in judge's code
  joins its judge stages' keys the same way.
"""

from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from prefbench.core.code_identity import code_identity
from prefbench.core.fingerprint import fingerprint
from prefbench.core.text_kinds import lookup_text_kind
from prefbench.tasks.corpora.registry import corpus_text_kind
from prefbench.tasks.records import Record

GENERATION_ROOTS = ("tasks", "solvers")
"""The packages whose prompts the generating stages read (records and intents read `tasks`)."""
TOP = Path(__file__).resolve().parent.parent
TEXT_KINDS = TOP / "core" / "text_kinds"
"""prefbench's own text kinds' prompt folders (`email/`, `article/`)."""
JUDGE_PURPOSE = "judge"
"""The text kinds' judge template, keyed by the judge stages (`judge_key_inputs`)."""


def prompts_fingerprint(*roots: str, purposes: Iterable[str] | None = None) -> str:
    """sha256 over the path and text of prefbench's prompt files a generating stage reads.

    The `prompts/*.txt` under prefbench's `roots` (without roots, `GENERATION_ROOTS`) and the
    templates of prefbench's own text kinds (`core/text_kinds/*/`) for `purposes` (None:
    every purpose but the judge's, `JUDGE_PURPOSE`, which the judge stages key themselves).
    """
    folders = roots or GENERATION_ROOTS
    files = sorted(path for root in folders for path in (TOP / root).rglob("prompts/*.txt"))
    wanted = None if purposes is None else set(purposes)
    files += sorted(
        path
        for path in TEXT_KINDS.rglob("*.txt")
        if (path.stem in wanted if wanted is not None else path.stem != JUDGE_PURPOSE)
    )
    states = tuple((path, path.stat().st_size, path.stat().st_mtime_ns) for path in files)
    return _fingerprint(states)


@cache
def _fingerprint(states: tuple[tuple[Path, int, int], ...]) -> str:
    return fingerprint(
        {str(path.relative_to(TOP)): path.read_text("utf-8") for path, _, _ in states}
    )


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


def system_code_key(factory: Callable[..., Any]) -> dict[str, Any]:
    """`{"plugin_code": identity}` of a plug-in system's package; `{}` for prefbench's own."""
    identity = code_identity(factory)
    return {"plugin_code": identity} if identity else {}
