"""The pipeline's stages, one module each, and what a stage is (`Stage`).

`harness.pipeline.PIPELINE` lists them in the order a run walks them.
"""

from harness.stages.base import PipelineContext, Stage
from harness.stages.build import BuildStage
from harness.stages.cross_user import CrossUserStage
from harness.stages.generation import GenerationStage, require_generation_logs, system_options
from harness.stages.multi_candidate import MultiCandidateStage
from harness.stages.pairwise_judge import PairwiseJudgeStage
from harness.stages.records import RecordsStage
from harness.stages.report import ReportStage
from harness.stages.similarity import SimilarityStage

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
