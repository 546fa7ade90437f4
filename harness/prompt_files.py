"""Which prompt files and code a stage key holds, so an edit recomputes exactly what uses it.

- prefbench's own prompts: `prompts_fingerprint(*roots)` over the `prompts/*.txt` files of
  the packages a stage reads (`tasks` for intents; `tasks` and `solvers` for the stages that
  generate). The judge stages hold their judge's own prompt files instead
  (`prefbench.scorers.registry.judge_key_inputs`), so a judge prompt recomputes only judging.
- a plug-in system's code and prompts: `system_code_key(factory)`, the identity of the
  package that defines it (`prefbench.core.code_identity`: distribution, version, a hash of
  its source and prompt files), `{}` for prefbench's own systems. A plug-in judge's code
  joins its judge stages' keys the same way.
"""

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from prefbench.core.code_identity import code_identity
from prefbench.core.fingerprint import fingerprint

GENERATION_ROOTS = ("tasks", "solvers")
"""The packages whose prompts the generating stages read (records and intents read `tasks`)."""
TOP = Path(__file__).resolve().parent.parent


def prompts_fingerprint(*roots: str) -> str:
    """sha256 over the path and text of every `prompts/*.txt` under prefbench's `roots`.

    Without roots, the generating stages' packages (`GENERATION_ROOTS`).
    """
    folders = roots or GENERATION_ROOTS
    files = sorted(path for root in folders for path in (TOP / root).rglob("prompts/*.txt"))
    states = tuple((path, path.stat().st_size, path.stat().st_mtime_ns) for path in files)
    return _fingerprint(states)


@cache
def _fingerprint(states: tuple[tuple[Path, int, int], ...]) -> str:
    return fingerprint(
        {str(path.relative_to(TOP)): path.read_text("utf-8") for path, _, _ in states}
    )


def system_code_key(factory: Callable[..., Any]) -> dict[str, Any]:
    """`{"plugin_code": identity}` of a plug-in system's package; `{}` for prefbench's own."""
    identity = code_identity(factory)
    return {"plugin_code": identity} if identity else {}
