"""LLM judge: the model in role `judge` picks the candidate closest to the real text.

Each pair is judged in both orders with the paper's judge instructions (our wording). The
prompt follows the sample's `text_kind` metadata, set from its corpus's registration
(`judge_template_for`): the `judge.txt` of the kind's prompt folder
(`prefbench.core.text_kinds`: `article:judge`, `email:judge`, a plug-in kind's); each takes
any number of candidates.

How a verdict is read (`verdict`):

- ``"text"``: the answer's ``<winner>N</winner>`` (`prefbench.scorers.verdict.parse_winner`).
- ``"logprobs"``: the judge's probability of each candidate number right after its
  ``<winner>`` tag (`prefbench.scorers.verdict.winner_probabilities`; the call asks the provider for
  its top log-probabilities). The most probable candidate wins and its probability is the
  verdict's confidence. A provider that returns no log-probabilities falls back to the text.

An answer without a verdict gets one retry (`retry`): ``"follow_up"`` (default) continues
the conversation: the judge sees its own answer and is asked for ``<winner>N</winner>``
alone (`prompts/judge_follow_up_v1.txt`, whose system part is added to the judge's system
message), so a greedy model does not repeat itself;
``"repeat"`` asks the same prompt again in a fresh call (the behaviour before follow-ups,
kept to measure the difference). If the retry fails too, that order is a parse failure and
never goes to either side. Raw answers of every attempt, the template, each order's
candidate probabilities and where its verdict came from are kept in the score metadata.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from inspect_ai.model import (
    CachePolicy,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelOutput,
    get_model,
)
from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from prefbench.core.templates import load_template
from prefbench.core.text_kinds import kind_template, resolve_template
from prefbench.scorers.metrics import parse_failures, win_rate
from prefbench.scorers.outcome import ORDERS, Order, TiePolicy
from prefbench.scorers.pair_score import pair_score
from prefbench.scorers.verdict import parse_winner, winner_probabilities

PROMPTS = Path(__file__).parent / "prompts"
ATTEMPTS = 2
FOLLOW_UP_TEMPLATE = "judge_follow_up_v1"
FOLLOW_UP_MAX_TOKENS = 24
"""The follow-up turn's budget: enough for ``<winner>N</winner>`` and a few stray tokens."""

VerdictMode = Literal["text", "logprobs"]
VERDICT_MODES: tuple[VerdictMode, ...] = ("text", "logprobs")
RetryMode = Literal["follow_up", "repeat"]
RETRY_MODES: tuple[RetryMode, ...] = ("follow_up", "repeat")
VerdictSource = Literal["text", "follow_up", "repeat", "logprobs", "logprobs_follow_up"]
"""Where a verdict came from: the first answer's text, the retry's text, or log-probabilities
after the first answer's or the follow-up's ``<winner>`` tag."""


@dataclass(frozen=True)
class JudgeAnswer:
    """The judge's verdict on one order (or rotation) of the candidates.

    Attributes:
        winner: the 1-based candidate chosen; None when no attempt gave a verdict.
        answers: the raw answer of every attempt, in order.
        probabilities: each candidate's probability (``logprobs`` mode), else None.
        source: where the verdict came from; None without a verdict.
    """

    winner: int | None
    answers: list[str]
    probabilities: list[float] | None = None
    source: VerdictSource | None = None

    @property
    def confidence(self) -> float | None:
        """The winner's probability (``logprobs`` mode), else None."""
        if self.winner is None or self.probabilities is None:
            return None
        return self.probabilities[self.winner - 1]


def judge_template_for(text_kind: str | None) -> str:
    """The judge prompt template for a sample whose `text_kind` metadata is `text_kind`.

    The kind's ``KIND:judge`` template (``email:judge`` when the kind is missing). Every
    kind's judge template shows any number of candidates, so pairwise and multi-candidate
    judging use the same one.
    """
    return kind_template(text_kind, "judge").name


def render_candidates(candidates: list[str]) -> str:
    """Candidates as numbered blocks, 1-based as the verdict expects."""
    return "\n\n".join(
        f"<candidate_{number}>\n{text}\n</candidate_{number}>"
        for number, text in enumerate(candidates, start=1)
    )


def judge_messages(template_name: str, ground_truth: str, candidates: list[str]) -> list:
    """The judge prompt for one order of the candidates."""
    system, user = resolve_template(template_name, PROMPTS).render(
        ground_truth=ground_truth,
        num_candidates=str(len(candidates)),
        candidates=render_candidates(candidates),
    )
    return [ChatMessageSystem(content=system), ChatMessageUser(content=user)]


def follow_up_messages(
    messages: list[ChatMessage], answer: ModelOutput, num_candidates: int
) -> list[ChatMessage]:
    """The conversation continued: the judge's answer, then a turn asking for the format.

    The follow-up template's system part is added to the judge's system message; its user
    part is the new turn.
    """
    note, request = load_template(PROMPTS, FOLLOW_UP_TEMPLATE).render(
        num_candidates=str(num_candidates)
    )
    system, *conversation = messages
    return [
        ChatMessageSystem(content=f"{system.text}\n\n{note}"),
        *conversation,
        ChatMessageAssistant(content=answer.completion),
        ChatMessageUser(content=request),
    ]


def _logprob_verdict(
    output: ModelOutput, num_candidates: int, first_number: bool
) -> list[float] | None:
    """The candidates' probabilities read from an answer; None when it carries none."""
    logprobs = output.choices[0].logprobs if output.choices else None
    if logprobs is None:
        return None
    return winner_probabilities(logprobs.content, num_candidates, first_number=first_number)


def _winner_of(probabilities: list[float]) -> int:
    """The most probable candidate, 1-based; the lowest number wins an exact tie."""
    return max(range(len(probabilities)), key=lambda index: probabilities[index]) + 1


