"""Parse a judge's answer: which of the candidates (two, or N at once) is closest to the truth.

The judge prompt asks for the answer as ``<winner>N</winner>``, N being the 1-based number of
the candidate closest to what the person really wrote. :func:`parse_winner` turns the judge's
raw text into that number, or ``None`` when the answer cannot be used; the caller records
``None`` as a parse failure (it is never guessed into a win or a loss).

Rules, in order:

1. Reasoning blocks are removed first: everything inside ``<thinking>…</thinking>`` or
   ``<reasoning>…</reasoning>`` (tag names case-insensitive) is ignored, including any
   ``<winner>`` tag written there, because a judge thinking aloud ("maybe <winner>1</winner>?")
   has not answered yet. A reasoning block that is opened and never closed runs to the end of
   the text, so nothing after its opening tag counts.
2. Every ``<winner>`` tag left must be closed by ``</winner>``; one unclosed tag makes the
   whole answer unusable.
3. Each tag's content must be a number, optionally led by one word and/or ``#``
   ("2", "Candidate 2", "Email #2", "#2"); surrounding whitespace and newlines, markdown
   emphasis (``*``, ``_``, backticks), quotes and a trailing period are tolerated. Anything
   else ("", "two", "1 or 2", "1.5") makes the answer unusable.
4. The number must lie in ``1..num_candidates``.
5. Several ``<winner>`` tags are fine when they all give the same number; if they disagree,
   or any of them is unusable, the answer is unusable.

A profile may replace rules 1–5 by its own regular expressions (`verdict_pattern`, an
Arena-Hard-style regex whose first group is the candidate number): :func:`parse_with_patterns`
tries the patterns in order, and the first one that matches decides; all its matches must give
the same number, in ``1..num_candidates``.

:func:`read_logprob_verdict` reads the verdict from the judge's log-probabilities instead (the
judge's ``verdict: logprobs`` mode), at one token position: the token right after the last
``<winner>`` tag (or where a `verdict_pattern`'s group starts), or, for a follow-up turn that
asked for the number alone, the first token the judge actually wrote as a candidate number.
There it adds up the probability of each candidate number among the top tokens the provider
returned. Honest about what it cannot see:

- the candidates' **mass** (their summed probability at that position) must reach
  :data:`MIN_CANDIDATE_MASS` (0.5: the judge is more likely to answer with a candidate number
  than with anything else there); below it the order has no verdict (a parse failure after
  the retry), never a renormalised certainty;
- a candidate whose number is not among the top tokens is not given probability 0: it gets
  the most it could have had (the smaller of the last listed token's probability and the
  probability left outside the listed tokens), so the winner's confidence is a lower bound.

Only single-token numbers can be read (1 to 9 in the tokenizers we use).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from inspect_ai.model import Logprob, TopLogprob

__all__ = [
    "MIN_CANDIDATE_MASS",
    "LogprobVerdict",
    "compile_patterns",
    "parse_with_patterns",
    "parse_winner",
    "read_logprob_verdict",
]

MIN_CANDIDATE_MASS = 0.5
"""The least summed probability the candidate numbers must have at the verdict position for a
log-probability verdict (below it the order has no verdict)."""

_REASONING_BLOCK = re.compile(
    r"<\s*(thinking|reasoning)\s*>.*?(?:<\s*/\s*\1\s*>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_WINNER_OPEN = re.compile(r"<\s*winner\s*>", re.IGNORECASE)
_WINNER_TAG = re.compile(r"<\s*winner\s*>(.*?)<\s*/\s*winner\s*>", re.IGNORECASE | re.DOTALL)
_WINNER_CONTENT = re.compile(r"(?:[A-Za-z]+\s*)?(?:#\s*)?([+-]?\d+)")
_DECORATION = " \t\r\n*_`'\""
_MAX_DIGITS = 18  # longer numbers are out of range anyway (and int() refuses > 4300 digits)
_OPEN_TAG_AT_END = re.compile(r"<\s*winner\s*>\s*$", re.IGNORECASE)
_CANDIDATE_NAME_AT_END = re.compile(r"candidate[\s_#]*$", re.IGNORECASE)
"""A number right after "candidate" names a candidate (an echoed `<candidate_1>`), not a verdict."""
_SPACE_MARKERS = str.maketrans({"\u0120": " ", "\u2581": " ", "\u010a": "\n"})
"""Byte-level BPE (Ġ, Ċ) and SentencePiece (▁) spellings of spaces and newlines in tokens."""


def _content_number(content: str) -> int | None:
    """The candidate number written inside one ``<winner>`` tag, or None if there is none."""
    cleaned = content.strip(_DECORATION).removesuffix(".").strip(_DECORATION)
    match = _WINNER_CONTENT.fullmatch(cleaned)
    if match is None or len(match.group(1).lstrip("+-0")) > _MAX_DIGITS:
        return None
    return int(match.group(1))


def parse_winner(text: str, num_candidates: int = 2) -> int | None:
    """Return the 1-based candidate number the judge chose, or None if the answer is unusable.

    Args:
        text: The judge's raw completion. It should contain ``<winner>N</winner>``; reasoning
            outside the tag, and anything inside ``<thinking>``/``<reasoning>`` blocks, is
            ignored.
        num_candidates: How many candidates the judge saw; N must lie in ``1..num_candidates``.

    Returns:
        N, or None when there is no usable answer: no tag, an empty or non-numeric tag, a
        number out of range (0, negative, above ``num_candidates``), an unclosed tag, or
        several tags that disagree (repeats of the same number are accepted). The module
        docstring lists the exact rules.

    Raises:
        ValueError: If ``num_candidates`` is below 1.
    """
    if num_candidates < 1:
        raise ValueError(f"num_candidates must be at least 1, got {num_candidates!r}")

    answer = _REASONING_BLOCK.sub(" ", text)
    tags = _WINNER_TAG.findall(answer)
    if not tags or len(_WINNER_OPEN.findall(answer)) != len(tags):
        return None

    numbers = {_content_number(content) for content in tags}
    if len(numbers) != 1:
        return None
    (winner,) = numbers
    if winner is None or not 1 <= winner <= num_candidates:
        return None
    return winner


def compile_patterns(patterns: str | Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """Verdict patterns compiled (``re.DOTALL``); a `ValueError` naming a bad one.

    Each must compile and have at least one group; the first group is the candidate number.
    """
    texts = [patterns] if isinstance(patterns, str) else list(patterns)
    if not texts:
        raise ValueError("verdict_pattern needs at least one regular expression")
    compiled = []
    for text in texts:
        try:
            pattern = re.compile(text, re.DOTALL)
        except re.error as error:
            raise ValueError(
                f"verdict_pattern {text!r} is not a regular expression: {error}"
            ) from None
        if pattern.groups < 1:
            raise ValueError(
                f"verdict_pattern {text!r} has no group: put the candidate number in one, "
                r"e.g. '<winner>\s*(\d+)\s*</winner>'"
            )
        compiled.append(pattern)
    return tuple(compiled)


def _group_number(match: re.Match[str]) -> int | None:
    digits = (match.group(1) or "").strip()
    if not digits.isdigit() or len(digits) > _MAX_DIGITS:
        return None
    return int(digits)


def parse_with_patterns(
    text: str, patterns: Sequence[re.Pattern[str]], num_candidates: int = 2
) -> int | None:
    """The candidate number the first matching pattern reads, or None.

    Patterns are tried in order; the first that matches at all decides (later ones are
    fallbacks). All its matches must give the same number, in ``1..num_candidates``;
    otherwise the answer is unusable (None), as with `parse_winner`.
    """
    if num_candidates < 1:
        raise ValueError(f"num_candidates must be at least 1, got {num_candidates!r}")
    for pattern in patterns:
        matches = list(pattern.finditer(text))
        if not matches:
            continue
        numbers = {_group_number(match) for match in matches}
        if len(numbers) != 1:
            return None
        (winner,) = numbers
        return winner if winner is not None and 1 <= winner <= num_candidates else None
    return None


def _token_text(token: str) -> str:
    """A token as text: the tokenizer's space and newline markers turned back into spaces."""
    return token.translate(_SPACE_MARKERS)


