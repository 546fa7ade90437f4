"""inspect entry point: importing this module registers prefbench with inspect.

It imports the tasks, solvers, scorers and model providers, whose decorators register them
(pyproject `[project.entry-points.inspect_ai]`).
"""

# ruff: noqa: F401
import scorers
import solvers
import tasks
from harness import mock_model, planning_model
