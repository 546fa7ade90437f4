"""A pairwise judge log read back as records: one `JudgedPair` per judged record.

`read_comparison(log, tie_policy)` reads each sample through the judged pair's models
(`PairSampleMetadata` for the sample, `PairVerdict` for the judge's score) and re-applies the
tie policy to the stored verdicts, so another policy needs no new judge call.
"""

from dataclasses import dataclass, replace
from pathlib import Path

from inspect_ai.log import EvalLog

from prefbench.core.errors import PrefbenchInputError
from prefbench.scorers.outcome import PairOutcome, TiePolicy
from prefbench.scorers.pair_metadata import PairSampleMetadata, PairVerdict
from prefbench.scorers.pair_score import judge_score, verdict_outcome
from prefbench.scorers.stats import AuditedPair

__all__ = ["JudgedComparison", "JudgedPair", "read_comparison"]


@dataclass(frozen=True)
class JudgedPair:
    """One judged record of a comparison.

    Attributes:
        outcome: the pair's outcome for system A under the report's tie policy.
        user: the record's user.
        dataset: the record's dataset.
        verdict: the judge's stored verdicts (per-order winners, sources, soft score).
        length_a: characters of A's output.
        length_b: characters of B's output.
        identical: whether A's and B's outputs were the same text.
    """

    outcome: PairOutcome
    user: str
    dataset: str
    verdict: PairVerdict
    length_a: int
    length_b: int
    identical: bool


@dataclass(frozen=True)
class JudgedComparison:
    """The judged pairs of one judge log (system A vs system B under one judge)."""

    system_a: str
    system_b: str
    judge: str
    log_name: str
    pairs: list[JudgedPair]

    def outcomes(self) -> list[PairOutcome]:
        """Each pair's outcome, in log order."""
        return [pair.outcome for pair in self.pairs]

    def users(self) -> list[str]:
        """Each pair's user, in log order."""
        return [pair.user for pair in self.pairs]

    def length_differences(self) -> list[int]:
        """``len(A's output) - len(B's output)`` per pair, in characters."""
        return [pair.length_a - pair.length_b for pair in self.pairs]

    def soft_scores(self) -> list[float | None]:
        """A's probability of winning per pair, where the judge read log-probabilities."""
        return [pair.verdict.soft_score for pair in self.pairs]

    def identical(self) -> list[bool]:
        """Whether each pair's two outputs were the same text."""
        return [pair.identical for pair in self.pairs]

    def audited_pairs(self) -> list[AuditedPair]:
        """Every pair as the judge audit reads it."""
        return [
            AuditedPair(
                self.system_a,
                self.system_b,
                pair.user,
                pair.verdict.winner_ab,
                pair.verdict.winner_ba,
                pair.length_a,
                pair.length_b,
                pair.outcome.score,
                pair.verdict.verdict_source_ab,
                pair.verdict.verdict_source_ba,
                pair.verdict.verdict_mode,
            )
            for pair in self.pairs
        ]

    def by_dataset(self) -> dict[str, "JudgedComparison"]:
        """The same comparison split by dataset, in order of first appearance."""
        names = dict.fromkeys(pair.dataset for pair in self.pairs)
        return {
            name: replace(self, pairs=[pair for pair in self.pairs if pair.dataset == name])
            for name in names
        }


def read_comparison(log: EvalLog, tie_policy: TiePolicy) -> JudgedComparison:
    """The judged pairs of a pairwise judge log, re-applying `tie_policy` to the verdicts.

    A sample that ended with an error (a judge call that failed within the profile's error
    policy) has no verdict and is left out; the report lists it under `failed_samples`.
    """
    metadata = log.eval.metadata or {}
    pairs = []
    for sample in log.samples or []:
        if sample.error is not None:  # failed within the error policy: in `failed_samples`
            continue
        score = judge_score(log, sample.scores or {})
        if score is None:
            raise PrefbenchInputError(
                f"judge log {log.location} has no judge score for sample {sample.id}: delete "
                "the log and run `prefbench judge` again."
            )
        verdict = PairVerdict.of(score)
        candidates = sample.metadata_as(PairSampleMetadata)
        length_a, length_b = candidates.lengths()
        pairs.append(
            JudgedPair(
                outcome=verdict_outcome(verdict, tie_policy),
                user=str(candidates.user),
                dataset=str(candidates.dataset),
                verdict=verdict,
                length_a=length_a,
                length_b=length_b,
                identical=candidates.identical(),
            )
        )
    return JudgedComparison(
        system_a=str(metadata.get("system_a")),
        system_b=str(metadata.get("system_b")),
        judge=str(metadata.get("judge")),
        log_name=Path(log.location).name,
        pairs=pairs,
    )
