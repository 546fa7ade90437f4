"""The multi-candidate judge stage: all systems' outputs shown to the judge at once.

Runs when `judge.multi_candidate` is set: one `multi_candidate_comparison` eval
(`logs/multi/`) over every system's generation log, in every cyclic rotation; its votes form
the report.json `multi_candidate` section. What depends on the judge is in
`multi_candidate_judge_eval`.
"""

from typing import Any

from prefbench.harness.profile import Profile
from prefbench.harness.prompt_files import prompts_fingerprint
from prefbench.harness.stage_runner import StageResult
from prefbench.harness.stages.base import PipelineContext, Stage
from prefbench.harness.stages.generation import require_generation_logs
from prefbench.harness.stages.pairwise_judge import JudgeEval
from prefbench.scorers.registry import judge_key_inputs, lookup_judge
from prefbench.tasks.multi_candidate import multi_candidate_comparison, read_multi_candidate


def multi_candidate_judge_eval(profile: Profile, logs: list[StageResult]) -> JudgeEval:
    """The profile judge's comparison of all generation logs at once."""
    kind = profile.judge.kind
    settings = profile.judge.typed_settings(profile.metrics)
    task = multi_candidate_comparison(
        generation_logs=[str(result.log_path) for result in logs],
        judge=kind,
        judge_settings=settings.model_dump(mode="json"),
    )
    key = judge_key_inputs(kind, settings)
    return JudgeEval(task, lookup_judge(kind).roles, key, {"judge": kind})


class MultiCandidateStage(Stage):
    """Judge every system's output together; sets `context.multi_candidate_log`."""

    name = "multi_candidate"
    title = "multi-candidate judging"
    section = "multi_candidate"

    def key(self, logs: list[StageResult], judge: JudgeEval) -> dict[str, Any]:
        """The inputs of the eval: every generation log's key, in profile order, and the judge."""
        return {
            "generations": [result.stage_key() for result in logs],
            "prompts": prompts_fingerprint(),
            **judge.key,
        }

    def calls_models(self, context: PipelineContext) -> bool:
        """Whether it runs at all, with a judge that calls a model."""
        judge = context.profile.judge
        return judge.multi_candidate and bool(lookup_judge(judge.kind).roles)

    def run(self, context: PipelineContext) -> None:
        """Run (or reuse) the eval when the profile asks for it; store the votes section."""
        profile = context.profile
        if not profile.judge.multi_candidate:
            return
        self.heading(context)
        require_generation_logs(context)
        logs = [context.generation_logs[name] for name in profile.systems]
        judge = multi_candidate_judge_eval(profile, logs)
        context.multi_candidate_log = context.runner.run_stage(
            "multi",
            "judge-multi-candidate",
            judge.task,
            judge.roles,
            self.key(logs, judge),
            metadata={"systems": list(profile.systems), **judge.metadata},
        )
        section = read_multi_candidate(context.multi_candidate_log.read())
        self.keep_section(context, section)
