"""The judged pair's metadata as pydantic models: what a judge reads and what it writes.

`PairSampleMetadata` is a pairwise judging sample's metadata (`prefbench.tasks.pairwise`):
the two systems and their outputs, the record's user, dataset and text kind. A judge reads it
with inspect's `state.metadata_as(PairSampleMetadata)`; a log reader with
`sample.metadata_as(PairSampleMetadata)`.

`PairVerdict` is what a judge's score keeps in its metadata (`prefbench.scorers.pair_score`):
the candidate number chosen in each order, whether the judge saw the candidates as equal,
and the details a judge adds (where each verdict came from, how it was read, a soft score).
`PairVerdict.of(score)` reads it back. Both models are frozen, as `metadata_as` requires.
"""

from typing import Any

from inspect_ai.scorer import Score
from pydantic import BaseModel, ConfigDict

__all__ = ["PairSampleMetadata", "PairVerdict"]


class PairSampleMetadata(BaseModel):
    """A pairwise judging sample's metadata (docs/judges.md: what a judge reads).

    Attributes:
        candidate_a: system A's output for the record.
        candidate_b: system B's output.
        system_a: system A's name (the reference system, or a control pair's better one).
        system_b: system B's name.
        user: the record's user.
        dataset: the record's dataset.
        text_kind: the kind of text (`email`, `article`, a plug-in's), which picks the prompt.
    """

    model_config = ConfigDict(frozen=True)

    candidate_a: str
    candidate_b: str
    system_a: str | None = None
    system_b: str | None = None
    user: str | None = None
    dataset: str | None = None
    text_kind: str | None = None

    def lengths(self) -> tuple[int, int]:
        """The characters of A's and B's outputs."""
        return len(self.candidate_a), len(self.candidate_b)

    def identical(self) -> bool:
        """Whether A and B wrote the same text (up to surrounding whitespace)."""
        return self.candidate_a.strip() == self.candidate_b.strip()


class PairVerdict(BaseModel):
    """The verdicts a pairwise judge's score keeps (`pair_score`), read back from a log.

    Attributes:
        judge: the judge's registered name.
        winner_ab: the candidate number chosen with A shown first (None: unparsed).
        winner_ba: the candidate number chosen with B shown first.
        exact_tie: the judge saw the candidates as equal (a tie in both orders).
        position_consistent: whether both orders chose the same system.
        tie_policy: the tie policy the score's value was computed with.
        soft_score: A's probability of winning, where the judge read log-probabilities.
        verdict_source_ab: where order AB's verdict came from (first answer, a fallback...).
        verdict_source_ba: likewise for order BA.
        verdict_mode: how the judge read its verdicts (`text`, `logprobs`).
    """

    model_config = ConfigDict(frozen=True)

    judge: str | None = None
    winner_ab: int | None = None
    winner_ba: int | None = None
    exact_tie: bool = False
    position_consistent: bool | None = None
    tie_policy: str | None = None
    soft_score: float | None = None
    verdict_source_ab: str | None = None
    verdict_source_ba: str | None = None
    verdict_mode: str | None = None

    @classmethod
    def of(cls, score: Score) -> "PairVerdict":
        """The verdicts of a judge's score (inspect's `metadata_as` rule: known keys only)."""
        return cls.from_metadata(score.metadata or {})

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> "PairVerdict":
        """The verdicts of a score's metadata; keys the model does not name are left out."""
        return cls.model_validate({k: v for k, v in metadata.items() if k in cls.model_fields})
