"""Multi-candidate judges: which of N systems' candidates is closest to the real text.

A sample of the multi-candidate task carries the ground truth and one candidate per system
(metadata `systems` and `candidates`, aligned). The judge sees all N candidates at once, in
N cyclic rotations, so each system is shown once in each position (with N = 2: orders AB and
BA). Each rotation is one vote for the system it chose (`prefbench.scorers.stats.first_choice`).

The score's value maps every system to its votes in this sample; its answer is the system
that all parsed rotations chose, `"tie"` when an exact tie is chosen throughout,
`"no_consensus"` when parsed rotations disagree, `"parse_failure"` when none parsed. Its
metadata keeps, per rotation, the shown order (system names), the raw answer of every
attempt, the parsed winner position and the chosen system, so a report recomputes
everything without judge calls (`rotation_votes`).
"""

from collections.abc import Sequence
from typing import Any

from inspect_ai.model import get_model
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, metric, scorer
from inspect_ai.solver import TaskState
from inspect_ai.util import collect

from prefbench.scorers.bertscore import bertscore_values
from prefbench.scorers.judge_prompts import PromptChoice, template_for_kind
from prefbench.scorers.llm_judge import (
    RetryMode,
    VerdictMode,
    ask_judge,
    judge_options,
)
from prefbench.scorers.stats.first_choice import RotationVote, vote_totals
from prefbench.scorers.verdict import MIN_CANDIDATE_MASS


def cyclic_rotations(systems: Sequence[str]) -> list[list[str]]:
    """The N cyclic orders of `systems`: rotation r shows system (r + k) mod N at position k."""
    count = len(systems)
    return [[systems[(shift + k) % count] for k in range(count)] for shift in range(count)]


def rotation_votes(metadata: dict[str, Any]) -> list[RotationVote]:
    """Each rotation's vote read back from a multi-candidate score's metadata (no call).

    A rotation that chose a system votes for it; one left without a choice votes for the
    systems in `tied` (an exact similarity tie, vote split) or, without a tie, is a parse
    failure (empty vote).
    """
    tied = tuple(metadata.get("tied") or ())
    return [
        (rotation["chosen"],) if rotation["chosen"] is not None else tied
        for rotation in metadata["rotations"]
    ]


def multi_score(
    judge: str, systems: list[str], rotations: list[dict[str, Any]], details: dict[str, Any]
) -> Score:
    """The score of one sample from its rotations (`shown`, `answers`, `winner`, `chosen`)."""
    metadata = {"judge": judge, "systems": systems, "rotations": rotations, **details}
    votes = rotation_votes(metadata)
    parsed = [vote for vote in votes if vote]
    if not parsed:
        answer = "parse_failure"
    elif len(set(parsed)) > 1:
        answer = "no_consensus"
    else:
        answer = parsed[0][0] if len(parsed[0]) == 1 else "tie"
    consistent = len(set(votes)) == 1 if len(parsed) == len(votes) else None
    chosen = ", ".join(" = ".join(vote) if vote else "(unparsed)" for vote in votes)
    return Score(
        value=vote_totals(votes, systems),
        answer=answer,
        explanation=f"chosen per rotation: {chosen}",
        metadata={**metadata, "position_consistent": consistent},
    )


def order_free_score(
    judge: str, systems: list[str], top: list[str], details: dict[str, Any]
) -> Score:
    """The score of a judge whose choice does not depend on the order the candidates are shown.

    `top` are the systems it ranks first: one is chosen in every rotation (position-consistent
    by construction); several tie, and each rotation's vote is split among them (`tied` in
    the metadata, after `details`).
    """
    chosen = top[0] if len(top) == 1 else None
    rotations = [
        {
            "shown": shown,
            "answers": [],
            "winner": shown.index(chosen) + 1 if chosen else None,
            "chosen": chosen,
        }
        for shown in cyclic_rotations(systems)
    ]
    tied = top if chosen is None else []
    return multi_score(judge, systems, rotations, {**details, "tied": tied})


