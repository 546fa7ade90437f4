"""Judges (one module each, registered with `@judge`), their metrics, verdicts and statistics.

Importing this package registers prefbench's judges (`scorers.builtin_judges`).
"""

from scorers import builtin_judges  # noqa: F401  (registers prefbench's judges)
from scorers.llm_judge import llm_judge
from scorers.registry import (
    JudgeDefinition,
    JudgeSettingsModel,
    all_judges,
    judge,
    judge_key_inputs,
    judge_names,
    lookup_judge,
)
from scorers.similarity_judge import similarity_judge

__all__ = [
    "JudgeDefinition",
    "JudgeSettingsModel",
    "all_judges",
    "judge",
    "judge_key_inputs",
    "judge_names",
    "llm_judge",
    "lookup_judge",
    "similarity_judge",
]
