import math

import pytest
from inspect_ai.model import Logprob, TopLogprob

from prefbench.scorers.verdict import parse_winner, winner_probabilities

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


# --- winner_probabilities: the verdict read from log-probabilities --------------------------


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


def test_probabilities_after_the_tag_are_renormalized_over_the_candidates() -> None:
    answer = tokens("Ġfine", "<", "winner", ">", {"2": 0.6, "1": 0.2, "the": 0.2}, "</", "winner")
    assert winner_probabilities(answer) == pytest.approx([0.25, 0.75])


def test_space_tokens_after_the_tag_are_skipped_and_markers_read_as_spaces() -> None:
    byte_level = tokens("<", "winner", ">", "Ġ", {"Ġ1": 0.9, "Ġ2": 0.1})
    sentencepiece = tokens("<winner>", {"▁1": 0.3, "▁2": 0.3, "▁3": 0.4})
    assert winner_probabilities(byte_level) == pytest.approx([0.9, 0.1])
    assert winner_probabilities(sentencepiece, num_candidates=3) == pytest.approx([0.3, 0.3, 0.4])


def test_the_last_tag_counts_and_numbers_out_of_range_are_ignored() -> None:
    answer = tokens(
        "<", "winner", ">", {"1": 1.0}, "</winner>", "Ġno,Ġ", "<", "winner", ">",
        {"2": 0.5, "7": 0.4, "0": 0.1},
    )  # fmt: skip
    assert winner_probabilities(answer) == pytest.approx([0.0, 1.0])


def test_no_tag_is_no_verdict_unless_the_first_number_is_allowed() -> None:
    answer = tokens("The", "Ġanswer", "Ġis", {"Ġ2": 0.7, "Ġ1": 0.3}, ".")
    assert winner_probabilities(answer) is None
    assert winner_probabilities(answer, first_number=True) == pytest.approx([0.3, 0.7])


def test_a_tag_with_no_candidate_number_among_the_top_tokens_is_no_verdict() -> None:
    answer = tokens("<", "winner", ">", {"Candidate": 0.9, "Email": 0.1})
    assert winner_probabilities(answer) is None
    assert winner_probabilities([]) is None
    with pytest.raises(ValueError, match="num_candidates"):
        winner_probabilities(answer, num_candidates=0)


def test_an_echoed_candidate_tag_is_not_a_verdict() -> None:
    echo = tokens("The", "Ġemail", "Ġis:", "Ġ<", "candidate", "_", {"1": 1.0}, ">", "ĠDear")
    assert winner_probabilities(echo, first_number=True) is None
    later = [*echo, position("Ġso", {"Ġso": 0.5, "Ġ2": 0.4, "Ġ1": 0.1})]
    assert winner_probabilities(later, first_number=True) == pytest.approx([0.2, 0.8])
