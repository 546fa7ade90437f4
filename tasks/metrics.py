"""Similarity metrics of a finished generation log: BERTScore, and BLEU, ROUGE-L, TF-IDF cosine.

The task reuses the generations: each sample carries its log's output, a no-op solver puts
it in place, and the scorers compare it with the ground truth. No model is called.
`similarity_rows` summarizes a scored log per (system, dataset) for report.json.
"""

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog
from inspect_ai.model import ModelOutput
from inspect_ai.scorer import Scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver

from prefbench.scorers.bertscore import bertscore
from prefbench.scorers.stats import clustered_mean_interval
from prefbench.scorers.text_metrics import TEXT_METRICS, text_similarity
from prefbench.tasks.pairwise import read_generation_log, system_of

__all__ = [
    "BERTSCORE",
    "GENERATION",
    "METRICS_VERSION",
    "TEXT_SIMILARITY",
    "generation_in_place",
    "generation_metrics",
    "scored_samples",
    "similarity_rows",
]

METRICS_VERSION = 1
"""Bump when a metric's definition changes, so cached metrics stages are recomputed."""

GENERATION = "generation"
BERTSCORE = "bertscore"
TEXT_SIMILARITY = "text_similarity"


def scored_samples(log: EvalLog) -> list[Sample]:
    """One sample per generation of `log`: same id, input and target, the output in metadata.

    A generation that failed (the sample ended with an error) has no output and is left out.
    """
    system = system_of(log)
    samples = []
    for generated in log.samples or []:
        if generated.error is not None:
            continue
        target = (
            generated.target if isinstance(generated.target, str) else "\n".join(generated.target)
        )
        samples.append(
            Sample(
                id=generated.id,
                input=generated.input,
                target=target,
                metadata={
                    **(generated.metadata or {}),
                    "system": system,
                    GENERATION: generated.output.completion,
                },
            )
        )
    return samples


@solver
def generation_in_place() -> Solver:
    """No model call: the sample's logged generation becomes its output."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.output = ModelOutput.from_content(
            model=str(state.metadata["system"]), content=state.metadata[GENERATION]
        )
        return state

    return solve


@task
def generation_metrics(
    generations: str, encoder: str | None = None, num_layers: int = 6, text_metrics: bool = True
) -> Task:
    """Score every generation of a finished generation log against its ground truth.

    Args:
        generations: a generation log (.eval) of `personalized_writing` or
            `cross_user_writing`; an input error names it when it is missing or unfinished.
        encoder: a local Hugging Face encoder folder for BERTScore; None for the MiniLM.
        num_layers: the encoder layer BERTScore uses (6 for MiniLM).
        text_metrics: also score BLEU, ROUGE-L and TF-IDF cosine.
    """
    log = read_generation_log(Path(generations))
    scorers: list[Scorer] = [bertscore(model_dir=encoder, num_layers=num_layers)]
    if text_metrics:
        scorers.append(text_similarity())
    return Task(
        name="generation_metrics",
        dataset=MemoryDataset(scored_samples(log), name=f"{system_of(log)}-metrics"),
        solver=generation_in_place(),
        scorer=scorers,
    )


BERTSCORE_RANGE = (0.0, 1.0)
"""Where a BERTScore F1 lies when its precision and recall are not negative (every F1 of a
sentence encoder's greedy cosine matches in practice); an F1 below 0 (possible in principle: a
cosine can be negative) widens the range to [-1, 1]. Its interval is clipped to the range."""


def _mean_with_user_interval(values: list[float], users: list[str]) -> dict[str, Any]:
    """`bertscore_f1`, its 95% user-clustered interval and `ci_method` (None: under 2 users)."""
    per_user: dict[str, list[float]] = defaultdict(list)
    for value, user in zip(values, users, strict=True):
        per_user[user].append(value)
    bounds = BERTSCORE_RANGE if min(values) >= 0 else (-1.0, 1.0)
    interval = clustered_mean_interval(per_user, scale="linear", bounds=bounds)
    return {
        "bertscore_f1": float(np.mean(values)),
        "bertscore_f1_ci_low": None if interval is None else interval.low,
        "bertscore_f1_ci_high": None if interval is None else interval.high,
        "ci_method": None if interval is None else interval.method,
        "ci_guaranteed": None if interval is None else interval.guaranteed,
    }


def _mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def similarity_rows(log: EvalLog) -> list[dict[str, Any]]:
    """Per (system, dataset) of a `generation_metrics` log: means of every metric.

    Each row is `{"system", "dataset", "n", "bertscore_f1", "bertscore_f1_ci_low",
    "bertscore_f1_ci_high", "ci_method", "ci_guaranteed", "bleu", "rouge_l", "tfidf_cosine"}`.
    The interval of the mean F1 is the project's user-clustered rule, the one win rates use
    (`prefbench.scorers.stats.clustered_mean_interval`, 95%), on the linear scale (`"cr2-ik"`)
    and clipped to `BERTSCORE_RANGE`; the interval and `ci_method` are None with fewer than
    two users or when every user has the same mean F1; `ci_guaranteed` is False under 5
    users. The text metrics are None when the log has no `text_similarity` scores.
    """
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for sample in log.samples or []:
        if sample.scores and BERTSCORE in sample.scores:
            metadata = sample.metadata or {}
            groups[(str(metadata["system"]), str(metadata["dataset"]))].append(sample)
    rows = []
    for (system, dataset), samples in sorted(groups.items()):
        f1 = [float(sample.scores[BERTSCORE].value) for sample in samples]
        users = [str(sample.metadata["user"]) for sample in samples]
        texts = [s.scores[TEXT_SIMILARITY].value for s in samples if TEXT_SIMILARITY in s.scores]
        rows.append(
            {
                "system": system,
                "dataset": dataset,
                "n": len(samples),
                **_mean_with_user_interval(f1, users),
                **{name: _mean_or_none([float(t[name]) for t in texts]) for name in TEXT_METRICS},
            }
        )
    return rows
