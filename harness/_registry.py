"""inspect entry point: importing this module registers prefbench with inspect.

It imports the tasks, solvers, scorers and model providers, whose decorators register them
(pyproject `[project.entry-points.inspect_ai]`).
"""

# ruff: noqa: F401
import prefbench.scorers
import prefbench.solvers
import prefbench.tasks
from prefbench.harness import mock_model
from prefbench.harness.cost import planning_model
