"""prefbench's two judges as registry entries: their settings and how they become scorers.

- `llm`: a model role (`judge` by default) picks the closest candidate
  (`prefbench.scorers.llm_judge`; all candidates at once:
  `prefbench.scorers.multi_judge.llm_multi_judge`). A judge by configuration: its prompt
  template files, the regular expressions that read its verdict, its role and temperature
  are settings (`LlmJudgeSettings`), so a YAML judge file is enough for a new prompt
  (`prefbench.scorers.registry.judge_from_file`).
- `similarity`: BERTScore F1 against the ground truth, no model call
  (`prefbench.scorers.similarity_judge`; `prefbench.scorers.multi_judge.similarity_multi_judge`).
  Settings: `encoder` (a local Hugging Face folder, None for the packaged MiniLM) and `num_layers`.
  A profile that leaves them out of its judge section uses its `metrics` ones.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inspect_ai.scorer import Scorer
from pydantic import Field, field_validator

from prefbench.scorers.bertscore import encoder_identity
from prefbench.scorers.judge_prompts import (
    FOLLOW_UP_TEMPLATE,
    PromptChoice,
    prompt_references,
    resolve_template,
)
from prefbench.scorers.llm_judge import ATTEMPTS, RetryMode, VerdictMode, llm_judge
from prefbench.scorers.multi_judge import llm_multi_judge, similarity_multi_judge
from prefbench.scorers.outcome import TiePolicy
from prefbench.scorers.registry import JudgeForm, JudgeSettingsModel, judge
from prefbench.scorers.similarity_judge import similarity_judge
from prefbench.scorers.verdict import MIN_CANDIDATE_MASS, compile_patterns

PROMPT_SETTINGS = ("prompt", "multi_candidate_prompt", "follow_up_prompt")
"""The settings that name template files (relative ones resolved from a YAML judge file)."""


def _relative_to(reference: Any, folder: Path) -> Any:
    """A template reference resolved from `folder` when it is a relative file path."""
    if isinstance(reference, Mapping):
        return {kind: _relative_to(value, folder) for kind, value in reference.items()}
    if not isinstance(reference, str) or not ("/" in reference or reference.endswith(".txt")):
        return reference
    path = Path(reference)
    return reference if path.is_absolute() else str(folder / path)


class LlmJudgeSettings(JudgeSettingsModel):
    """How the LLM judge is asked and how its verdict is read.

    Attributes:
        max_tokens: the answer budget (reasoning + verdict), in tokens.
        verdict: ``text`` reads the verdict from the answer (``<winner>N</winner>`` or
            `verdict_pattern`); ``logprobs`` reads the judge's probabilities of the candidate
            numbers at the verdict position (a confidence per verdict; needs a provider that
            returns log-probabilities: hf, openai, vllm).
        retry: ``follow_up`` asks for the format in a follow-up turn after an answer without
            a verdict; ``repeat`` sends the same prompt again.
        top_logprobs: top tokens per position asked of the provider (``logprobs`` only).
        prompt: the pairwise prompt: None (prefbench's, per text kind), a template name in
            `scorers/prompts/` or a template file for every sample, or text kind → either
            (`prefbench.scorers.judge_prompts`). Keyed by the files' content.
        multi_candidate_prompt: the multi-candidate prompt; None: the same as `prompt`.
        follow_up_prompt: the follow-up turn's template; None: prefbench's.
        verdict_pattern: a regular expression whose first group is the candidate number, or
            several tried in order (Arena-Hard's `regex_pattern`); None: the ``<winner>``
            rules of `prefbench.scorers.verdict.parse_winner`.
        role: the model role that judges.
        temperature: the judge's temperature; None keeps the role's decoding (0).
        min_candidate_mass: the least probability the candidate numbers must have at the
            verdict position for a ``logprobs`` verdict (`prefbench.scorers.verdict`).
    """

    max_tokens: int = Field(512, ge=8)
    verdict: VerdictMode = "text"
    retry: RetryMode = "follow_up"
    top_logprobs: int = Field(20, ge=2, le=20)
    prompt: str | dict[str, str] | None = None
    multi_candidate_prompt: str | dict[str, str] | None = None
    follow_up_prompt: str | None = None
    verdict_pattern: str | list[str] | None = None
    role: str = Field("judge", min_length=1)
    temperature: float | None = Field(None, ge=0)
    min_candidate_mass: float = Field(MIN_CANDIDATE_MASS, gt=0, le=1)

    @field_validator(*PROMPT_SETTINGS)
    @classmethod
    def _templates_exist(cls, value: PromptChoice) -> PromptChoice:
        references = value.values() if isinstance(value, Mapping) else [value]
        for reference in references:
            if reference is not None:
                resolve_template(reference)
        return value

    @field_validator("verdict_pattern")
    @classmethod
    def _patterns_compile(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is not None:
            compile_patterns(value)
        return value

    @classmethod
    def from_file_values(cls, values: Mapping[str, Any], folder: Path) -> dict[str, Any]:
        """Settings written in a YAML judge file: template paths resolved from its folder."""
        return {
            name: _relative_to(value, folder) if name in PROMPT_SETTINGS else value
            for name, value in values.items()
        }

    def roles(self) -> tuple[str, ...]:
        """The model role its scorers call."""
        return (self.role,)

    def scorer_options(self) -> dict[str, Any]:
        """The keyword arguments of `llm_judge` these settings give (the pairwise prompt)."""
        return self.model_dump(exclude={"multi_candidate_prompt"})

    def multi_candidate_options(self) -> dict[str, Any]:
        """The keyword arguments of `llm_multi_judge` (the multi-candidate prompt)."""
        options = self.scorer_options()
        if self.multi_candidate_prompt is not None:
            options["prompt"] = self.multi_candidate_prompt
        return options

    def prompt_files(self, form: JudgeForm) -> list[Path]:
        """The template files a stage of `form` can send (the follow-up's when it retries so)."""
        choice = self.prompt
        if form == "multi_candidate" and self.multi_candidate_prompt is not None:
            choice = self.multi_candidate_prompt
        files = [ref.path for ref in prompt_references(choice)]
        if self.retry == "follow_up":
            files.append(resolve_template(self.follow_up_prompt or FOLLOW_UP_TEMPLATE).path)
        return files


def llm_multi_candidate(settings: LlmJudgeSettings, name: str = "llm") -> Scorer:
    """All candidates shown to the judge's role at once, in every cyclic rotation."""
    return llm_multi_judge(**settings.multi_candidate_options(), name=name)


def llm_key(settings: LlmJudgeSettings) -> dict[str, Any]:
    """What keys an LLM judge stage besides its prompt files' content (the registry adds them).

    The settings that change an answer or how it is read; the prompt settings are places,
    keyed by their files' content instead. `top_logprobs` and `min_candidate_mass` key only a
    `logprobs` judge, where they are used; the other new settings only when set.
    """
    key: dict[str, Any] = {
        "judge_max_tokens": settings.max_tokens,
        "judge_verdict": settings.verdict,
        "judge_retry": settings.retry,
    }
    if settings.verdict == "logprobs":
        key["judge_top_logprobs"] = settings.top_logprobs
        key["judge_min_candidate_mass"] = settings.min_candidate_mass
    if settings.verdict_pattern is not None:
        key["judge_verdict_pattern"] = settings.verdict_pattern
    if settings.temperature is not None:
        key["judge_temperature"] = settings.temperature
    if settings.role != "judge":
        key["judge_role"] = settings.role
    return key


@judge(
    name="llm",
    roles=("judge",),
    settings=LlmJudgeSettings,
    multi_candidate=llm_multi_candidate,
    key_settings=llm_key,
    max_retries=ATTEMPTS - 1,
)
def llm_pairwise(settings: LlmJudgeSettings, tie_policy: TiePolicy, name: str = "llm") -> Scorer:
    """The judge's role picks the closer candidate in orders AB and BA."""
    return llm_judge(tie_policy=tie_policy, **settings.scorer_options(), name=name)


class SimilarityJudgeSettings(JudgeSettingsModel):
    """The BERTScore encoder (a local folder; None for the packaged MiniLM) and its layer."""

    encoder: str | None = None
    num_layers: int = Field(6, ge=1)


def similarity_multi_candidate(settings: SimilarityJudgeSettings) -> Scorer:
    """The candidate with the highest BERTScore F1 gets every rotation's vote."""
    return similarity_multi_judge(model_dir=settings.encoder, num_layers=settings.num_layers)


def similarity_key(settings: SimilarityJudgeSettings) -> dict[str, Any]:
    """What keys a similarity judge stage: the encoder (package version or content), its layer."""
    return {"encoder": encoder_identity(settings.encoder), "num_layers": settings.num_layers}


@judge(
    name="similarity",
    roles=(),
    settings=SimilarityJudgeSettings,
    multi_candidate=similarity_multi_candidate,
    key_settings=similarity_key,
    order_blind=True,
)
def similarity_pairwise(settings: SimilarityJudgeSettings, tie_policy: TiePolicy) -> Scorer:
    """The candidate with the higher BERTScore F1 against the ground truth wins."""
    return similarity_judge(
        tie_policy=tie_policy, model_dir=settings.encoder, num_layers=settings.num_layers
    )
