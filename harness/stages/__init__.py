"""The pipeline's stages, one module each, and what a stage is (`Stage`).

`PIPELINE` lists them in the order a run walks them (`prefbench.harness.pipeline` runs it,
`prefbench.harness.cost.dry_run` plans it).
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
    "PIPELINE",
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

PIPELINE: tuple[Stage, ...] = (
    RecordsStage(),
    BuildStage(),
    GenerationStage(),
    SimilarityStage(),
    CrossUserStage(),
    PairwiseJudgeStage(),
    MultiCandidateStage(),
    ReportStage(),
)
"""Every stage of a benchmark run, in the order it runs."""
