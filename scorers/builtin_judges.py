"""prefbench's two judges as registry entries: their settings and how they become scorers.

- `llm`: the model in role `judge` picks the closest candidate (`prefbench.scorers.llm_judge`; all
  candidates at once: `prefbench.scorers.multi_judge.llm_multi_judge`). Settings: `max_tokens`,
  `verdict` (``text`` or ``logprobs``), `retry` (``follow_up`` or ``repeat``) and
  `top_logprobs`.
- `similarity`: BERTScore F1 against the ground truth, no model call
  (`prefbench.scorers.similarity_judge`; `prefbench.scorers.multi_judge.similarity_multi_judge`).
  Settings: `encoder` (a local Hugging Face folder, None for the packaged MiniLM) and `num_layers`.
  A profile that leaves them out of its judge section uses its `metrics` ones.
"""

from typing import Any

from inspect_ai.scorer import Scorer
from pydantic import Field

from prefbench.scorers.bertscore import encoder_name
from prefbench.scorers.llm_judge import ATTEMPTS, RetryMode, VerdictMode, llm_judge
from prefbench.scorers.multi_judge import llm_multi_judge, similarity_multi_judge
from prefbench.scorers.outcome import TiePolicy
from prefbench.scorers.registry import JudgeSettingsModel, judge
from prefbench.scorers.similarity_judge import similarity_judge


class LlmJudgeSettings(JudgeSettingsModel):
    """How the LLM judge answers and how its verdict is read.

    Attributes:
        max_tokens: the answer budget (reasoning + verdict), in tokens.
        verdict: ``text`` reads ``<winner>N</winner>``; ``logprobs`` reads the judge's
            probabilities of the candidate numbers after that tag (a confidence per verdict;
            needs a provider that returns log-probabilities: hf, openai, vllm).
        retry: ``follow_up`` asks for the format in a follow-up turn after an answer without
            a verdict; ``repeat`` sends the same prompt again.
        top_logprobs: top tokens per position asked of the provider (``logprobs`` only).
    """

    max_tokens: int = Field(512, ge=8)
    verdict: VerdictMode = "text"
    retry: RetryMode = "follow_up"
    top_logprobs: int = Field(20, ge=2, le=20)

    def scorer_options(self) -> dict[str, Any]:
        """The keyword arguments of `llm_judge` and `llm_multi_judge` these settings give."""
        return self.model_dump()


def llm_multi_candidate(settings: LlmJudgeSettings) -> Scorer:
    """All candidates shown to the `judge` role at once, in every cyclic rotation."""
    return llm_multi_judge(**settings.scorer_options())


def llm_key(settings: LlmJudgeSettings) -> dict[str, Any]:
    """What keys an LLM judge stage: its settings (the prompts are keyed by the caller).

    `top_logprobs` keys only a `logprobs` judge, where it is used.
    """
    key: dict[str, Any] = {
        "judge_max_tokens": settings.max_tokens,
        "judge_verdict": settings.verdict,
        "judge_retry": settings.retry,
    }
    if settings.verdict == "logprobs":
        key["judge_top_logprobs"] = settings.top_logprobs
    return key


@judge(
    name="llm",
    roles=("judge",),
    settings=LlmJudgeSettings,
    multi_candidate=llm_multi_candidate,
    key_settings=llm_key,
    max_retries=ATTEMPTS - 1,
)
def llm_pairwise(settings: LlmJudgeSettings, tie_policy: TiePolicy) -> Scorer:
    """The `judge` role picks the closer candidate in orders AB and BA."""
    return llm_judge(tie_policy=tie_policy, **settings.scorer_options())


class SimilarityJudgeSettings(JudgeSettingsModel):
    """The BERTScore encoder (a local folder; None for the packaged MiniLM) and its layer."""

    encoder: str | None = None
    num_layers: int = Field(6, ge=1)


def similarity_multi_candidate(settings: SimilarityJudgeSettings) -> Scorer:
    """The candidate with the highest BERTScore F1 gets every rotation's vote."""
    return similarity_multi_judge(model_dir=settings.encoder, num_layers=settings.num_layers)


def similarity_key(settings: SimilarityJudgeSettings) -> dict[str, Any]:
    """What keys a similarity judge stage: the encoder (package version or folder), its layer."""
    return {"encoder": encoder_name(settings.encoder), "num_layers": settings.num_layers}


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
