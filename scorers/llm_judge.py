"""LLM judge: a model role picks the candidate closest to the real text.

Each pair is judged in both orders, both in flight at once. The prompt is a template file
(`prefbench.scorers.judge_prompts`): by default the `judge.txt` of the sample's text kind
(`prefbench.core.text_kinds`: `email:judge`, `article:judge`, a plug-in kind's), or the
judge's `prompt` setting (a template name such as `judge_email_paper`, a file, or one per
text kind). Both kinds of template take any number of candidates.

How a verdict is read (`verdict`):

- ``"text"``: the answer's ``<winner>N</winner>`` (`prefbench.scorers.verdict.parse_winner`),
  or the judge's `verdict_pattern` (regular expressions whose first group is the number,
  tried in order: `prefbench.scorers.verdict.parse_with_patterns`).
- ``"logprobs"``: the judge's probability of each candidate number at the verdict position
  (after its ``<winner>`` tag, or where the pattern's group starts;
  `prefbench.scorers.verdict.read_logprob_verdict`; the call asks the provider for its top
  log-probabilities). The most probable candidate wins and its probability is the verdict's
  confidence. When the candidate numbers carry less than `min_candidate_mass` of the
  probability there (default 0.5), the answer has no verdict: it is retried, then a parse
  failure. A provider that returns no log-probabilities falls back to the text.

An answer without a verdict gets one retry (`retry`): ``"follow_up"`` (default) continues
the conversation: the judge sees its own answer and is asked for ``<winner>N</winner>``
alone (`prompts/judge_follow_up_v1.txt`, or the judge's `follow_up_prompt`; its system part
is added to the judge's system message), so a greedy model does not repeat itself; the
follow-up answer is read by the judge's patterns, then by the ``<winner>`` rules.
``"repeat"`` asks the same prompt again in a fresh call (the behaviour before follow-ups,
kept to measure the difference). If the retry fails too, that order is a parse failure and
never goes to either side. Raw answers of every attempt, the template, each order's
candidate probabilities and mass, and where its verdict came from are kept in the score
metadata.
"""

from dataclasses import dataclass
from functools import cache
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
from inspect_ai.util import collect

from prefbench.scorers.judge_prompts import (
    FOLLOW_UP_TEMPLATE,
    PromptChoice,
    TemplateRef,
    judge_messages,
    resolve_template,
    template_for_kind,
)
from prefbench.scorers.metrics import parse_failures, win_rate
from prefbench.scorers.outcome import ORDERS, Order, TiePolicy
from prefbench.scorers.pair_metadata import PairSampleMetadata
from prefbench.scorers.pair_score import pair_score
from prefbench.scorers.verdict import (
    MIN_CANDIDATE_MASS,
    LogprobVerdict,
    compile_patterns,
    parse_winner,
    parse_with_patterns,
    read_logprob_verdict,
)

ATTEMPTS = 2
FOLLOW_UP_MAX_TOKENS = 24
"""The follow-up turn's budget: enough for ``<winner>N</winner>`` and a few stray tokens."""

VerdictMode = Literal["text", "logprobs"]
VERDICT_MODES: tuple[VerdictMode, ...] = ("text", "logprobs")
RetryMode = Literal["follow_up", "repeat"]
RETRY_MODES: tuple[RetryMode, ...] = ("follow_up", "repeat")
VerdictSource = Literal["text", "follow_up", "repeat", "logprobs", "logprobs_follow_up"]
"""Where a verdict came from: the first answer's text, the retry's text, or log-probabilities
at the verdict position of the first (or repeated) answer or of the follow-up."""


@dataclass(frozen=True)
class JudgeOptions:
    """How the judge is asked and how its answer is read (`LlmJudgeSettings` as arguments).

    Attributes:
        max_tokens: the answer budget (reasoning + verdict).
        verdict: ``"text"`` or ``"logprobs"`` (module docstring).
        retry: ``"follow_up"`` or ``"repeat"``.
        top_logprobs: top tokens per position asked of the provider (``logprobs``).
        verdict_pattern: regular expressions whose first group is the candidate number,
            tried in order; empty for the ``<winner>`` rules.
        follow_up_prompt: the follow-up turn's template reference; None for prefbench's.
        temperature: the judge's sampling temperature; None for the role's (0).
        min_candidate_mass: the least probability the candidate numbers need at the verdict
            position (``logprobs``).
    """

    max_tokens: int = 512
    verdict: VerdictMode = "text"
    retry: RetryMode = "follow_up"
    top_logprobs: int = 20
    verdict_pattern: tuple[str, ...] = ()
    follow_up_prompt: str | None = None
    temperature: float | None = None
    min_candidate_mass: float = MIN_CANDIDATE_MASS

    def __post_init__(self) -> None:
        if self.verdict not in VERDICT_MODES:
            raise ValueError(f"verdict must be one of {VERDICT_MODES}, got {self.verdict!r}")
        if self.retry not in RETRY_MODES:
            raise ValueError(f"retry must be one of {RETRY_MODES}, got {self.retry!r}")
        if self.verdict_pattern:
            compile_patterns(self.verdict_pattern)

    def config(self) -> GenerateConfig:
        """The first attempt's generate config."""
        config = GenerateConfig(max_tokens=self.max_tokens, temperature=self.temperature)
        if self.verdict == "logprobs":
            config = config.merge(GenerateConfig(logprobs=True, top_logprobs=self.top_logprobs))
        return config

    def parse(self, text: str, num_candidates: int, follow_up: bool = False) -> int | None:
        """The candidate an answer's text names (patterns; a follow-up also the tag rules)."""
        if not self.verdict_pattern:
            return parse_winner(text, num_candidates=num_candidates)
        winner = parse_with_patterns(text, _compiled(self.verdict_pattern), num_candidates)
        if winner is None and follow_up:
            return parse_winner(text, num_candidates=num_candidates)
        return winner

    def read_logprobs(
        self, output: ModelOutput, num_candidates: int, follow_up: bool
    ) -> LogprobVerdict | None:
        """The log-probability verdict of an answer; None when it carries none or no position."""
        logprobs = output.choices[0].logprobs if output.choices else None
        if logprobs is None:
            return None
        return read_logprob_verdict(
            logprobs.content,
            num_candidates,
            first_number=follow_up,
            patterns=_compiled(self.verdict_pattern) if self.verdict_pattern else (),
            min_mass=self.min_candidate_mass,
        )


