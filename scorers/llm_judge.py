"""LLM judge: the model in role `judge` picks the candidate closest to the real text.

Each pair is judged in both orders with the paper's judge instructions (our wording). The
prompt follows the sample's `text_kind` metadata, set from its corpus's registration
(`judge_template_for`): articles get `prompts/judge_article_v1.txt`, emails (and anything
else) `prompts/judge_email_v1.txt`; both take any number of candidates. An answer without a usable
`<winner>N</winner>` is asked again once (a fresh, uncached call); if it still fails, that
order is a parse failure and never goes to either side. Raw answers of every attempt and the
template used are kept in the score metadata.
"""

from pathlib import Path

from inspect_ai.model import (
    CachePolicy,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    get_model,
)
from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from core.templates import load_template
from scorers.metrics import parse_failures, win_rate
from scorers.outcome import ORDERS, Order, TiePolicy
from scorers.pair_score import pair_score
from scorers.verdict import parse_winner

PROMPTS = Path(__file__).parent / "prompts"
ATTEMPTS = 2
JUDGE_TEMPLATES = {"article": "judge_article_v1", "email": "judge_email_v1"}
"""The judge prompt template of each text kind (a corpus registers its kind)."""


def judge_template_for(text_kind: str | None) -> str:
    """The judge prompt template for a sample whose `text_kind` metadata is `text_kind`.

    ``"article"`` gives `judge_article_v1`; ``"email"``, any other kind or a missing one gives
    `judge_email_v1`. Both templates show any number of candidates, so pairwise and
    multi-candidate judging use the same one.
    """
    return JUDGE_TEMPLATES.get(text_kind or "email", JUDGE_TEMPLATES["email"])


def render_candidates(candidates: list[str]) -> str:
    """Candidates as numbered blocks, 1-based as the verdict expects."""
    return "\n\n".join(
        f"<candidate_{number}>\n{text}\n</candidate_{number}>"
        for number, text in enumerate(candidates, start=1)
    )


def judge_messages(template_name: str, ground_truth: str, candidates: list[str]) -> list:
    """The judge prompt for one order of the candidates."""
    system, user = load_template(PROMPTS, template_name).render(
        ground_truth=ground_truth,
        num_candidates=str(len(candidates)),
        candidates=render_candidates(candidates),
    )
    return [ChatMessageSystem(content=system), ChatMessageUser(content=user)]


async def ask_judge(
    model: Model, template: str, ground_truth: str, candidates: list[str], max_tokens: int
) -> tuple[int | None, list[str]]:
    """Ask for the closest candidate; retry an unparseable answer once with a fresh call.

    Returns the parsed 1-based winner (None when both attempts failed) and the raw answer of
    every attempt. Each attempt has its own cache scope, so a retry is never answered by the
    cached failed attempt while a finished run still replays from the cache.
    """
    messages = judge_messages(template, ground_truth, candidates)
    answers: list[str] = []
    winner = None
    for attempt in range(1, ATTEMPTS + 1):
        output = await model.generate(
            messages,
            config=GenerateConfig(max_tokens=max_tokens),
            cache=CachePolicy(expiry=None, scopes={"judge": template, "attempt": str(attempt)}),
        )
        answers.append(output.completion)
        winner = parse_winner(output.completion, num_candidates=len(candidates))
        if winner is not None:
            break
    return winner, answers


@scorer(metrics=[win_rate(), parse_failures()])
def llm_judge(
    tie_policy: TiePolicy = "inconsistent_is_tie",
    template: str | None = None,
    max_tokens: int = 512,
) -> Scorer:
    """Judge a pair with the `judge` role in orders AB and BA; retry an unparseable answer once.

    Args:
        tie_policy: how orders that disagree or fail count (recorded with the verdicts).
        template: a prompt template name in `prompts/` for every sample; None (default)
            picks it per sample from its `text_kind` metadata (`judge_template_for`).
        max_tokens: the judge's answer budget (reasoning + verdict).
    """

    async def score(state: TaskState, target: Target) -> Score:
        model = get_model(role="judge")
        chosen_template = template or judge_template_for(state.metadata.get("text_kind"))
        candidate_a = state.metadata["candidate_a"]
        candidate_b = state.metadata["candidate_b"]
        winners: dict[Order, int | None] = {}
        answers: dict[Order, list[str]] = {}
        for order in ORDERS:
            candidates = [candidate_a, candidate_b] if order == "ab" else [candidate_b, candidate_a]
            winners[order], answers[order] = await ask_judge(
                model, chosen_template, target.text, candidates, max_tokens
            )
        details = {
            "template": chosen_template,
            "answers_ab": answers["ab"],
            "answers_ba": answers["ba"],
        }
        return pair_score(winners["ab"], winners["ba"], tie_policy, "llm", details)

    return score
