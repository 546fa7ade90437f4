"""The multi-candidate judge stage: all systems' outputs shown to the judge at once.

Runs for each judge of the profile with `multi_candidate` set: one `multi_candidate_comparison`
eval (`logs/multi/`) over every system's generation log, in every cyclic rotation; its votes
form that judge's entry of the report.json `multi_candidate` section (keyed by judge). The
primary judge's stage is `judge-multi-candidate` as before; another judge's carries its name.
What depends on the judge is in `multi_candidate_judge_eval`. All samples and rotations are
in flight together, bounded by the judge role's connections and `tokens_per_minute` (as in
the pairwise stage).
"""

from typing import TYPE_CHECKING, Any

from prefbench.harness.judging import ResolvedJudge, resolve_judges
from prefbench.harness.profile import Profile
from prefbench.harness.stage_runner import StageRequest, StageResult
from prefbench.harness.stages.base import PipelineContext, Stage
from prefbench.harness.stages.generation import require_generation_logs
from prefbench.harness.stages.pairwise_judge import JudgeEval, size_batches
from prefbench.tasks.multi_candidate import multi_candidate_comparison, read_multi_candidate
from prefbench.tasks.pairwise import judging_sample

if TYPE_CHECKING:
    from inspect_ai.dataset import Sample

    from prefbench.harness.cost.plan import Planner


STAGE = "judge-multi-candidate"


def multi_candidate_judge_eval(judge: ResolvedJudge, logs: list[StageResult]) -> JudgeEval:
    """A judge's comparison of all generation logs at once."""
    task = multi_candidate_comparison(
        generation_logs=[str(result.log_path) for result in logs],
        judge=judge.name,
        judge_settings=judge.settings_json(),
    )
    return JudgeEval(task, judge.roles(), judge.key("multi_candidate"), {"judge": judge.name})


def multi_candidate_judges(profile: Profile) -> list[ResolvedJudge]:
    """The profile's judges that judge all systems at once."""
    return [judge for judge in resolve_judges(profile) if judge.multi_candidate]


class MultiCandidateStage(Stage):
    """Judge every system's output together, per judge; fills `context.multi_candidate_logs`."""

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
        return any(judge.roles() for judge in multi_candidate_judges(context.profile))

    def run(self, context: PipelineContext) -> None:
        """Run (or reuse) each multi-candidate judge's eval; store the votes by judge."""
        profile = context.profile
        judges = multi_candidate_judges(profile)
        if not judges:
            return
        self.heading(context)
        require_generation_logs(context)
        logs = [context.generation_logs[name] for name in profile.systems]
        requests = []
        for judge in judges:
            evaluation = multi_candidate_judge_eval(judge, logs)
            requests.append(
                StageRequest(
                    "multi",
                    judge.stage_name(STAGE),
                    evaluation.task,
                    evaluation.roles,
                    self.key(logs, evaluation),
                    metadata={"systems": list(profile.systems), **evaluation.metadata},
                    max_samples=len(evaluation.task.dataset) or None,
                )
            )
        results = context.runner.run_stages(
            requests, before_eval=lambda pending: size_batches(context, pending, len(logs))
        )
        context.multi_candidate_logs.update(
            (judge.name, result) for judge, result in zip(judges, results, strict=True)
        )
        self.keep_section(
            context,
            {
                judge.name: read_multi_candidate(result.read())
                for judge, result in zip(judges, results, strict=True)
            },
        )

    def plan(self, context: PipelineContext, planner: "Planner") -> None:
        """Plan the multi-candidate eval unless the run folder has it finished.

        With every generation finished it is keyed as `run` keys it; otherwise it is judged
        on the planned answers. A judge that calls no model gets a local row.
        """
        for judge in multi_candidate_judges(context.profile):
            self._plan_judge(context, planner, judge)

    def _plan_judge(
        self, context: PipelineContext, planner: "Planner", judge: ResolvedJudge
    ) -> None:
        """Plan one judge's multi-candidate eval (see `plan`)."""
        profile = context.profile
        stage = judge.stage_name(STAGE)
        logs = [context.generation_logs.get(name) for name in profile.systems]
        samples: list[Sample] | None = None
        if all(log is not None for log in logs):
            finished_logs = [log for log in logs if log is not None]
            evaluation = multi_candidate_judge_eval(judge, finished_logs)
            finished = planner.finished(
                "multi", stage, evaluation.roles, self.key(finished_logs, evaluation)
            )
            if finished is not None and not finished.failed:
                return
            samples = list(evaluation.task.dataset)
        if not judge.roles():
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
        scorer = judge.definition.multi_candidate_scorer(judge.settings_json())
        planner.evaluate(self.name, "multi", stage, samples, judge.roles(), scorer=scorer)
