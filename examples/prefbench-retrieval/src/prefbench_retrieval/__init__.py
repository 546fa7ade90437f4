"""prefbench-retrieval: the `retrieval_few_shot` generation system, as a separate package.

Installing the package is all it takes: prefbench finds the system through the package's
`[project.entry-points.prefbench]` entry point (`prefbench_retrieval.retrieval_few_shot`).
"""

from prefbench_retrieval.retrieval import IntentIndex

__all__ = ["IntentIndex"]
