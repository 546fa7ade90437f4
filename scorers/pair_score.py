"""The inspect `Score` of one judged pair, and the outcome read back from it."""

from typing import Any

from inspect_ai.log import EvalLog
from inspect_ai.scorer import CORRECT, INCORRECT, NOANSWER, PARTIAL, Score

from prefbench.scorers.outcome import PairOutcome, TiePolicy, combine_orders
from prefbench.scorers.pair_metadata import PairVerdict

HUMAN_SCORE = "human"
"""Name of the score that carries human annotations on a judge log (`human_eval.attach`)."""

EXACT_TIE = PairOutcome(outcome="tie", score=0.5, position_consistent=True)

# inspect's score values: a win is "correct" for system A, a tie "partial", a parse failure
# "no answer"; the outcome word itself is the score's `answer`.
SCORE_VALUES = {"win": CORRECT, "tie": PARTIAL, "loss": INCORRECT, "parse_failure": NOANSWER}


def pair_outcome(
    winner_ab: int | None, winner_ba: int | None, tie_policy: TiePolicy, exact_tie: bool = False
) -> PairOutcome:
    """Combine the two orders; a judge that saw the candidates as equal gives a tie."""
    return EXACT_TIE if exact_tie else combine_orders(winner_ab, winner_ba, tie_policy)


def pair_score(
    winner_ab: int | None,
    winner_ba: int | None,
    tie_policy: TiePolicy,
    judge: str,
    details: dict[str, Any],
    exact_tie: bool = False,
) -> Score:
    """The pair's score: value and answer give the outcome for system A.

    The value is inspect's C/P/I/N (`SCORE_VALUES`); metadata holds both verdicts and the
    judge's details.

    The per-order winners are kept so a report can re-apply another tie policy without
    judging again (`outcome_from_metadata`).
    """
    pair = pair_outcome(winner_ab, winner_ba, tie_policy, exact_tie)
    return Score(
        value=SCORE_VALUES[pair.outcome],
        answer=pair.outcome,
        metadata={
            "judge": judge,
            "winner_ab": winner_ab,
            "winner_ba": winner_ba,
            "exact_tie": exact_tie,
            "position_consistent": pair.position_consistent,
            "tie_policy": tie_policy,
            **details,
        },
    )


def verdict_outcome(verdict: PairVerdict, tie_policy: TiePolicy) -> PairOutcome:
    """Re-apply a tie policy to the verdicts stored by `pair_score` (no judge call)."""
    return pair_outcome(verdict.winner_ab, verdict.winner_ba, tie_policy, verdict.exact_tie)


def outcome_from_metadata(metadata: dict[str, Any], tie_policy: TiePolicy) -> PairOutcome:
    """`verdict_outcome` of a score's metadata (`PairVerdict.from_metadata`)."""
    return verdict_outcome(PairVerdict.from_metadata(metadata), tie_policy)


def judge_score(log: EvalLog, scores: dict[str, Score]) -> Score | None:
    """The judge's own score of one sample: the log's scorer, never the `human` annotations."""
    names = [scorer.name for scorer in log.eval.scorers or [] if scorer.name != HUMAN_SCORE]
    names = names or [name for name in scores if name != HUMAN_SCORE]
    return next((scores[name] for name in names if name in scores), None)