def _candidate_number(token: str, num_candidates: int) -> int | None:
    text = _token_text(token).strip()
    return int(text) if text.isdigit() and 1 <= int(text) <= num_candidates else None


@dataclass(frozen=True)
class LogprobVerdict:
    """What the log-probabilities at the verdict position say.

    Attributes:
        position: the index of the token read.
        mass: the candidate numbers' summed probability there (among the top tokens).
        probabilities: each candidate's probability (1-based order, summing to 1; an unseen
            candidate gets the most it could have had); None when `mass` is below the
            threshold: no verdict.
    """

    position: int
    mass: float
    probabilities: list[float] | None


def _reading(
    tokens: Sequence[Logprob], index: int, num_candidates: int, min_mass: float
) -> LogprobVerdict:
    """The candidates' probabilities at one token position (`LogprobVerdict`)."""
    token = tokens[index]
    tops = token.top_logprobs or [TopLogprob(token=token.token, logprob=token.logprob)]
    listed = [math.exp(top.logprob) for top in tops]
    seen = [0.0] * num_candidates
    for top, probability in zip(tops, listed, strict=True):
        number = _candidate_number(top.token, num_candidates)
        if number is not None:
            seen[number - 1] += probability
    mass = sum(seen)
    if mass <= 0 or mass < min_mass:
        return LogprobVerdict(index, mass, None)
    unseen_at_most = max(0.0, min(min(listed), 1.0 - sum(listed)))
    chances = [value if value > 0 else unseen_at_most for value in seen]
    total = sum(chances)
    return LogprobVerdict(index, mass, [value / total for value in chances])