async def ask_judge(
    model: Model,
    template: str,
    ground_truth: str,
    candidates: list[str],
    max_tokens: int,
    *,
    verdict: VerdictMode = "text",
    retry: RetryMode = "follow_up",
    top_logprobs: int = 20,
) -> JudgeAnswer:
    """Ask for the closest candidate; retry an answer without a verdict once (module docstring).

    Every call has its own cache scope (attempt 1, the follow-up, the repeat), so a retry is
    never answered by the cached failed attempt while a finished run still replays from the
    cache.
    """
    if verdict not in VERDICT_MODES:
        raise ValueError(f"verdict must be one of {VERDICT_MODES}, got {verdict!r}")
    if retry not in RETRY_MODES:
        raise ValueError(f"retry must be one of {RETRY_MODES}, got {retry!r}")
    count = len(candidates)
    reads_logprobs = verdict == "logprobs"
    config = GenerateConfig(max_tokens=max_tokens)
    if reads_logprobs:
        config = config.merge(GenerateConfig(logprobs=True, top_logprobs=top_logprobs))

    def cache(attempt: str) -> CachePolicy:
        return CachePolicy(expiry=None, scopes={"judge": template, "attempt": attempt})

    messages = judge_messages(template, ground_truth, candidates)
    first = await model.generate(messages, config=config, cache=cache("1"))
    if reads_logprobs and (probabilities := _logprob_verdict(first, count, False)):
        return JudgeAnswer(_winner_of(probabilities), [first.completion], probabilities, "logprobs")
    winner = parse_winner(first.completion, num_candidates=count)
    if winner is not None:
        return JudgeAnswer(winner, [first.completion], None, "text")

    if retry == "repeat":
        second = await model.generate(messages, config=config, cache=cache("2"))
        answers = [first.completion, second.completion]
        if reads_logprobs and (probabilities := _logprob_verdict(second, count, False)):
            return JudgeAnswer(_winner_of(probabilities), answers, probabilities, "logprobs")
        winner = parse_winner(second.completion, num_candidates=count)
        return JudgeAnswer(winner, answers, None, "repeat" if winner else None)

    follow_up_config = config.merge(GenerateConfig(max_tokens=FOLLOW_UP_MAX_TOKENS))
    second = await model.generate(
        follow_up_messages(messages, first, count),
        config=follow_up_config,
        cache=cache("follow_up"),
    )
    answers = [first.completion, second.completion]
    if reads_logprobs and (probabilities := _logprob_verdict(second, count, True)):
        return JudgeAnswer(_winner_of(probabilities), answers, probabilities, "logprobs_follow_up")
    winner = parse_winner(second.completion, num_candidates=count)
    return JudgeAnswer(winner, answers, None, "follow_up" if winner else None)


def soft_score_a(probabilities: dict[Order, list[float] | None]) -> float | None:
    """System A's probability of winning, averaged over the orders that have probabilities.

    In order AB system A is candidate 1, in order BA candidate 2. None when no order has
    probabilities (text verdicts). A report's soft win rate is the mean of these.
    """
    shares = [
        chances[0 if order == "ab" else 1]
        for order, chances in probabilities.items()
        if chances is not None
    ]
    return sum(shares) / len(shares) if shares else None


@scorer(metrics=[win_rate(), parse_failures()])
def llm_judge(
    tie_policy: TiePolicy = "inconsistent_is_tie",
    template: str | None = None,
    max_tokens: int = 512,
    verdict: VerdictMode = "text",
    retry: RetryMode = "follow_up",
    top_logprobs: int = 20,
) -> Scorer:
    """Judge a pair with the `judge` role in orders AB and BA; retry an answer without a verdict.

    Args:
        tie_policy: how orders that disagree or fail count (recorded with the verdicts).
        template: a prompt template name in `prompts/` for every sample; None (default)
            picks it per sample from its `text_kind` metadata (`judge_template_for`).
        max_tokens: the judge's answer budget (reasoning + verdict).
        verdict: ``"text"`` (the ``<winner>`` tag) or ``"logprobs"`` (the probabilities of
            the candidate numbers after it; a confidence per order, `soft_score` per pair).
        retry: ``"follow_up"`` (ask for the format in a follow-up turn) or ``"repeat"``.
        top_logprobs: how many top tokens per position the provider returns (``logprobs``).
    """

    async def score(state: TaskState, target: Target) -> Score:
        model = get_model(role="judge")
        chosen_template = template or judge_template_for(state.metadata.get("text_kind"))
        candidate_a = state.metadata["candidate_a"]
        candidate_b = state.metadata["candidate_b"]
        verdicts: dict[Order, JudgeAnswer] = {}
        for order in ORDERS:
            candidates = [candidate_a, candidate_b] if order == "ab" else [candidate_b, candidate_a]
            verdicts[order] = await ask_judge(
                model,
                chosen_template,
                target.text,
                candidates,
                max_tokens,
                verdict=verdict,
                retry=retry,
                top_logprobs=top_logprobs,
            )
        probabilities = {order: answer.probabilities for order, answer in verdicts.items()}
        details = {
            "template": chosen_template,
            "verdict_mode": verdict,
            "answers_ab": verdicts["ab"].answers,
            "answers_ba": verdicts["ba"].answers,
            "verdict_source_ab": verdicts["ab"].source,
            "verdict_source_ba": verdicts["ba"].source,
            "probabilities_ab": verdicts["ab"].probabilities,
            "probabilities_ba": verdicts["ba"].probabilities,
            "soft_score": soft_score_a(probabilities),
        }
        return pair_score(verdicts["ab"].winner, verdicts["ba"].winner, tie_policy, "llm", details)

    return score
