"""The pairwise judge stage: the reference system against every other system, plus controls.

One `pairwise_comparison` eval per pair and judge of the profile (`logs/judge/`), both
orders of each test sample. Each judge is resolved once (`prefbench.harness.judging`); the
primary judge's evals keep the names a single-judge run had (`judge-A-vs-B`), every other
judge's carry its name (`judge-A-vs-B@NAME`), so adding a judge never touches the stages of
the judges already there.
What depends on the judge (its roles, task and key entries) is in `pairwise_judge_eval`.
Every pair that has not finished runs in one inspect eval, all samples and both orders in
flight together, bounded by the judge role's connections (`max_connections`) and its
`tokens_per_minute`; with `judge.batch`, the stage's first calls go in as few provider
batches as the provider allows (`size_batches`).
When the profile's systems include a control pair (a system declared `control=`, e.g.
positive_control vs large_zero_shot, preference_agent vs negative_control) that the
reference does not already play, that pair is judged too, as the eval
`judge-control-BETTER-vs-WORSE` with `control_pair: true` in its metadata. Without
controls the stage runs, and keys, exactly the reference's pairs.

A record whose generation failed (within the profile's error policy) is skipped by the judge;
the ids of such records are part of the generation log's key (`StageResult.stage_key`), so a
generation retried by a later run is judged then. The stage owns the report's
`failed_samples` section (`prefbench.harness.stages.failed_samples`).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inspect_ai import Task
from inspect_ai.model import BatchConfig, GenerateConfig

from prefbench.harness.judging import ResolvedJudge, resolve_judges
from prefbench.harness.profile import Profile
from prefbench.harness.stage_runner import StageRequest, StageResult
from prefbench.harness.stages.base import PipelineContext, Stage
from prefbench.harness.stages.failed_samples import failed_samples_section
from prefbench.harness.stages.generation import require_generation_logs
from prefbench.scorers.stats.controls import control_pairs
from prefbench.solvers.registry import control_checks_of
from prefbench.tasks.pairwise import pair_sample, pairwise_comparison

if TYPE_CHECKING:
    from inspect_ai.dataset import Sample

    from prefbench.harness.cost.plan import Planner


@dataclass(frozen=True)
class JudgeEval:
    """A judge eval as the profile's judge runs it.

    Attributes:
        task: the inspect task.
        roles: the model roles it uses (none for a judge that needs no model).
        key: the judge's entries of the stage key.
        metadata: the judge's entries of the log metadata.
    """

    task: Task
    roles: tuple[str, ...]
    key: dict[str, Any]
    metadata: dict[str, Any]


def pairwise_judge_eval(judge: ResolvedJudge, log_a: StageResult, log_b: StageResult) -> JudgeEval:
    """A judge's comparison of two generation logs."""
    task = pairwise_comparison(
        generations_a=str(log_a.log_path),
        generations_b=str(log_b.log_path),
        judge=judge.name,
        judge_settings=judge.settings_json(),
        tie_policy=judge.tie_policy,
    )
    return JudgeEval(task, judge.roles(), judge.key("pairwise"), {"judge": judge.name})


def pair_stage(judge: ResolvedJudge, system_a: str, system_b: str, control: bool) -> str:
    """The stage name of one pair's eval under a judge (`judge-A-vs-B`, `...@NAME`)."""
    prefix = "judge-control" if control else "judge"
    return judge.stage_name(f"{prefix}-{system_a}-vs-{system_b}")


def pair_log_name(judge: ResolvedJudge, system_a: str, system_b: str, control: bool) -> str:
    """The `context.judge_logs` key of one pair under a judge (`PipelineContext`)."""
    name = f"{system_a}-vs-{system_b}" if control else system_b
    return name if judge.primary else f"{name}@{judge.name}"


def judged_pairs(profile: Profile) -> list[tuple[str, str, bool]]:
    """(system A, system B, is a control pair) of every eval the stage runs, in order.

    The reference against each other system first, then the control pairs it does not play.
    """
    reference = profile.reference_system
    pairs = [(reference, other, False) for other in profile.systems if other != reference]
    checks = control_checks_of(profile.systems)
    controls = control_pairs(profile.systems, reference, checks)
    return pairs + [(better, worse, True) for better, worse in controls]


ORDERS_PER_SAMPLE = 2
"""First calls per pairwise sample: orders AB and BA."""


def size_batches(context: PipelineContext, pending: list[StageRequest], per_sample: int) -> None:
    """Let a batching judge send the stage's first calls in as few provider batches as it can.

    With `judge.batch` true (or a batch config without `size`), the judge role's batch size
    becomes the number of first calls the pending evals make (samples × calls per sample);
    inspect sends a batch once it holds that many or `send_delay` passed, and caps each at the
    provider's most (50,000 requests for OpenAI, 100,000 for Anthropic). Retries go in the
    next batch. A size the profile states is kept.
    """
    batch = context.profile.judge.batch_setting()
    if not batch or isinstance(batch, int) and not isinstance(batch, bool):
        return
    config = dict(batch) if isinstance(batch, dict) else {}
    if config.get("size"):
        return
    calls = sum(len(request.task.dataset) for request in pending) * per_sample
    roles = {role for request in pending for role in request.roles}
    for model in context.runner.models.role_models(tuple(sorted(roles))).values():
        if model.config.batch:
            model.config = model.config.merge(
                GenerateConfig(batch=BatchConfig(**{**config, "size": calls}))
            )


