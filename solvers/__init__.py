"""Generation systems (one module each) and their build steps (`solvers.training`).

Importing this package registers prefbench's six systems.
"""

# ruff: noqa: F401
from solvers import (
    few_shot,
    large_zero_shot,
    naive_finetune,
    no_baseline_agent,
    preference_agent,
    small_zero_shot,
)
from solvers.registry import GenerationSystem, generation_system, lookup_system, system_names

__all__ = ["GenerationSystem", "generation_system", "lookup_system", "system_names"]
