"""Fingerprint of every prompt template, so editing a prompt invalidates the stages using it."""

import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from prefbench.core.fingerprint import fingerprint

PACKAGE_ROOTS = ("tasks", "solvers", "scorers")
TOP = Path(__file__).resolve().parent.parent


@cache
def prompts_fingerprint() -> str:
    """sha256 over the path and text of every `prompts/*.txt` in prefbench's packages."""
    files = sorted(path for root in PACKAGE_ROOTS for path in (TOP / root).rglob("prompts/*.txt"))
    return fingerprint({str(path.relative_to(TOP)): path.read_text("utf-8") for path in files})


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
