"""Fingerprint of every prompt template, so editing a prompt invalidates the stages using it."""

from functools import cache
from pathlib import Path

from core.fingerprint import fingerprint

PACKAGE_ROOTS = ("tasks", "solvers", "scorers")


@cache
def prompts_fingerprint() -> str:
    """sha256 over the path and text of every `prompts/*.txt` in prefbench's packages."""
    top = Path(__file__).resolve().parent.parent
    files = sorted(path for root in PACKAGE_ROOTS for path in (top / root).rglob("prompts/*.txt"))
    return fingerprint({str(path.relative_to(top)): path.read_text("utf-8") for path in files})