def _token_starts(tokens: Sequence[Logprob]) -> tuple[str, list[int]]:
    """The tokens' text joined, and the character offset where each token starts."""
    starts, text = [], ""
    for token in tokens:
        starts.append(len(text))
        text += _token_text(token.token)
    return text, starts


def _after_last_tag(tokens: Sequence[Logprob]) -> int | None:
    after_tag, text = None, ""
    for index, token in enumerate(tokens):
        if _OPEN_TAG_AT_END.search(text) and _token_text(token.token).strip():
            after_tag = index
        text += _token_text(token.token)
    return after_tag


def _first_written_number(tokens: Sequence[Logprob], num_candidates: int) -> int | None:
    """The first token the judge wrote as a candidate number, not right after "candidate"."""
    text = ""
    for index, token in enumerate(tokens):
        if _candidate_number(token.token, num_candidates) is not None and not (
            _CANDIDATE_NAME_AT_END.search(text)
        ):
            return index
        text += _token_text(token.token)
    return None


def _pattern_position(tokens: Sequence[Logprob], patterns: Sequence[re.Pattern[str]]) -> int | None:
    """The token where the last match of the first matching pattern's group starts."""
    text, starts = _token_starts(tokens)
    for pattern in patterns:
        matches = list(pattern.finditer(text))
        if matches:
            offset = matches[-1].start(1)
            return max(index for index, start in enumerate(starts) if start <= offset)
    return None


def read_logprob_verdict(
    tokens: Sequence[Logprob],
    num_candidates: int = 2,
    *,
    first_number: bool = False,
    patterns: Sequence[re.Pattern[str]] = (),
    min_mass: float = MIN_CANDIDATE_MASS,
) -> LogprobVerdict | None:
    """The judge's verdict read from its log-probabilities (module docstring).

    Args:
        tokens: the answer's tokens with their top log-probabilities (inspect's
            `ModelOutput.choices[0].logprobs.content`).
        num_candidates: how many candidates the judge saw.
        first_number: when the answer has no verdict position (no ``<winner>`` tag, no
            pattern match), read the first token the judge wrote as a candidate number (for
            a follow-up turn that asked for the number alone); an echoed ``<candidate_1>``
            names a candidate and is skipped.
        patterns: verdict patterns; when given, the position is where the last match of the
            first matching pattern's group starts, instead of after the ``<winner>`` tag.
        min_mass: the least summed probability of the candidates at that position.

    Returns:
        None when there is no verdict position; else the `LogprobVerdict` there, whose
        `probabilities` are None when the candidates' mass is below `min_mass`.
    """
    if num_candidates < 1:
        raise ValueError(f"num_candidates must be at least 1, got {num_candidates!r}")
    index = _pattern_position(tokens, patterns) if patterns else _after_last_tag(tokens)
    if index is None and first_number:
        index = _first_written_number(tokens, num_candidates)
    if index is None:
        return None
    return _reading(tokens, index, num_candidates, min_mass)
