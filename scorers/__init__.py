"""Pairwise judges (one module each), their metrics, verdict parsing and statistics."""

from scorers.judges import JUDGES, judge_scorer
from scorers.llm_judge import llm_judge
from scorers.similarity_judge import similarity_judge

__all__ = ["JUDGES", "judge_scorer", "llm_judge", "similarity_judge"]
