"""The pipeline's stages, one module each, and what a stage is (`Stage`).

`prefbench.harness.pipeline.PIPELINE` lists them in the order a run walks them.
"""

from prefbench.harness.stages.base import PipelineContext, Stage
from prefbench.harness.stages.build import BuildStage
from prefbench.harness.stages.cross_user import CrossUserStage
from prefbench.harness.stages.generation import (
    GenerationStage,
    require_generation_logs,
    system_options,
)
from prefbench.harness.stages.multi_candidate import MultiCandidateStage
from prefbench.harness.stages.pairwise_judge import PairwiseJudgeStage
from prefbench.harness.stages.records import RecordsStage
from prefbench.harness.stages.report import ReportStage
from prefbench.harness.stages.similarity import SimilarityStage

__all__ = [
    "BuildStage",
    "CrossUserStage",
    "GenerationStage",
    "MultiCandidateStage",
    "PairwiseJudgeStage",
    "PipelineContext",
    "RecordsStage",
    "ReportStage",
    "SimilarityStage",
    "Stage",
    "require_generation_logs",
    "system_options",
]
