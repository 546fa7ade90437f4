"""Multi-candidate judging task: join N ≥ 2 generation logs by sample id; the judge scores.

Each sample carries the ground truth and one candidate per system; the judge sees all of
them at once in N cyclic rotations (`prefbench.scorers.multi_judge`), as the paper's judge prompt
takes a number of candidate texts. `read_multi_candidate` turns the finished log into the
report's `multi_candidate` section without judge calls.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog

from prefbench.core.errors import PrefbenchInputError
from prefbench.scorers.multi_judge import rotation_votes
from prefbench.scorers.registry import lookup_judge
from prefbench.scorers.stats.first_choice import summarize_first_choice
from prefbench.tasks.pairwise import (
    OnMismatch,
    candidates_in_place,
    judge_call_config,
    judging_sample,
    read_generation_log,
    system_of,
)


def join_generation_logs(
    logs: Sequence[EvalLog], on_mismatch: OnMismatch = "error"
) -> list[Sample]:
    """One multi-candidate sample per record id present in every log, in the first log's order.

    Sample metadata: `user`, `dataset`, `text_kind`, `systems` (one per log, in log order) and
    `candidates` (each system's output, aligned). Ids missing from some log are an input
    error naming up to five per system (`on_mismatch="error"`, the default), or are left
    out (`"intersect"`). Two logs of the same system are an input error. A record whose
    generation failed in any log (the sample ended with an error) is left out.
    """
    if on_mismatch not in ("error", "intersect"):
        raise ValueError(f"on_mismatch must be 'error' or 'intersect', got '{on_mismatch}'")
    if len(logs) < 2:
        raise ValueError(
            f"multi-candidate judging needs at least 2 generation logs, got {len(logs)}"
        )
    systems = [system_of(log) for log in logs]
    if len(set(systems)) != len(systems):
        raise PrefbenchInputError(
            f"the generation logs {[log.location for log in logs]} are of the systems "
            f"{systems}: each system may appear once. Pass one log per system."
        )
    by_id = [{str(s.id): s for s in log.samples or []} for log in logs]
    every_id: set[str] = set().union(*by_id)
    missing = {
        system: sorted(every_id - samples.keys())
        for system, samples in zip(systems, by_id, strict=True)
    }
    if any(missing.values()) and on_mismatch == "error":
        described = "; ".join(
            f"missing in {system} ({log.location}): {ids[:5]} ({len(ids)} in all)"
            for (system, ids), log in zip(missing.items(), logs, strict=True)
            if ids
        )
        raise PrefbenchInputError(
            f"the generation logs of {systems} cover different samples: {described}. "
            "Regenerate all systems on the same records, or join with on_mismatch='intersect'."
        )
    return [
        judging_sample(
            sample_id,
            first,
            {
                "systems": systems,
                "candidates": [samples[sample_id].output.completion for samples in by_id],
            },
        )
        for sample_id, first in by_id[0].items()
        if all(sample_id in samples and samples[sample_id].error is None for samples in by_id)
    ]


@task
def multi_candidate_comparison(
    generation_logs: list[str],
    judge: str = "llm",
    judge_settings: dict[str, Any] | None = None,
    on_mismatch: OnMismatch = "error",
) -> Task:
    """Judge N systems' outputs at once, record by record, in every cyclic rotation.

    Args:
        generation_logs: generation logs (.eval), one per system, at least two.
        judge: a registered judge with a multi-candidate form (`prefbench.scorers.registry`): `llm`
            (role `judge`), `similarity` (BERTScore with the local MiniLM) or a plug-in's.
        judge_settings: the judge's settings, validated by its settings model; left out,
            its defaults.
        on_mismatch: what to do with ids missing from some log: `error` or `intersect`.
    """
    scorer = lookup_judge(judge).multi_candidate_scorer(judge_settings)
    logs = [read_generation_log(Path(path)) for path in generation_logs]
    samples = join_generation_logs(logs, on_mismatch)
    return Task(
        name="multi_candidate_comparison",
        dataset=MemoryDataset(samples, name="-vs-".join(system_of(log) for log in logs)),
        solver=candidates_in_place(),
        scorer=scorer,
        config=judge_call_config(judge),
    )


def read_multi_candidate(log: EvalLog) -> dict[str, Any]:
    """The report's `multi_candidate` section from a finished multi-candidate judge log.

    `{"judge", "systems", "n", "rotations", "parse_failures", "position_consistency",
    "first_choice": [{"system", "votes", "share", "ci_low", "ci_high", "ci_method",
    "ci_guaranteed"}]}`,
    `first_choice` by share descending. Each parsed rotation is one vote; `parse_failures`
    counts rotations without a vote; `position_consistency` is the share of samples whose
    rotations all chose the same system, among samples whose rotations all parsed. An
    unscored sample is an input error naming the log.
    """
    choices, users, metadata = [], [], {}
    for sample in log.samples or []:
        if sample.error is not None:  # a judge call that failed within the error policy
            continue
        scores = sample.scores or {}
        if not scores:
            raise PrefbenchInputError(
                f"multi-candidate judge log {log.location} has an unscored sample {sample.id}: "
                "delete the log and judge again."
            )
        metadata = next(iter(scores.values())).metadata or {}
        choices.append(rotation_votes(metadata))
        users.append(str((sample.metadata or {}).get("user")))
    systems = list(metadata.get("systems", []))
    summary = summarize_first_choice(choices, users, systems).to_dict()
    return {
        "judge": str(metadata.get("judge")),
        "systems": systems,
        "n": summary["n"],
        "rotations": len(metadata.get("rotations", [])),
        "parse_failures": summary["parse_failures"],
        "position_consistency": summary["position_consistency"],
        "first_choice": summary["first_choice"],
    }
