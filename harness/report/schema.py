"""report.json as pydantic models: every writer builds them, every reader reads through them.

`Report` is the whole file (docs/report_schema.md; the JSON schema is
`docs/report.schema.json`, kept in sync by a test, and `prefbench report --schema` prints it).
A report is built as a `Report` and written with `model_dump(mode="json")`
(`prefbench.harness.report.build.write_report`); `prefbench.harness.report.file.read_report`
validates the file back into one. `SCHEMA_VERSION` names the layout: a report.json without
it (written before the layout was typed) or with another one is a clear error naming the
file and the fix (`prefbench report --run R` rebuilds it from the logs).

Every judge's results are kept apart: `comparisons`, `aggregate`, `ratings`, `judge_audit`,
`controls` and `multi_candidate` are keyed by the judge's name, in the profile's order (the
first is the primary judge, `judges[0]`); no row mixes two judges.

Sections that other stages own (similarity, personalization, cost, failed samples, long
texts) are typed here too; `agreement` is the human-evaluation package's own structure
(`prefbench.human_eval.agreement.agreement_section`), kept as JSON.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prefbench.harness.provenance import Provenance

__all__ = [
    "SCHEMA_VERSION",
    "AggregateRow",
    "ComparisonRow",
    "ControlCheck",
    "CostSection",
    "DatasetEntry",
    "FailedSamplesSection",
    "JudgeAudit",
    "JudgeControls",
    "LongTexts",
    "MultiCandidateSection",
    "PersonalizationSection",
    "RatingRow",
    "Report",
    "SimilaritySection",
    "report_json_schema",
]

SCHEMA_VERSION = 7
"""report.json's layout version (it was `REPORT_FORMAT` 6 before the layout was typed).

Bump it when the layout changes: a report.json of another version is rebuilt by the run,
and refused with the fix by the readers."""


class ReportPart(BaseModel):
    """A part of report.json: unknown keys are errors, so a reader never guesses a field."""

    model_config = ConfigDict(extra="forbid")


class UserWinRate(ReportPart):
    """One user's win rate of system A (`prefbench.scorers.stats.per_user_win_rates`)."""

    n: int
    wins: int
    losses: int
    ties: int
    parse_failures: int
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    position_consistency: float | None
    ci_method: str | None
    users: int
    ci_guaranteed: bool | None


class ComparisonRow(UserWinRate):
    """One comparison of one judge on one dataset: system A's win rate over system B.

    The raw win rate (a tie counts half; `n` = wins + losses + ties, parse failures left
    out) with its user-clustered interval and `ci_method`, the length-controlled one (`lc_*`,
    `length_coefficient`), the soft one (`soft_*`, only where the verdicts carry
    log-probabilities), per-user rows, how many pairs had identical outputs, and the
    quality-gate reasons of its judge (`judge_flags`, empty when it passed).
    """

    dataset: str
    system_a: str
    system_b: str
    judge: str
    tie_policy: str
    log: str
    """The judge log's file name in `logs/judge/`."""
    lc_win_rate: float | None
    lc_ci_low: float | None
    lc_ci_high: float | None
    lc_ci_method: str | None
    length_coefficient: float | None
    lc_separation: bool | None
    soft_n: int | None = None
    soft_win_rate: float | None = None
    soft_ci_low: float | None = None
    soft_ci_high: float | None = None
    soft_ci_method: str | None = None
    soft_users: int | None = None
    soft_ci_guaranteed: bool | None = None
    per_user: dict[str, UserWinRate]
    identical_outputs: int | None
    compared_outputs: int | None
    judge_flags: list[str] = []


class AggregateRow(ReportPart):
    """Per (system A, system B) of one judge: the mean of the dataset win rates (the paper's)."""

    system_a: str
    system_b: str
    judge: str
    datasets: list[str]
    win_rate: float | None
    n: int
    lc_win_rate: float | None
    soft_win_rate: float | None = None
    judge_flags: list[str] = []


class RatingRow(ReportPart):
    """A system's Bradley–Terry rating (Elo scale) over one judge's battles."""

    system: str
    rating: float
    ci_low: float | None
    ci_high: float | None
    ci_method: str | None
    ci_guaranteed: bool | None
    separated: bool
    judge_flags: list[str] = []


class Rate(ReportPart):
    """A share with its user-clustered interval (a judge-audit measure)."""

    rate: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    ci_method: str | None
    ci_guaranteed: bool | None


class LengthSlope(ReportPart):
    """The judge's length bias: logit per unit of tanh(Δ/sd), with its interval."""

    coefficient: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str | None
    n: int
    separation: bool | None


