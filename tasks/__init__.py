"""inspect tasks (generation, judging, metrics), dataset loaders and the intents stage.

Importing this package registers the built-in corpora (`tasks.corpora`, `tasks.demo`).
"""

from tasks import corpora, demo  # noqa: F401  (importing them registers the corpora)
from tasks.cross_user import cross_user_writing
from tasks.generation import personalized_writing
from tasks.metrics import generation_metrics
from tasks.multi_candidate import multi_candidate_comparison
from tasks.pairwise import pairwise_comparison

__all__ = [
    "cross_user_writing",
    "generation_metrics",
    "multi_candidate_comparison",
    "pairwise_comparison",
    "personalized_writing",
]
