"""Judges (one module each, registered with `@judge`), their metrics, verdicts and statistics.

Importing this package imports each of its modules, so every `@judge` here registers:
prefbench's own (`prefbench.scorers.builtin_judges`) and a new judge dropped in as one new module.
Plug-ins register through entry points. The package exports what a judge's author needs;
the rest of the registry (`JudgeDefinition`, `all_judges`, `judge_key_inputs`) is in
`prefbench.scorers.registry`.
"""

import importlib
import pkgutil

from prefbench.scorers.llm_judge import llm_judge
from prefbench.scorers.registry import JudgeSettingsModel, judge, judge_names, lookup_judge
from prefbench.scorers.similarity_judge import similarity_judge

__all__ = [
    "JudgeSettingsModel",
    "judge",
    "judge_names",
    "llm_judge",
    "lookup_judge",
    "similarity_judge",
]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
