"""`length_ratio`: a judge in one module; the candidate closer in length to the real text wins.

Registered through the package's `[project.entry-points.prefbench]` only; nothing in
prefbench names it. It calls no model, counts characters or words (its `unit` setting), and
has a multi-candidate form as well. It imports nothing from prefbench but `prefbench.plugin`.
"""

from typing import Literal

from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from prefbench.plugin import (
    JudgeSettingsModel,
    PairSampleMetadata,
    TiePolicy,
    first_choice_shares,
    judge,
    order_free_score,
    pair_score,
    parse_failures,
    rotation_parse_failures,
    win_rate,
)

Unit = Literal["characters", "words"]


class LengthRatioSettings(JudgeSettingsModel):
    """How length is counted."""

    unit: Unit = "characters"


def length_of(text: str, unit: Unit) -> int:
    """The text's length in `unit`."""
    return len(text.split()) if unit == "words" else len(text)


def distance(candidate: str, truth: str, unit: Unit) -> float:
    """How far the candidate's length is from the real text's, as a ratio of the longer one."""
    ours, theirs = length_of(candidate, unit), length_of(truth, unit)
    return 1 - min(ours, theirs) / max(ours, theirs, 1)


@scorer(metrics=[win_rate(), parse_failures()])
def length_ratio_judge(tie_policy: TiePolicy = "inconsistent_is_tie", unit: Unit = "characters"):
    """A wins when its length is closer to the ground truth's than B's; equal is a tie."""

    async def score(state: TaskState, target: Target) -> Score:
        pair = state.metadata_as(PairSampleMetadata)
        gap_a = distance(pair.candidate_a, target.text, unit)
        gap_b = distance(pair.candidate_b, target.text, unit)
        details = {"distance_a": gap_a, "distance_b": gap_b}
        if gap_a == gap_b:
            return pair_score(None, None, tie_policy, "length_ratio", details, exact_tie=True)
        a_wins = gap_a < gap_b
        # order ab shows A as candidate 1, order ba shows A as candidate 2
        return pair_score(
            1 if a_wins else 2, 2 if a_wins else 1, tie_policy, "length_ratio", details
        )

    return score


@scorer(metrics=[first_choice_shares(), rotation_parse_failures()])
def length_ratio_multi_judge(unit: Unit = "characters"):
    """Every rotation votes for the candidate whose length is closest to the ground truth's.

    Candidates equally close split each rotation's vote.
    """

    async def score(state: TaskState, target: Target) -> Score:
        systems = list(state.metadata["systems"])
        gaps = {
            system: distance(text, target.text, unit)
            for system, text in zip(systems, state.metadata["candidates"], strict=True)
        }
        closest = [system for system in systems if gaps[system] == min(gaps.values())]
        return order_free_score("length_ratio", systems, closest, {"distance": gaps})

    return score


def length_ratio_multi(settings: LengthRatioSettings) -> Scorer:
    """The multi-candidate form."""
    return length_ratio_multi_judge(unit=settings.unit)


@judge(
    name="length_ratio",
    roles=(),
    settings=LengthRatioSettings,
    multi_candidate=length_ratio_multi,
)
def length_ratio(settings: LengthRatioSettings, tie_policy: TiePolicy) -> Scorer:
    """The candidate whose length is closer to the real text's wins."""
    return length_ratio_judge(tie_policy=tie_policy, unit=settings.unit)