@cache
def _compiled(patterns: tuple[str, ...]):  # noqa: ANN202 (a tuple of compiled patterns)
    return compile_patterns(patterns)


@dataclass(frozen=True)
class JudgeAnswer:
    """The judge's verdict on one order (or rotation) of the candidates.

    Attributes:
        winner: the 1-based candidate chosen; None when no attempt gave a verdict.
        answers: the raw answer of every attempt, in order.
        probabilities: each candidate's probability (``logprobs`` mode), else None.
        source: where the verdict came from; None without a verdict.
        mass: the candidates' summed probability at the last verdict position read
            (``logprobs`` mode), else None.
    """

    winner: int | None
    answers: list[str]
    probabilities: list[float] | None = None
    source: VerdictSource | None = None
    mass: float | None = None

    @property
    def confidence(self) -> float | None:
        """The winner's probability (``logprobs`` mode), else None."""
        if self.winner is None or self.probabilities is None:
            return None
        return self.probabilities[self.winner - 1]


def follow_up_messages(
    messages: list[ChatMessage],
    answer: ModelOutput,
    num_candidates: int,
    template: TemplateRef | None = None,
) -> list[ChatMessage]:
    """The conversation continued: the judge's answer, then a turn asking for the format.

    The follow-up template's system part is added to the judge's system message; its user
    part is the new turn (`{num_candidates}` is its one field).
    """
    follow_up = template or resolve_template(FOLLOW_UP_TEMPLATE)
    note, request = follow_up.load().render(num_candidates=str(num_candidates))
    system, *conversation = messages
    return [
        ChatMessageSystem(content=f"{system.text}\n\n{note}"),
        *conversation,
        ChatMessageAssistant(content=answer.completion),
        ChatMessageUser(content=request),
    ]


def _winner_of(probabilities: list[float]) -> int:
    """The most probable candidate, 1-based; the lowest number wins an exact tie."""
    return max(range(len(probabilities)), key=lambda index: probabilities[index]) + 1


def _answer_from(
    options: JudgeOptions,
    output: ModelOutput,
    answers: list[str],
    count: int,
    text_source: VerdictSource,
    follow_up: bool,
) -> JudgeAnswer | None:
    """The verdict one attempt gives, or None (then the next attempt, or a parse failure)."""
    if options.verdict == "logprobs" and output.choices and output.choices[0].logprobs:
        reading = options.read_logprobs(output, count, follow_up)
        if reading is None or reading.probabilities is None:
            return None
        source: VerdictSource = "logprobs_follow_up" if follow_up else "logprobs"
        return JudgeAnswer(
            _winner_of(reading.probabilities), answers, reading.probabilities, source, reading.mass
        )
    winner = options.parse(output.completion, count, follow_up=follow_up)
    return JudgeAnswer(winner, answers, None, text_source) if winner is not None else None


def _mass_of(options: JudgeOptions, output: ModelOutput, count: int, follow_up: bool) -> float:
    reading = options.read_logprobs(output, count, follow_up)
    return reading.mass if reading is not None else 0.0


