"""inspect tasks (generation, pairwise judging), dataset loaders and the intents stage."""

from tasks.generation import personalized_writing
from tasks.pairwise import pairwise_comparison

__all__ = ["pairwise_comparison", "personalized_writing"]
