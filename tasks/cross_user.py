"""Cross-user generation: every user's agent writes every user's test texts.

The paper's personalization test crosses the agents of K users with the test sets of the
same K users: if the agents personalize, the agent of user j should write user j's texts
best (the diagonal of the K×K matrix wins). A sample here is one test record written by
one agent: its id is `"{record_id}@{agent_user}"` and its metadata carries `agent_user`,
which adapter systems read (`adapter_user`) instead of the record's `user`. Everything the
models see is the record's, so a diagonal sample sends exactly the prompts of the normal
generation stage and is answered from its cache.
"""

import math
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog, EvalSample

from prefbench.core.errors import PrefbenchInputError
from prefbench.scorers.bertscore import bertscore_values
from prefbench.tasks.metrics import BERTSCORE
from prefbench.tasks.pairwise import system_of
from prefbench.tasks.records import Record, read_records
from prefbench.tasks.samples import record_to_sample

__all__ = [
    "AGENT_USER",
    "adapter_user",
    "cross_user_sample",
    "cross_user_writing",
    "personalization_matrix",
    "personalization_statistics",
]

AGENT_USER = "agent_user"
PERMUTATIONS = 9999
"""Permutations of the personalization test when K! exceeds them (else all K! exactly)."""


def adapter_user(metadata: Mapping[str, Any]) -> str:
    """Whose adapter writes a sample: its `agent_user` when set, else the record's `user`."""
    return str(metadata.get(AGENT_USER) or metadata["user"])


def cross_user_sample(record: Record, agent_user: str) -> Sample:
    """The record as a sample written by `agent_user`'s agent."""
    sample = record_to_sample(record)
    sample.id = f"{record.id}@{agent_user}"
    sample.metadata = {**(sample.metadata or {}), AGENT_USER: agent_user}
    return sample


@task
def cross_user_writing(
    records: str, agent_users: list[str] | None = None, limit: int | None = None
) -> Task:
    """One sample per (agent user, test record): each agent writes every user's test texts.

    Args:
        records: a records file (JSON lines, docs/design.md §7) whose records have intents.
        agent_users: whose agents write (each needs an adapter of the system that runs);
            default every user with test records.
        limit: only the first `limit` test records (those `prefbench run --limit` generates).

    Run an adapter system on it with `--solver`, e.g. `inspect eval
    prefbench/cross_user_writing -T records=runs/demo/data/records.jsonl --solver
    prefbench/preference_agent -S run_dir=runs/demo --model-role small=... --model-role
    large=...`.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 or None, got {limit}")
    test = [record for record in read_records(Path(records)) if record.split == "test"][:limit]
    agents = sorted({record.user for record in test}) if agent_users is None else agent_users
    if not agents:
        raise ValueError(f"no agent users: {records} has no test records, or agent_users is empty")
    samples = [cross_user_sample(record, agent) for agent in agents for record in test]
    return Task(dataset=MemoryDataset(samples, name=f"{Path(records).stem}-cross-user"))


def personalization_statistics(matrix: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Whether the diagonal of a K×K matrix (rows = agent, columns = test-set user) wins.

    Returns:
        `diagonal_best_columns`: columns whose diagonal cell beats every other cell of the
        column (strictly; 0 when K < 2); `diagonal_mean`, `off_diagonal_mean` (None when
        K < 2); and `p_value`, a one-sided permutation test (`scipy.stats.permutation_test`)
        of the statistic `diagonal mean − off-diagonal mean`. Its null hypothesis is that
        the agent's user does not matter, so the rows are exchangeable: the null
        distribution permutes the row labels (which agent is paired with which test set),
        exactly over all K! permutations when K! ≤ PERMUTATIONS, else over that many random ones
        seeded by `seed`. `min_p_value` is the smallest p-value the test can give: 1/K!
        (1/6 for 3 users: such a test can never reach 0.05) when exact, else 1/10000.
        None when K < 2.
    """
    k = matrix.shape[0]
    if matrix.shape != (k, k):
        raise ValueError(f"the matrix must be square, got shape {matrix.shape}")
    diagonal_mean = float(np.mean(np.diag(matrix)))
    if k < 2:
        return {
            "diagonal_best_columns": 0,
            "diagonal_mean": diagonal_mean,
            "off_diagonal_mean": None,
            "p_value": None,
            "min_p_value": None,
        }
    off_diagonal = ~np.eye(k, dtype=bool)
    best = sum(bool(np.all(matrix[j, j] > matrix[off_diagonal[:, j], j])) for j in range(k))
    total = matrix.sum()

    def diagonal_advantage(rows: np.ndarray, axis: int = -1) -> np.ndarray:
        diagonal_sum = matrix[rows, np.arange(k)].sum(axis=axis)
        return diagonal_sum / k - (total - diagonal_sum) / (k * k - k)

    from scipy.stats import permutation_test  # ~1 s to import: only when used

    result = permutation_test(
        (np.arange(k),),
        diagonal_advantage,
        permutation_type="pairings",
        vectorized=True,
        n_resamples=PERMUTATIONS,
        alternative="greater",
        rng=np.random.default_rng(seed),
    )
    return {
        "diagonal_best_columns": best,
        "diagonal_mean": diagonal_mean,
        "off_diagonal_mean": float(np.mean(matrix[off_diagonal])),
        "p_value": float(result.pvalue),
        "min_p_value": 1.0 / min(math.factorial(k), PERMUTATIONS + 1),
    }