async def ask_judge(
    model: Model,
    template: TemplateRef,
    ground_truth: str,
    candidates: list[str],
    options: JudgeOptions,
) -> JudgeAnswer:
    """Ask for the closest candidate; retry an answer without a verdict once (module docstring).

    Every call has its own cache scope (attempt 1, the follow-up, the repeat), so a retry is
    never answered by the cached failed attempt while a finished run still replays from the
    cache.
    """
    count = len(candidates)
    config = options.config()

    def cache(attempt: str) -> CachePolicy:
        return CachePolicy(expiry=None, scopes={"judge": template.name, "attempt": attempt})

    messages = judge_messages(template, ground_truth, candidates)
    first = await model.generate(messages, config=config, cache=cache("1"))
    answer = _answer_from(options, first, [first.completion], count, "text", follow_up=False)
    if answer is not None:
        return answer

    if options.retry == "repeat":
        second = await model.generate(messages, config=config, cache=cache("2"))
        follow_up = False
        retried: VerdictSource = "repeat"
    else:
        follow_up_template = (
            resolve_template(options.follow_up_prompt) if options.follow_up_prompt else None
        )
        second = await model.generate(
            follow_up_messages(messages, first, count, follow_up_template),
            config=config.merge(GenerateConfig(max_tokens=FOLLOW_UP_MAX_TOKENS)),
            cache=cache("follow_up"),
        )
        follow_up = True
        retried = "follow_up"
    answers = [first.completion, second.completion]
    answer = _answer_from(options, second, answers, count, retried, follow_up=follow_up)
    if answer is not None:
        return answer
    mass = _mass_of(options, second, count, follow_up) if options.verdict == "logprobs" else None
    return JudgeAnswer(None, answers, None, None, mass)


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
    prompt: PromptChoice = None,
    max_tokens: int = 512,
    verdict: VerdictMode = "text",
    retry: RetryMode = "follow_up",
    top_logprobs: int = 20,
    verdict_pattern: str | list[str] | None = None,
    follow_up_prompt: str | None = None,
    role: str = "judge",
    temperature: float | None = None,
    min_candidate_mass: float = MIN_CANDIDATE_MASS,
    name: str = "llm",
) -> Scorer:
    """Judge a pair with a model role in orders AB and BA; retry an answer without a verdict.

    Args:
        tie_policy: how orders that disagree or fail count (recorded with the verdicts).
        prompt: the judge prompt: None (per text kind, prefbench's), a template name or
            file for every sample, or text kind → template (`prefbench.scorers.judge_prompts`).
        max_tokens: the judge's answer budget (reasoning + verdict).
        verdict: ``"text"`` (the ``<winner>`` tag or `verdict_pattern`) or ``"logprobs"``
            (the probabilities of the candidate numbers at the verdict position; a confidence
            per order, `soft_score` per pair).
        retry: ``"follow_up"`` (ask for the format in a follow-up turn) or ``"repeat"``.
        top_logprobs: how many top tokens per position the provider returns (``logprobs``).
        verdict_pattern: one regular expression, or several tried in order, whose first
            group is the candidate number; None for the ``<winner>`` rules.
        follow_up_prompt: the follow-up turn's template; None for prefbench's.
        role: the model role that judges.
        temperature: the judge's temperature; None keeps the role's (0).
        min_candidate_mass: the least probability the candidate numbers need at the verdict
            position for a log-probability verdict.
        name: the judge's registered name, kept in each score's metadata.
    """
    options = judge_options(
        max_tokens, verdict, retry, top_logprobs, verdict_pattern, follow_up_prompt,
        temperature, min_candidate_mass,
    )  # fmt: skip

    async def score(state: TaskState, target: Target) -> Score:
        model = get_model(role=role)
        pair = state.metadata_as(PairSampleMetadata)
        template = template_for_kind(prompt, pair.text_kind)
        shown = {
            "ab": [pair.candidate_a, pair.candidate_b],
            "ba": [pair.candidate_b, pair.candidate_a],
        }
        answers = await collect(
            *(ask_judge(model, template, target.text, shown[order], options) for order in ORDERS)
        )
        verdicts: dict[Order, JudgeAnswer] = dict(zip(ORDERS, answers, strict=True))
        probabilities = {order: answer.probabilities for order, answer in verdicts.items()}
        details = {
            "template": template.name,
            "verdict_mode": verdict,
            "answers_ab": verdicts["ab"].answers,
            "answers_ba": verdicts["ba"].answers,
            "verdict_source_ab": verdicts["ab"].source,
            "verdict_source_ba": verdicts["ba"].source,
            "probabilities_ab": verdicts["ab"].probabilities,
            "probabilities_ba": verdicts["ba"].probabilities,
            "candidate_mass_ab": verdicts["ab"].mass,
            "candidate_mass_ba": verdicts["ba"].mass,
            "soft_score": soft_score_a(probabilities),
        }
        return pair_score(verdicts["ab"].winner, verdicts["ba"].winner, tie_policy, name, details)

    return score


def judge_options(
    max_tokens: int,
    verdict: VerdictMode,
    retry: RetryMode,
    top_logprobs: int,
    verdict_pattern: str | list[str] | None,
    follow_up_prompt: str | None,
    temperature: float | None,
    min_candidate_mass: float,
) -> JudgeOptions:
    """The `JudgeOptions` of an LLM judge scorer's arguments."""
    patterns = (verdict_pattern,) if isinstance(verdict_pattern, str) else verdict_pattern
    return JudgeOptions(
        max_tokens=max_tokens,
        verdict=verdict,
        retry=retry,
        top_logprobs=top_logprobs,
        verdict_pattern=tuple(patterns or ()),
        follow_up_prompt=follow_up_prompt,
        temperature=temperature,
        min_candidate_mass=min_candidate_mass,
    )
