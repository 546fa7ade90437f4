"""LLM judge: the model in role `judge` picks the candidate closest to the real text.

Each pair is judged in both orders with the paper's judge instructions (our wording,
`prompts/judge_email_v1.txt`). An answer without a usable `<winner>N</winner>` is asked
again once (a fresh, uncached call); if it still fails, that order is a parse failure and
never goes to either side. Raw answers of every attempt are kept in the score metadata.
"""

from pathlib import Path

from inspect_ai.model import (
    CachePolicy,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    get_model,
)
from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from harness.templates import load_template
from scorers.metrics import parse_failures, win_rate
from scorers.outcome import ORDERS, Order, TiePolicy
from scorers.pair_score import pair_score
from scorers.verdict import parse_winner

PROMPTS = Path(__file__).parent / "prompts"
ATTEMPTS = 2


def render_candidates(candidates: list[str]) -> str:
    """Candidates as numbered blocks, 1-based as the verdict expects."""
    return "\n\n".join(
        f"<candidate_{number}>\n{text}\n</candidate_{number}>"
        for number, text in enumerate(candidates, start=1)
    )


def judge_messages(template_name: str, ground_truth: str, candidates: list[str]) -> list:
    """The judge prompt for one order of one pair."""
    system, user = load_template(PROMPTS, template_name).render(
        ground_truth=ground_truth,
        num_candidates=str(len(candidates)),
        candidates=render_candidates(candidates),
    )
    return [ChatMessageSystem(content=system), ChatMessageUser(content=user)]


@scorer(metrics=[win_rate(), parse_failures()])
def llm_judge(
    tie_policy: TiePolicy = "inconsistent_is_tie",
    template: str = "judge_email_v1",
    max_tokens: int = 512,
) -> Scorer:
    """Judge a pair with the `judge` role in orders AB and BA; retry an unparseable answer once."""

    async def score(state: TaskState, target: Target) -> Score:
        model = get_model(role="judge")
        candidate_a = state.metadata["candidate_a"]
        candidate_b = state.metadata["candidate_b"]
        winners: dict[Order, int | None] = {}
        answers: dict[str, list[str]] = {}
        for order in ORDERS:
            candidates = [candidate_a, candidate_b] if order == "ab" else [candidate_b, candidate_a]
            messages = judge_messages(template, target.text, candidates)
            answers[order] = []
            winners[order] = None
            for attempt in range(1, ATTEMPTS + 1):
                output = await model.generate(
                    messages,
                    config=GenerateConfig(max_tokens=max_tokens),
                    cache=CachePolicy(
                        expiry=None, scopes={"judge": template, "attempt": str(attempt)}
                    ),
                )
                answers[order].append(output.completion)
                winners[order] = parse_winner(output.completion, num_candidates=2)
                if winners[order] is not None:
                    break
        details = {"answers_ab": answers["ab"], "answers_ba": answers["ba"]}
        return pair_score(winners["ab"], winners["ba"], tie_policy, "llm", details)

    return score
