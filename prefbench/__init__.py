"""prefbench: a benchmark harness for personalized text generation, built on inspect-ai.

The project's folders install under this one namespace: `prefbench.core` (the ground layer),
`prefbench.scorers`, `prefbench.tasks`, `prefbench.solvers`, `prefbench.human_eval` and
`prefbench.harness` (orchestration and the command line), in that order from the bottom
(docs/architecture.md). Nothing installs a generic top-level name.
"""
