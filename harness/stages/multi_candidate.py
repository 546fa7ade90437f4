"""The multi-candidate judge stage: all systems' outputs shown to the judge at once.

Runs when `judge.multi_candidate` is set: one `multi_candidate_comparison` eval
(`logs/multi/`) over every system's generation log, in every cyclic rotation; its votes form
the report.json `multi_candidate` section. What depends on the judge is in
`multi_candidate_judge_eval`. All samples and rotations are in flight together, bounded by
the judge role's connections and `tokens_per_minute` (as in the pairwise stage).
"""

from typing import TYPE_CHECKING, Any

from prefbench.harness.profile import Profile
from prefbench.harness.stage_runner import StageRequest, StageResult
from prefbench.harness.stages.base import PipelineContext, Stage
from prefbench.harness.stages.generation import require_generation_logs
from prefbench.harness.stages.pairwise_judge import JudgeEval, size_batches
from prefbench.scorers.registry import judge_key_inputs, lookup_judge
from prefbench.tasks.multi_candidate import multi_candidate_comparison, read_multi_candidate
from prefbench.tasks.pairwise import judging_sample

if TYPE_CHECKING:
    from inspect_ai.dataset import Sample

    from prefbench.harness.cost.plan import Planner


def multi_candidate_judge_eval(profile: Profile, logs: list[StageResult]) -> JudgeEval:
    """The profile judge's comparison of all generation logs at once."""
    definition = lookup_judge(profile.judge.kind)
    settings = profile.judge.typed_settings(profile.metrics)
    task = multi_candidate_comparison(
        generation_logs=[str(result.log_path) for result in logs],
        judge=definition.name,
        judge_settings=settings.model_dump(mode="json"),
    )
    key = judge_key_inputs(definition.name, settings, "multi_candidate")
    roles = definition.roles_for(settings)
    return JudgeEval(task, roles, key, {"judge": definition.name})


class MultiCandidateStage(Stage):
    """Judge every system's output together; sets `context.multi_candidate_log`."""

    name = "multi_candidate"
    title = "multi-candidate judging"
    section = "multi_candidate"

    def key(self, logs: list[StageResult], judge: JudgeEval) -> dict[str, Any]:
        """The inputs of the eval: every generation log's key, in profile order, and the judge.

        The judge's entries hold its settings, the content of its multi-candidate prompt
        files and, for a plug-in judge, its package's code identity (`judge_key_inputs`).
        """
        return {"generations": [result.stage_key() for result in logs], **judge.key}

    def calls_models(self, context: PipelineContext) -> bool:
        """Whether it runs at all, with a judge that calls a model."""
        judge = context.profile.judge
        settings = judge.typed_settings(context.profile.metrics)
        return judge.multi_candidate and bool(lookup_judge(judge.kind).roles_for(settings))

    def run(self, context: PipelineContext) -> None:
        """Run (or reuse) the eval when the profile asks for it; store the votes section."""
        profile = context.profile
        if not profile.judge.multi_candidate:
            return
        self.heading(context)
        require_generation_logs(context)
        logs = [context.generation_logs[name] for name in profile.systems]
        judge = multi_candidate_judge_eval(profile, logs)
        request = StageRequest(
            "multi",
            "judge-multi-candidate",
            judge.task,
            judge.roles,
            self.key(logs, judge),
            metadata={"systems": list(profile.systems), **judge.metadata},
            max_samples=len(judge.task.dataset) or None,
        )
        (context.multi_candidate_log,) = context.runner.run_stages(
            [request], before_eval=lambda pending: size_batches(context, pending, len(logs))
        )
        section = read_multi_candidate(context.multi_candidate_log.read())
        self.keep_section(context, section)

    def plan(self, context: PipelineContext, planner: "Planner") -> None:
        """Plan the multi-candidate eval unless the run folder has it finished.

        With every generation finished it is keyed as `run` keys it; otherwise it is judged
        on the planned answers. A judge that calls no model gets a local row.
        """
        profile = context.profile
        if not profile.judge.multi_candidate:
            return
        stage = "judge-multi-candidate"
        logs = [context.generation_logs.get(name) for name in profile.systems]
        samples: list[Sample] | None = None
        if all(log is not None for log in logs):
            finished_logs = [log for log in logs if log is not None]
            judge = multi_candidate_judge_eval(profile, finished_logs)
            finished = planner.finished("multi", stage, judge.roles, self.key(finished_logs, judge))
            if finished is not None and not finished.failed:
                return
            samples = list(judge.task.dataset)
        if not self.calls_models(context):
            planner.local(self.name, "multi", stage)
            return
        if samples is None:
            texts = [
                planner.completions(name, log)
                for name, log in zip(profile.systems, logs, strict=True)
            ]

            samples = [
                judging_sample(
                    sample_id,
                    generated,
                    {
                        "systems": list(profile.systems),
                        "candidates": [text[sample_id] for text in texts],
                    },
                )
                for sample_id, generated in planner.test_samples(
                    context.run.records, context.limit
                ).items()
                if all(sample_id in text for text in texts)
            ]
        definition = lookup_judge(profile.judge.kind)
        settings = profile.judge.typed_settings(profile.metrics)
        scorer = definition.multi_candidate_scorer(settings.model_dump(mode="json"))
        planner.evaluate(
            self.name, "multi", stage, samples, definition.roles_for(settings), scorer=scorer
        )
