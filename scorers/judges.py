"""Judge lookup by the name a profile uses (`judge.kind`): pairwise and multi-candidate."""

from inspect_ai.scorer import Scorer

from scorers.llm_judge import llm_judge
from scorers.multi_judge import llm_multi_judge, similarity_multi_judge
from scorers.outcome import TIE_POLICIES, TiePolicy
from scorers.similarity_judge import similarity_judge

JUDGES = {"similarity": similarity_judge, "llm": llm_judge}
"""Pairwise judges: a pair of candidates in orders AB and BA."""

MULTI_JUDGES = {"similarity": similarity_multi_judge, "llm": llm_multi_judge}
"""Multi-candidate judges: N candidates in N cyclic rotations."""


def judge_scorer(
    kind: str,
    tie_policy: str,
    max_tokens: int = 512,
    encoder: str | None = None,
    num_layers: int = 6,
) -> Scorer:
    """The pairwise judge scorer `kind` with the given tie policy; `ValueError` otherwise.

    `max_tokens` is the LLM judge's answer budget (the similarity judge makes no call);
    `encoder` (a local Hugging Face folder, None for the packaged MiniLM) and `num_layers`
    are the similarity judge's BERTScore settings.
    """
    if kind not in JUDGES:
        raise ValueError(f"unknown judge '{kind}'; choose one of {sorted(JUDGES)}")
    if tie_policy not in TIE_POLICIES:
        raise ValueError(f"unknown tie policy '{tie_policy}'; choose one of {list(TIE_POLICIES)}")
    policy: TiePolicy = tie_policy  # type: ignore[assignment]
    if kind == "llm":
        return llm_judge(tie_policy=policy, max_tokens=max_tokens)
    return similarity_judge(tie_policy=policy, model_dir=encoder, num_layers=num_layers)


def multi_judge_scorer(
    kind: str, max_tokens: int = 512, encoder: str | None = None, num_layers: int = 6
) -> Scorer:
    """The multi-candidate judge scorer `kind`; `ValueError` naming the known ones otherwise.

    `max_tokens` is the LLM judge's answer budget (the similarity judge makes no call);
    `encoder` and `num_layers` are the similarity judge's BERTScore settings.
    """
    if kind not in MULTI_JUDGES:
        raise ValueError(
            f"unknown multi-candidate judge '{kind}'; choose one of {sorted(MULTI_JUDGES)}"
        )
    if kind == "llm":
        return llm_multi_judge(max_tokens=max_tokens)
    return similarity_multi_judge(model_dir=encoder, num_layers=num_layers)