class LengthBin(ReportPart):
    """A candidate's win rate in one quantile bin of its normalized length lead."""

    lead_low: float
    lead_high: float
    lead_mean: float
    win_rate: float
    n: int


class VerdictSources(ReportPart):
    """Parsed single-order verdicts by where they came from, and how many from a fallback."""

    counts: dict[str, int]
    n: int
    fallback: int
    fallback_rate: float | None


class SelfPreference(ReportPart):
    """A system that shares a model with the judge, and its win rate under that judge."""

    system: str
    models: list[str]
    win_rate: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    ci_method: str | None
    ci_guaranteed: bool | None


class QualityGate(ReportPart):
    """Whether the judge failed the quality gate, and why (`scorers/stats/judge_gate.py`)."""

    flagged: bool
    reasons: list[str]


class JudgeAudit(ReportPart):
    """One judge's position and length bias, verdict sources, self-preference and gate."""

    judge: str
    judge_models: list[str]
    order_blind: bool
    n_pairs: int
    first_slot_win_rate: Rate
    position_consistency: Rate
    longer_win_rate: Rate
    length_coefficient: LengthSlope
    length_bins: list[LengthBin]
    verdict_sources: VerdictSources
    self_preference: list[SelfPreference]
    quality_gate: QualityGate


class RequiredSample(ReportPart):
    """The sample a control's observed effect needs for its interval to exclude 50 %."""

    effect_size: float
    design_effect: float
    pairs: int
    pairs_per_user: int
    users: int


class ControlCheck(ReportPart):
    """One control check of one judge on one dataset, oriented better-vs-worse."""

    check: str
    better: str
    worse: str
    judge: str
    dataset: str
    n: int
    users: int
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str | None
    expected_order: bool
    required: RequiredSample | None
    note: str
    identical_outputs: int | None = None
    compared_outputs: int | None = None
    diagnosis: str = ""


class JudgeControls(ReportPart):
    """A judge's control checks and whether it detects personalization at this sample size."""

    detects_personalization: bool | None
    answer: str
    checks: list[ControlCheck]


class FirstChoice(ReportPart):
    """How often the multi-candidate judge chose a system first."""

    system: str
    votes: int | float
    share: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str | None
    ci_guaranteed: bool | None


class MultiCandidateSection(ReportPart):
    """A judge that saw every system's output at once: its first choices."""

    judge: str
    systems: list[str]
    n: int
    rotations: int
    parse_failures: int
    position_consistency: float | None
    first_choice: list[FirstChoice]


class SimilarityRow(ReportPart):
    """A system's similarity to the ground truth on one dataset."""

    system: str
    dataset: str
    n: int
    bertscore_f1: float | None
    bertscore_f1_ci_low: float | None
    bertscore_f1_ci_high: float | None
    ci_method: str | None
    ci_guaranteed: bool | None
    bleu: float | None = None
    rouge_l: float | None = None
    tfidf_cosine: float | None = None


class SimilaritySection(ReportPart):
    """BERTScore (with its encoder) and the lexical metrics of every system."""

    encoder: str | None
    num_layers: int
    rows: list[SimilarityRow]


class PersonalizationSection(ReportPart):
    """The K×K matrix: the agent of user i (rows) on the test set of user j (columns)."""

    system: str
    metric: str
    users: list[str]
    matrix: list[list[float]]
    k: int
    diagonal_best_columns: int
    diagonal_mean: float | None
    off_diagonal_mean: float | None
    p_value: float | None
    min_p_value: float | None
    p_value_method: str
    encoder: str | None = None


class TokenCounts(ReportPart):
    """Input, output and total tokens."""

    input_tokens: int
    output_tokens: int
    total_tokens: int


class StageModelCost(ReportPart):
    """Tokens and US dollars of one model in one stage kind."""

    stage: str
    model: str
    batch: bool
    input_tokens: int
    output_tokens: int
    cached_calls: int
    usd: float | None


class ForecastRow(ReportPart):
    """The dry run's forecast against the spend of one stage kind."""

    stage: str
    forecast_usd: float | None
    forecast_usd_max: float | None
    spent_usd: float | None
    ratio: float | None
    within_tolerance: bool | None


class ForecastVsSpend(ReportPart):
    """The forecast kept in the run folder against what the run spent."""

    forecast_as_of: str | None
    rows: list[ForecastRow]
    forecast_usd: float | None
    spent_usd: float | None
    ratio: float | None
    tolerance: float


class DeviceHours(ReportPart):
    """Wall and CPU seconds and GPU-hours of one pipeline stage."""

    stage: str
    wall_seconds: float
    cpu_seconds: float
    gpus: int
    gpu_hours: float
    gpu_seconds_measured: bool


