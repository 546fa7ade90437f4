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

:func:`winner_probabilities` reads the verdict from the judge's log-probabilities instead
(the judge's ``verdict: logprobs`` mode): the probability the judge gave each candidate
number at the token right after its last ``<winner>`` tag, among the top log-probabilities
the provider returned, renormalized over the candidates. It always gives a verdict when a
candidate number is among those tokens, and a confidence (the winner's probability). Only
single-token numbers can be read (1 to 9 in the tokenizers we use); a number whose token is
not among the top ones gets probability 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from inspect_ai.model import Logprob

__all__ = ["parse_winner", "winner_probabilities"]

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


def _token_text(token: str) -> str:
    """A token as text: the tokenizer's space and newline markers turned back into spaces."""
    return token.translate(_SPACE_MARKERS)


def _candidate_probabilities(position: Logprob, num_candidates: int) -> list[float] | None:
    """The candidates' probabilities at one token position, renormalized; None if none is there."""
    mass = [0.0] * num_candidates
    for top in position.top_logprobs or [Logprob(token=position.token, logprob=position.logprob)]:
        text = _token_text(top.token).strip()
        if text.isdigit() and 1 <= int(text) <= num_candidates:
            mass[int(text) - 1] += math.exp(top.logprob)
    total = sum(mass)
    return [value / total for value in mass] if total > 0 else None


def winner_probabilities(
    tokens: Sequence[Logprob], num_candidates: int = 2, first_number: bool = False
) -> list[float] | None:
    """Each candidate's probability as the judge's verdict, read from its log-probabilities.

    Args:
        tokens: the answer's tokens with their top log-probabilities (inspect's
            `ModelOutput.choices[0].logprobs.content`).
        num_candidates: how many candidates the judge saw.
        first_number: when the answer has no ``<winner>`` tag, read the first position where
            a candidate number is among the top tokens (for a follow-up turn that asked for
            the verdict alone), except right after "candidate" (an echoed ``<candidate_1>``
            names a candidate, it does not choose one); False leaves such an answer without
            a verdict.

    Returns:
        One probability per candidate (1-based order, summing to 1) at the position after the
        last ``<winner>`` tag (skipping whitespace tokens), or at the first number when
        allowed; None when there is no such position or no candidate number among its tokens.
    """
    if num_candidates < 1:
        raise ValueError(f"num_candidates must be at least 1, got {num_candidates!r}")
    after_tag = None
    text = ""
    for index, token in enumerate(tokens):
        if _OPEN_TAG_AT_END.search(text) and _token_text(token.token).strip():
            after_tag = index
        text += _token_text(token.token)
    if after_tag is not None:
        return _candidate_probabilities(tokens[after_tag], num_candidates)
    if first_number:
        text = ""
        for token in tokens:
            if not _CANDIDATE_NAME_AT_END.search(text):
                probabilities = _candidate_probabilities(token, num_candidates)
                if probabilities is not None:
                    return probabilities
            text += _token_text(token.token)
    return None