class PairwiseJudgeStage(Stage):
    """Judge the reference against every other system, and the control pairs, per judge.

    Fills `context.judge_logs`: keyed by the other system for a reference pair, by
    `"A-vs-B"` for a control pair, each followed by `@NAME` for a judge other than the
    primary (`pair_log_name`).
    """

    name = "pairwise_judge"
    title = "pairwise judging"
    section = "failed_samples"

    def key(self, log_a: StageResult, log_b: StageResult, judge: JudgeEval) -> dict[str, Any]:
        """The inputs of one pair's judge eval: both generation logs' keys and the judge.

        The judge's entries hold its settings, the content of the prompt files it sends and,
        for a plug-in judge, its package's code identity (`judge_key_inputs`).
        """
        return {"a": log_a.stage_key(), "b": log_b.stage_key(), **judge.key}

    def request(
        self,
        context: PipelineContext,
        system_a: str,
        system_b: str,
        control: bool = False,
        judge: ResolvedJudge | None = None,
    ) -> StageRequest:
        """The eval of one pair of the context's generation logs under `judge`, keyed as `run` does.

        `judge`: one of `resolve_judges(profile)`, the primary (first) when None. Its stage is
        `judge-A-vs-B` (`judge-control-A-vs-B` for a control pair, `...@NAME` for a judge
        other than the primary); a leaderboard judging a submission against a release asks
        for its pairs the same way.
        """
        judge = judge or resolve_judges(context.profile)[0]
        log_a = context.generation_logs[system_a]
        log_b = context.generation_logs[system_b]
        evaluation = pairwise_judge_eval(judge, log_a, log_b)
        return StageRequest(
            "judge",
            pair_stage(judge, system_a, system_b, control),
            evaluation.task,
            evaluation.roles,
            self.key(log_a, log_b, evaluation),
            metadata={
                "system_a": system_a,
                "system_b": system_b,
                **({"control_pair": True} if control else {}),
                **evaluation.metadata,
            },
            max_samples=len(evaluation.task.dataset) or None,
        )

    def report_section(self, context: PipelineContext) -> dict[str, Any] | None:
        """The samples that failed in any stage of this run, and the counts per comparison."""
        return failed_samples_section(context)

    def calls_models(self, context: PipelineContext) -> bool:
        """Whether a judge of the profile calls a model (an LLM judge; not the similarity one)."""
        return any(judge.roles() for judge in resolve_judges(context.profile))

    def run(self, context: PipelineContext) -> None:
        """Run (or reuse) one eval per pair of `judged_pairs` and judge, pending ones at once."""
        self.heading(context)
        profile = context.profile
        require_generation_logs(context)
        names, requests = [], []
        for judge in resolve_judges(profile):
            for system_a, system_b, control in judged_pairs(profile):
                names.append(pair_log_name(judge, system_a, system_b, control))
                requests.append(self.request(context, system_a, system_b, control, judge))
        results = context.runner.run_stages(
            requests, before_eval=lambda pending: size_batches(context, pending, ORDERS_PER_SAMPLE)
        )
        context.judge_logs.update(zip(names, results, strict=True))

    def plan(self, context: PipelineContext, planner: "Planner") -> None:
        """Plan each pair's judge eval unless the run folder has it finished.

        A pair of finished generations is keyed as `run` keys it; a pair with a planned side
        is judged on the planned answers. The judge's own scorer runs (a judge that calls no
        model gets a local row instead).
        """
        for judge in resolve_judges(context.profile):
            for system_a, system_b, control in judged_pairs(context.profile):
                self._plan_pair(context, planner, judge, system_a, system_b, control)

    def _plan_pair(
        self,
        context: PipelineContext,
        planner: "Planner",
        judge: ResolvedJudge,
        system_a: str,
        system_b: str,
        control: bool,
    ) -> None:
        """Plan one pair's eval under one judge (see `plan`)."""
        stage = pair_stage(judge, system_a, system_b, control)
        log_a = context.generation_logs.get(system_a)
        log_b = context.generation_logs.get(system_b)
        samples: list[Sample] | None = None
        if log_a is not None and log_b is not None:
            evaluation = pairwise_judge_eval(judge, log_a, log_b)
            finished = planner.finished(
                "judge", stage, evaluation.roles, self.key(log_a, log_b, evaluation)
            )
            if finished is not None and not finished.failed:
                name = pair_log_name(judge, system_a, system_b, control)
                context.judge_logs[name] = finished.result
                return
            samples = list(evaluation.task.dataset)
        if not judge.roles():
            planner.local(self.name, "judge", stage)
            return
        if samples is None:
            samples = planned_pairs(context, planner, system_a, system_b)
        scorer = judge.definition.pairwise_scorer(judge.settings_json(), judge.tie_policy)
        planner.evaluate(self.name, "judge", stage, samples, judge.roles(), scorer=scorer)


def planned_pairs(
    context: PipelineContext, planner: "Planner", system_a: str, system_b: str
) -> "list[Sample]":
    """The judging samples of two systems, from their finished or planned generations."""
    text_a = planner.completions(system_a, context.generation_logs.get(system_a))
    text_b = planner.completions(system_b, context.generation_logs.get(system_b))
    return [
        pair_sample(sample_id, generated, system_a, system_b, text_a[sample_id], text_b[sample_id])
        for sample_id, generated in planner.test_samples(context.run.records, context.limit).items()
        if sample_id in text_a and sample_id in text_b
    ]
