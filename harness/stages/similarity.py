"""The similarity metrics stage: every system's outputs against the ground truth.

One `generation_metrics` eval per generation log (`logs/metrics/`): BERTScore (MiniLM or
`metrics.encoder`) and, when `metrics.text_metrics`, BLEU, ROUGE-L and TF-IDF cosine. The
rows (`prefbench.tasks.metrics.similarity_rows`) are printed and form the report.json `similarity`
section.
"""

from typing import TYPE_CHECKING, Any

from prefbench.core.tables import rich_tables
from prefbench.harness.report.schema import SimilaritySection
from prefbench.harness.report.tables import similarity_section
from prefbench.harness.stage_runner import StageResult
from prefbench.harness.stages.base import PipelineContext, Stage
from prefbench.harness.stages.generation import require_generation_logs
from prefbench.scorers.bertscore import encoder_identity, encoder_name
from prefbench.tasks.metrics import METRICS_VERSION, generation_metrics, similarity_rows

if TYPE_CHECKING:
    from prefbench.harness.cost.plan import Planner


def metrics_key(
    context: PipelineContext, generations: StageResult, text_metrics: bool
) -> dict[str, Any]:
    """The inputs of a metrics eval over a finished generation (or cross-user) log."""
    settings = context.profile.metrics
    return {
        "generations": generations.stage_key(),
        "encoder": encoder_identity(settings.encoder),
        "num_layers": settings.num_layers,
        "text_metrics": text_metrics,
        "metrics_version": METRICS_VERSION,
    }


def score_generations(
    context: PipelineContext, stage: str, generations: StageResult, text_metrics: bool
) -> StageResult:
    """Run (or reuse) a `generation_metrics` eval over a finished generation log."""
    settings = context.profile.metrics
    task = generation_metrics(
        generations=str(generations.log_path),
        encoder=settings.encoder,
        num_layers=settings.num_layers,
        text_metrics=text_metrics,
    )
    system = (generations.read_header().eval.metadata or {}).get("system")
    key = metrics_key(context, generations, text_metrics)
    return context.runner.run_stage("metrics", stage, task, (), key, metadata={"system": system})


class SimilarityStage(Stage):
    """Score every profile system's generation log; the report.json `similarity` section.

    The section is `{"encoder": name, "num_layers": n, "rows": [...]}`, systems in profile
    order. An input error names the systems without a generation log.
    """

    name = "similarity"
    title = "similarity metrics"
    section = "similarity"

    def calls_models(self, context: PipelineContext) -> bool:
        """Never: BERTScore and the lexical metrics run locally."""
        return False

    def run(self, context: PipelineContext) -> None:
        """Run (or reuse) each system's metrics eval and store the section."""
        self.heading(context)
        profile = context.profile
        require_generation_logs(context)
        rows = []
        for name in profile.systems:
            scored = score_generations(
                context,
                f"metrics-{name}",
                context.generation_logs[name],
                profile.metrics.text_metrics,
            )
            rows += similarity_rows(scored.read())
        section = {
            "encoder": encoder_name(profile.metrics.encoder),
            "num_layers": profile.metrics.num_layers,
            "rows": rows,
        }
        context.console.print(
            rich_tables(similarity_section(SimilaritySection.model_validate(section)).tables)
        )
        self.keep_section(context, section)

    def plan(self, context: PipelineContext, planner: "Planner") -> None:
        """A local row per system whose metrics eval is not finished in the run folder."""
        for name in context.profile.systems:
            generations = context.generation_logs.get(name)
            if generations is not None:
                key = metrics_key(context, generations, context.profile.metrics.text_metrics)
                finished = planner.finished("metrics", f"metrics-{name}", (), key)
                if finished is not None and not finished.failed:
                    continue
            planner.local(self.name, "metrics", f"metrics-{name}")