class CostSection(ReportPart):
    """Tokens and dollars by stage kind and model (`prefbench.harness.cost.spend`)."""

    tokens_by_stage: dict[str, TokenCounts]
    cached_calls_by_stage: dict[str, int]
    by_stage_model: list[StageModelCost]
    usd_by_stage: dict[str, float | None]
    usd_total: float | None
    prices_as_of: str | None
    batch_discounts_as_of: str | None
    forecast_vs_spend: ForecastVsSpend | None = None
    device_hours: list[DeviceHours] = []


class FailedSample(ReportPart):
    """A sample that still failed after the error policy's retries."""

    stage: str
    system: str | None
    user: str | None
    sample_id: str
    epoch: int
    error: str


class ComparisonFailures(ReportPart):
    """Per judged pair: records skipped for a failed generation, and failed judge samples."""

    comparison: str
    system_a: str
    system_b: str
    judge: str | None = None
    skipped_failed_generation: int
    judge_failed: int


class FailurePolicy(ReportPart):
    """The profile's error policy the failures were tolerated under."""

    fail_on_error: bool | int | float | None
    retry_on_error: int | None


class FailedSamplesSection(ReportPart):
    """Every sample that failed within the error policy, and the counts."""

    samples: list[FailedSample]
    by_stage: dict[str, int]
    by_comparison: list[ComparisonFailures]
    policy: FailurePolicy


class LongTexts(ReportPart):
    """What the profile's `long_texts` policy did to the records."""

    policy: str
    max_text_tokens: int
    counted_with: str
    records: int
    truncated: int
    dropped: int
    truncated_ids: list[str]
    dropped_ids: list[str]


class UnhonouredDecoding(ReportPart):
    """A role whose provider cannot honour the stated decoding: what was not sent, and why."""

    model: str
    settings: list[str]
    reason: str


class DatasetEntry(ReportPart):
    """One dataset of a several-dataset run (the combined report)."""

    name: str
    run: str
    records: int
    users: int
    test: int
    long_texts: LongTexts | None


class Report(ReportPart):
    """The whole report.json of a run (or, with `datasets`, of a several-dataset run).

    `judges` lists the judges in the profile's order (the first is the primary judge);
    every per-judge section is keyed by those names.
    """

    schema_version: Literal[7] = SCHEMA_VERSION  # type: ignore[assignment]
    run: str
    profile: str
    reference_system: str
    judges: list[str]
    comparisons: dict[str, list[ComparisonRow]]
    aggregate: dict[str, list[AggregateRow]]
    ratings: dict[str, list[RatingRow]]
    judge_audit: dict[str, JudgeAudit] = {}
    controls: dict[str, JudgeControls] = {}
    agreement: dict[str, Any] = {}
    """Human–human and human–LLM agreement of the primary judge's pairs
    (`prefbench.human_eval.agreement`); empty until answers exist."""
    cost: CostSection | None = None
    decoding_not_honoured: dict[str, UnhonouredDecoding] | None = None
    long_texts: LongTexts | None = None
    similarity: SimilaritySection | None = None
    personalization: PersonalizationSection | None = None
    multi_candidate: dict[str, MultiCandidateSection] = {}
    failed_samples: FailedSamplesSection | None = None
    provenance: Provenance | None = None
    datasets: list[DatasetEntry] | None = None
    """Only in a several-dataset run's combined report: its datasets' run folders."""
    stage_sections: dict[str, Any] = {}
    """The sections of stages this schema does not name (a custom pipeline's `Stage` with
    its own `section`), by section name, as the stage gave them."""
    inputs_key: str = Field(description="fingerprint of what the report was computed from")

    def is_combined(self) -> bool:
        """Whether this is a several-dataset run's combined report."""
        return self.datasets is not None

    def rows(self, judge: str | None = None) -> list[ComparisonRow]:
        """The comparison rows of one judge, or of every judge in order (`judge` None)."""
        if judge is not None:
            return list(self.comparisons.get(judge, []))
        return [row for name in self.judges for row in self.comparisons.get(name, [])]

    def datasets_of(self) -> list[str]:
        """The datasets of the comparisons, in order of first appearance."""
        return list(dict.fromkeys(row.dataset for row in self.rows()))

    def dump(self) -> dict[str, Any]:
        """The JSON object written to report.json (top-level sections that are None left out)."""
        unset = {name for name in type(self).model_fields if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude=unset)


def report_json_schema() -> dict[str, Any]:
    """report.json's JSON schema (what `docs/report.schema.json` holds)."""
    return Report.model_json_schema(mode="serialization")
