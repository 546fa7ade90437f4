"""inspect metrics over pairwise outcomes (a score's `answer` is the outcome for system A)."""

from inspect_ai.scorer import Metric, SampleScore, metric

OUTCOME_SCORES = {"win": 1.0, "loss": 0.0, "tie": 0.5}


@metric
def win_rate() -> Metric:
    """Share of judged pairs won by system A, a tie counting half; parse failures left out."""

    def compute(scores: list[SampleScore]) -> float:
        values = [
            OUTCOME_SCORES[s.score.answer] for s in scores if s.score.answer in OUTCOME_SCORES
        ]
        return sum(values) / len(values) if values else float("nan")

    return compute


@metric
def parse_failures() -> Metric:
    """Number of pairs whose verdict could not be parsed in one order or both."""

    def compute(scores: list[SampleScore]) -> int:
        return sum(1 for s in scores if s.score.answer == "parse_failure")

    return compute