def _f1_of_samples(samples: list[EvalSample], encoder: str | None, num_layers: int) -> list[float]:
    """Each sample's BERTScore F1: its `bertscore` score when scored, else computed."""
    if all(sample.scores and BERTSCORE in sample.scores for sample in samples):
        return [float(sample.scores[BERTSCORE].value) for sample in samples]  # type: ignore[index]
    candidates = [sample.output.completion for sample in samples]
    references = [
        sample.target if isinstance(sample.target, str) else "\n".join(sample.target)
        for sample in samples
    ]
    return [f1 for _, _, f1 in bertscore_values(candidates, references, encoder, num_layers)]


def personalization_matrix(
    log: EvalLog, encoder: str | None = None, num_layers: int = 6, seed: int = 0
) -> dict[str, Any]:
    """The K×K BERTScore F1 matrix of a `cross_user_writing` log, and whether the diagonal wins.

    F1 is each output's against its record's ground truth: read from the samples'
    `bertscore` scores when the log was scored by `generation_metrics`, else computed with
    the encoder (`encoder` folder or the packaged MiniLM, layer `num_layers`). Cells are
    mean F1 over the test records of the column's user written by the row's agent; the
    users are the agent users that also have test records.

    Returns the report.json `personalization` section: `{"system", "metric", "users",
    "matrix" (rows = agent user, columns = test-set user), "k", "diagonal_best_columns",
    "diagonal_mean", "off_diagonal_mean", "p_value", "min_p_value", "p_value_method"}` (see
    `personalization_statistics`).
    """
    samples = log.samples or []
    if not samples or not all(AGENT_USER in (s.metadata or {}) for s in samples):
        raise PrefbenchInputError(
            f"{log.location} is not a cross-user log (its samples need metadata "
            f"`{AGENT_USER}`): make one with the `cross_user_writing` task."
        )
    agents = {str(s.metadata[AGENT_USER]) for s in samples}
    users = sorted(agents & {str(s.metadata["user"]) for s in samples})
    if not users:
        raise PrefbenchInputError(
            f"in {log.location} no agent user has test records, so the matrix has no diagonal: "
            "cross the agents of the users whose test sets are written."
        )
    index = {user: position for position, user in enumerate(users)}
    kept = [s for s in samples if str(s.metadata["user"]) in index]
    cells: dict[tuple[int, int], list[float]] = defaultdict(list)
    for sample, f1 in zip(kept, _f1_of_samples(kept, encoder, num_layers), strict=True):
        row, column = index[str(sample.metadata[AGENT_USER])], index[str(sample.metadata["user"])]
        cells[(row, column)].append(f1)
    matrix = np.array(
        [
            [float(np.mean(cells[(row, column)])) for column in range(len(users))]
            for row in range(len(users))
        ]
    )
    return {
        "system": system_of(log),
        "metric": "bertscore_f1",
        "users": users,
        "matrix": matrix.tolist(),
        "k": len(users),
        **personalization_statistics(matrix, seed),
        "p_value_method": "permutation of agent labels, one-sided (diagonal > off-diagonal)",
    }