@metric
def first_choice_shares() -> Metric:
    """Each system's share of all rotation votes (parse failures cast no vote)."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        metadata = [s.score.metadata or {} for s in scores]
        systems = metadata[0]["systems"] if metadata else []
        totals = vote_totals([vote for m in metadata for vote in rotation_votes(m)], systems)
        all_votes = sum(totals.values())
        return {
            system: votes / all_votes if all_votes else float("nan")
            for system, votes in totals.items()
        }

    return compute


@metric
def rotation_parse_failures() -> Metric:
    """Number of rotations whose answer could not be parsed, even after the retry."""

    def compute(scores: list[SampleScore]) -> int:
        return sum(1 for s in scores for vote in rotation_votes(s.score.metadata or {}) if not vote)

    return compute


@scorer(metrics=[first_choice_shares(), rotation_parse_failures()])
def llm_multi_judge(
    max_tokens: int = 512,
    prompt: PromptChoice = None,
    verdict: VerdictMode = "text",
    retry: RetryMode = "follow_up",
    top_logprobs: int = 20,
    verdict_pattern: str | list[str] | None = None,
    follow_up_prompt: str | None = None,
    role: str = "judge",
    temperature: float | None = None,
    min_candidate_mass: float = MIN_CANDIDATE_MASS,
    name: str = "llm",
) -> Scorer:
    """Show a model role all candidates in every cyclic rotation, all in flight at once.

    One vote per rotation. An answer without a verdict is retried once as in `llm_judge` (a
    follow-up turn by default); if it fails again that rotation is a parse failure and casts
    no vote. The arguments are `llm_judge`'s; `prompt` must show any number of candidates
    (prefbench's own and the paper's do).
    """
    options = judge_options(
        max_tokens, verdict, retry, top_logprobs, verdict_pattern, follow_up_prompt,
        temperature, min_candidate_mass,
    )  # fmt: skip

    async def score(state: TaskState, target: Target) -> Score:
        model = get_model(role=role)
        template = template_for_kind(prompt, state.metadata.get("text_kind"))
        systems = list(state.metadata["systems"])
        texts = dict(zip(systems, state.metadata["candidates"], strict=True))
        shown_orders = cyclic_rotations(systems)
        answers = await collect(
            *(
                ask_judge(model, template, target.text, [texts[s] for s in shown], options)
                for shown in shown_orders
            )
        )
        rotations = [
            {
                "shown": shown,
                "answers": answer.answers,
                "winner": answer.winner,
                "chosen": shown[answer.winner - 1] if answer.winner is not None else None,
                "probabilities": answer.probabilities,
                "candidate_mass": answer.mass,
                "verdict_source": answer.source,
            }
            for shown, answer in zip(shown_orders, answers, strict=True)
        ]
        details = {"template": template.name, "verdict_mode": verdict}
        return multi_score(name, systems, rotations, details)

    return score


@scorer(metrics=[first_choice_shares(), rotation_parse_failures()])
def similarity_multi_judge(model_dir: str | None = None, num_layers: int = 6) -> Scorer:
    """Choose the candidate with the highest BERTScore F1 against the ground truth.

    The choice does not depend on the order, so every rotation records the same system
    (position-consistent by construction). Candidates that tie exactly at the top split
    each rotation's vote (`tied` in the metadata), as a tie counts half in a pair.

    Args:
        model_dir: a local Hugging Face encoder folder; default the packaged MiniLM.
        num_layers: encoder layer whose embeddings BERTScore uses (6 for MiniLM).
    """

    async def score(state: TaskState, target: Target) -> Score:
        systems = list(state.metadata["systems"])
        candidates = list(state.metadata["candidates"])
        values = bertscore_values(
            candidates, [target.text] * len(candidates), model_dir, num_layers
        )
        f1_by_system = {
            system: round(f1, 6) for system, (_, _, f1) in zip(systems, values, strict=True)
        }
        best = max(f1_by_system.values())
        top = [system for system in systems if f1_by_system[system] == best]
        return order_free_score("similarity", systems, top, {"f1": f1_by_system})

    return score
