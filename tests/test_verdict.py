import pytest

from scorers.verdict import parse_winner

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
