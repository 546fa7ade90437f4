"""Pairwise judging task: join two generation logs by sample id; the judge is the scorer.

inspect has no built-in pairwise support (docs/design.md §5), so each sample of this task carries
both systems' outputs for one record plus the ground truth; the judge scorer judges both
A/B orders and keeps its verdicts and reasoning in the log.

What a judge reads from a sample (docs/judges.md): `target.text` (the ground truth, also the
sample's input) and its metadata, a `prefbench.scorers.pair_metadata.PairSampleMetadata`
(`state.metadata_as(PairSampleMetadata)`): `candidate_a`, `candidate_b` (the two systems'
outputs), `system_a`, `system_b` (their names), `user`, `dataset` and `text_kind`.
"""

from pathlib import Path
from typing import Any, Literal

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog, read_eval_log
from inspect_ai.model import CachePolicy, GenerateConfig
from inspect_ai.solver import Generate, Solver, TaskState, solver

from prefbench.core.errors import PrefbenchInputError
from prefbench.scorers.pair_metadata import PairSampleMetadata
from prefbench.scorers.registry import lookup_judge
from prefbench.tasks.samples import sample_text_kind

OnMismatch = Literal["error", "intersect"]


def read_generation_log(path: Path) -> EvalLog:
    """A finished generation log; an input error naming the file and the fix otherwise."""
    fix = f"delete {path} and run `prefbench generate` again to recreate it"
    if not path.exists():
        raise PrefbenchInputError(f"generation log {path} does not exist: {fix}")
    try:
        log = read_eval_log(str(path))
    except Exception as error:
        raise PrefbenchInputError(
            f"generation log {path} cannot be read ({error}): {fix}"
        ) from error
    if log.status != "success" or log.samples is None:
        raise PrefbenchInputError(
            f"generation log {path} is not a finished run (status {log.status}): {fix}"
        )
    return log


def system_of(log: EvalLog) -> str:
    """The generation system that wrote a log (its eval metadata, else its solver name)."""
    metadata = log.eval.metadata or {}
    return str(metadata.get("system") or log.eval.solver or log.eval.task)


def join_generations(
    log_a: EvalLog, log_b: EvalLog, on_mismatch: OnMismatch = "error"
) -> list[Sample]:
    """One pairwise sample per record id present in both logs, in log A's order.

    Ids in only one log are an input error naming up to five of them (`on_mismatch="error"`,
    the default), or are left out (`"intersect"`). A record whose generation failed in either
    log (the sample ended with an error, within the profile's error policy) is left out: the
    report counts it per comparison (`prefbench.harness.error_policy`).
    """
    if on_mismatch not in ("error", "intersect"):
        raise ValueError(f"on_mismatch must be 'error' or 'intersect', got '{on_mismatch}'")
    system_a, system_b = system_of(log_a), system_of(log_b)
    samples_a = {str(s.id): s for s in log_a.samples or []}
    samples_b = {str(s.id): s for s in log_b.samples or []}
    only_a = sorted(samples_a.keys() - samples_b.keys())
    only_b = sorted(samples_b.keys() - samples_a.keys())
    if (only_a or only_b) and on_mismatch == "error":
        raise PrefbenchInputError(
            f"the generation logs of {system_a} ({log_a.location}) and {system_b} "
            f"({log_b.location}) cover different samples: only in {system_a}: {only_a[:5]} "
            f"({len(only_a)} in all), only in {system_b}: {only_b[:5]} ({len(only_b)} in all). "
            "Regenerate both systems on the same records, or join with on_mismatch='intersect'."
        )
    return [
        pair_sample(
            sample_id,
            sample_a,
            system_a,
            system_b,
            sample_a.output.completion,
            samples_b[sample_id].output.completion,
        )
        for sample_id, sample_a in samples_a.items()
        if sample_id in samples_b and sample_a.error is None and samples_b[sample_id].error is None
    ]


def judging_sample(sample_id: str, generated: Sample, candidates: dict[str, Any]) -> Sample:
    """The judging sample of one record, from `generated`, a generation sample of the record.

    Input and target are the record's ground truth; metadata: its `user`, `dataset` and
    `text_kind`, then `candidates` (the systems and their outputs, as the judge reads them).
    """
    target = generated.target
    ground_truth = target if isinstance(target, str) else "\n".join(target)
    metadata = generated.metadata or {}
    return Sample(
        id=sample_id,
        input=ground_truth,
        target=ground_truth,
        metadata={
            "user": metadata.get("user"),
            "dataset": metadata.get("dataset"),
            "text_kind": sample_text_kind(metadata),
            **candidates,
        },
    )


def pair_sample(
    sample_id: str,
    generated: Sample,
    system_a: str,
    system_b: str,
    candidate_a: str,
    candidate_b: str,
) -> Sample:
    """The pairwise judging sample of one record: its metadata is a `PairSampleMetadata`."""
    sample = judging_sample(
        sample_id,
        generated,
        {
            "system_a": system_a,
            "system_b": system_b,
            "candidate_a": candidate_a,
            "candidate_b": candidate_b,
        },
    )
    sample.metadata = PairSampleMetadata.model_validate(sample.metadata).model_dump()
    return sample


@solver
def candidates_in_place() -> Solver:
    """No generation: the candidates are already in the sample; the judge scorer works."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        return state

    return solve


@task
def pairwise_comparison(
    generations_a: str,
    generations_b: str,
    judge: str = "similarity",
    judge_settings: dict[str, Any] | None = None,
    tie_policy: str = "inconsistent_is_tie",
    on_mismatch: OnMismatch = "error",
) -> Task:
    """Judge system A's outputs against system B's, record by record, in both orders.

    Args:
        generations_a: generation log (.eval) of system A (the reference system).
        generations_b: generation log of system B.
        judge: a registered judge (`prefbench.scorers.registry`): `similarity` (BERTScore with the
            local MiniLM), `llm` (role `judge`) or a plug-in's.
        judge_settings: the judge's settings (e.g. `{"max_tokens": 512}` for `llm`,
            `{"encoder": None, "num_layers": 6}` for `similarity`), validated by its
            settings model; left out, its defaults.
        tie_policy: `inconsistent_is_tie` (default) or `each_order_half`.
        on_mismatch: what to do with ids in only one log: `error` or `intersect`.
    """
    scorer = lookup_judge(judge).pairwise_scorer(judge_settings, tie_policy)
    log_a = read_generation_log(Path(generations_a))
    log_b = read_generation_log(Path(generations_b))
    samples = join_generations(log_a, log_b, on_mismatch)
    name = f"{system_of(log_a)}-vs-{system_of(log_b)}"
    return Task(
        name="pairwise_comparison",
        dataset=MemoryDataset(samples, name=name),
        solver=candidates_in_place(),
        scorer=scorer,
        config=judge_call_config(judge),
    )


def judge_call_config(judge: str) -> GenerateConfig:
    """A judge task's config: every model call its scorer makes is cached in the run's cache.

    inspect passes the task's `cache` on to every role model called while it runs, so a
    judge (a plug-in's too) that calls `get_model(role=...).generate(...)` without `cache=`
    is answered from the cache when a run resumes; a call that states its own cache policy
    keeps it. The scope is the judge's name.
    """
    return GenerateConfig(cache=CachePolicy(expiry=None, scopes={"judge": judge}))
