import math

import pytest
from inspect_ai.model import Logprob, TopLogprob

from prefbench.scorers.verdict import (
    MIN_CANDIDATE_MASS,
    compile_patterns,
    parse_winner,
    parse_with_patterns,
    read_logprob_verdict,
)

VALID = [
    ("<winner>1</winner>", 1),
    ("<winner>2</winner>", 2),
    ("Candidate 1 keeps the greeting, but 2 matches the sign-off.\n<winner>2</winner>", 2),
    ("<winner> 2 </winner>", 2),
    ("<winner>\n  1\n</winner>", 1),
    ("<WINNER>2</WINNER>", 2),
    ("<Winner>1</winner>", 1),
    ("< winner >2</ winner >", 2),
    ("<winner>Candidate 2</winner>", 2),
    ("<winner>candidate 1</winner>", 1),
    ("<winner>Email 2</winner>", 2),
    ("<winner>Email #2</winner>", 2),
    ("<winner>#2</winner>", 2),
    ("<winner>**2**</winner>", 2),
    ("<winner>2.</winner>", 2),
    ("<winner>2</winner> After all, <winner>2</winner>", 2),
    # Reasoning blocks are ignored, whatever they mention.
    ("<thinking>Candidate 1 has 3 typos, candidate 2 has 0.</thinking><winner>1</winner>", 1),
    ("<thinking>At first <winner>1</winner>, but no.</thinking>\n<winner>2</winner>", 2),
    ("<reasoning>maybe <winner>2</winner></reasoning><winner>1</winner>", 1),
    ("<THINKING>an unclosed <winner> here</THINKING><winner>2</winner>", 2),
    ("<thinking>a</thinking><winner>1</winner><thinking><winner>2</winner></thinking>", 1),
    ("Both are close; 2 is longer, 1 is terser.\n\n<winner>1</winner>\nThanks.", 1),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_answers(text: str, expected: int) -> None:
    assert parse_winner(text) == expected


MALFORMED = [
    "",
    "Candidate 2 is closest.",
    "winner: 2",
    "<winner></winner>",
    "<winner>   \n </winner>",
    "<winner>two</winner>",
    "<winner>1 or 2</winner>",
    "<winner>1.5</winner>",
    "<winner>Candidate</winner>",
    "<winner>0</winner>",
    "<winner>3</winner>",
    "<winner>-1</winner>",
    "<winner>99</winner>",
    "<winner>1</winner> on reflection <winner>2</winner>",
    "<winner>2</winner><winner></winner>",
    "<winner>2",
    "<winner>2</winner> and then <winner>2",
    "2</winner>",
    # Only a thinking block mentions a winner: no answer.
    "<thinking>I lean to <winner>1</winner></thinking> Hard to say.",
    # An unclosed thinking block runs to the end, hiding the tag after it.
    "<thinking>long analysis... <winner>1</winner>",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_answers_are_none(text: str) -> None:
    assert parse_winner(text) is None


def test_num_candidates_sets_the_range() -> None:
    assert parse_winner("<winner>3</winner>", num_candidates=3) == 3
    assert parse_winner("<winner>4</winner>", num_candidates=3) is None
    assert parse_winner("<winner>2</winner>", num_candidates=1) is None


def test_bad_num_candidates_raises() -> None:
    with pytest.raises(ValueError, match="num_candidates"):
        parse_winner("<winner>1</winner>", num_candidates=0)


# --- read_logprob_verdict: the verdict read from log-probabilities -------------------------


def position(token: str, tops: dict[str, float] | None = None) -> Logprob:
    """One generated token; `tops` are its top alternatives and their probabilities."""
    alternatives = tops or {token: 1.0}
    return Logprob(
        token=token,
        logprob=0.0,
        top_logprobs=[TopLogprob(token=t, logprob=math.log(p)) for t, p in alternatives.items()],
    )


def tokens(*pieces: str | dict[str, float]) -> list[Logprob]:
    """Tokens from strings; a dict is a verdict position (its most probable token generated)."""
    return [
        position(max(piece, key=piece.__getitem__), piece)
        if isinstance(piece, dict)
        else position(piece)
        for piece in pieces
    ]


def probabilities(answer: list[Logprob], **options) -> list[float] | None:
    reading = read_logprob_verdict(answer, **options)
    return None if reading is None else reading.probabilities


def test_probabilities_after_the_tag_are_renormalized_over_the_candidates() -> None:
    answer = tokens("Ġfine", "<", "winner", ">", {"2": 0.6, "1": 0.2, "the": 0.2}, "</", "winner")
    reading = read_logprob_verdict(answer)
    assert reading is not None and reading.position == 4
    assert reading.mass == pytest.approx(0.8)
    assert reading.probabilities == pytest.approx([0.25, 0.75])


def test_space_tokens_after_the_tag_are_skipped_and_markers_read_as_spaces() -> None:
    byte_level = tokens("<", "winner", ">", "Ġ", {"Ġ1": 0.9, "Ġ2": 0.1})
    sentencepiece = tokens("<winner>", {"▁1": 0.3, "▁2": 0.3, "▁3": 0.4})
    assert probabilities(byte_level) == pytest.approx([0.9, 0.1])
    assert probabilities(sentencepiece, num_candidates=3) == pytest.approx([0.3, 0.3, 0.4])


def test_the_last_tag_counts_and_numbers_out_of_range_are_ignored() -> None:
    answer = tokens(
        "<", "winner", ">", {"1": 1.0}, "</winner>", "Ġno,Ġ", "<", "winner", ">",
        {"2": 0.5, "7": 0.4, "0": 0.1},
    )  # fmt: skip
    # "1" is not among the top tokens, which cover all the probability: it had none
    assert probabilities(answer) == pytest.approx([0.0, 1.0])


def test_a_single_seen_candidate_is_never_renormalised_to_certainty() -> None:
    """The issue's SmolLM2 case: only "1" among the top tokens gave exactly [1.0, 0.0]."""
    answer = tokens("<", "winner", ">", {"1": 0.6, "Candidate": 0.2, "Ġ": 0.15, "Email": 0.01})
    reading = read_logprob_verdict(answer)
    assert reading is not None and reading.mass == pytest.approx(0.6)
    # "2" could have had at most min(0.01, 1 - 0.96) = 0.01
    assert reading.probabilities == pytest.approx([0.6 / 0.61, 0.01 / 0.61])
    assert reading.probabilities[0] < 1.0


def test_too_little_candidate_mass_is_no_verdict() -> None:
    answer = tokens("<", "winner", ">", {"Candidate": 0.7, "1": 0.2, "2": 0.1})
    reading = read_logprob_verdict(answer)
    assert reading is not None and reading.mass == pytest.approx(0.3)
    assert reading.probabilities is None
    assert MIN_CANDIDATE_MASS == 0.5
    assert probabilities(answer, min_mass=0.25) == pytest.approx([2 / 3, 1 / 3])


def test_no_tag_is_no_verdict_unless_the_first_written_number_is_allowed() -> None:
    answer = tokens("The", "Ġanswer", "Ġis", {"Ġ2": 0.7, "Ġ1": 0.3}, ".")
    assert read_logprob_verdict(answer) is None
    assert probabilities(answer, first_number=True) == pytest.approx([0.3, 0.7])


def test_a_number_among_the_alternatives_of_another_token_is_not_a_verdict() -> None:
    """Only a token the judge wrote as a number is read, never a top-20 alternative elsewhere."""
    answer = tokens("I", {"Ġthink": 0.9, "Ġ1": 0.05}, "Ġit", {"Ġis": 0.8, "Ġ2": 0.01})
    assert read_logprob_verdict(answer, first_number=True) is None


def test_a_tag_with_no_candidate_number_among_the_top_tokens_is_no_verdict() -> None:
    answer = tokens("<", "winner", ">", {"Candidate": 0.9, "Email": 0.1})
    reading = read_logprob_verdict(answer)
    assert reading is not None and reading.mass == 0 and reading.probabilities is None
    assert read_logprob_verdict([]) is None
    with pytest.raises(ValueError, match="num_candidates"):
        read_logprob_verdict(answer, num_candidates=0)


def test_an_echoed_candidate_tag_is_not_a_verdict() -> None:
    echo = tokens("The", "Ġemail", "Ġis:", "Ġ<", "candidate", "_", {"1": 1.0}, ">", "ĠDear")
    assert read_logprob_verdict(echo, first_number=True) is None
    later = [*echo, position("Ġ2", {"Ġ2": 0.8, "Ġ1": 0.2})]
    assert probabilities(later, first_number=True) == pytest.approx([0.2, 0.8])


def test_a_pattern_sets_the_verdict_position() -> None:
    patterns = compile_patterns(r"\[\[(\d)\]\]")
    answer = tokens("A", "Ġis", "Ġcloser:", "Ġ[[", {"2": 0.9, "1": 0.1}, "]]")
    assert probabilities(answer, patterns=patterns) == pytest.approx([0.1, 0.9])
    assert read_logprob_verdict(answer) is None  # no <winner> tag: no position by default


# --- verdict patterns ------------------------------------------------------------------------

PAPER = [
    r"<winner>\s*(?:<!--.*?-->\s*)?(?:email_|article_)?(\d+)\s*</winner>",
    r"Winner:\s*(\d+)",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<evaluation>email_1 is terse</evaluation>\n<winner>\n2\n</winner>", 2),
        ("<winner>email_1</winner>", 1),
        ("<winner><!-- display only x --> 2</winner>", 2),
        ("Email 1: formal. Email 2: casual. Winner: 2", 2),
        ("<winner>1</winner> ... Winner: 2", 1),  # the first pattern that matches decides
        ("<winner>1</winner><winner>2</winner>", None),  # disagreeing matches
        ("<winner>3</winner>", None),  # out of range
        ("no verdict at all", None),
    ],
)
def test_paper_patterns(text: str, expected: int | None) -> None:
    assert parse_with_patterns(text, compile_patterns(PAPER)) == expected


def test_bad_patterns_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="no group"):
        compile_patterns(r"<winner>\d</winner>")
    with pytest.raises(ValueError, match="not a regular expression"):
        compile_patterns("(unclosed")
    with pytest.raises(ValueError, match="at least one"):
        compile_patterns([])
