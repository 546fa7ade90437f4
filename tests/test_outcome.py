import pytest

from prefbench.scorers.outcome import TIE_POLICIES, PairOutcome, combine_orders, preferred_system


def test_tie_policies() -> None:
    assert TIE_POLICIES == ("inconsistent_is_tie", "each_order_half")


@pytest.mark.parametrize(
    ("order", "winner", "expected"),
    [
        ("ab", 1, "a"),
        ("ab", 2, "b"),
        ("ba", 1, "b"),
        ("ba", 2, "a"),
        ("ab", None, None),
        ("ba", None, None),
    ],
)
def test_preferred_system(order: str, winner: int | None, expected: str | None) -> None:
    assert preferred_system(order, winner) == expected  # type: ignore[arg-type]


def test_preferred_system_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="'xy'"):
        preferred_system("xy", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="3"):
        preferred_system("ab", 3)


# (winner_ab, winner_ba) -> expected PairOutcome.  In "ab" candidate 1 is A; in "ba" it is B.
INCONSISTENT_IS_TIE = {
    (1, 2): PairOutcome("win", 1.0, True),
    (2, 1): PairOutcome("loss", 0.0, True),
    (1, 1): PairOutcome("tie", 0.5, False),  # always picks first position
    (2, 2): PairOutcome("tie", 0.5, False),  # always picks second position
    (1, None): PairOutcome("parse_failure", None, None),
    (2, None): PairOutcome("parse_failure", None, None),
    (None, 1): PairOutcome("parse_failure", None, None),
    (None, 2): PairOutcome("parse_failure", None, None),
    (None, None): PairOutcome("parse_failure", None, None),
}

EACH_ORDER_HALF = {
    (1, 2): PairOutcome("win", 1.0, True),
    (2, 1): PairOutcome("loss", 0.0, True),
    (1, 1): PairOutcome("tie", 0.5, False),
    (2, 2): PairOutcome("tie", 0.5, False),
    (1, None): PairOutcome("win", 1.0, None),
    (2, None): PairOutcome("loss", 0.0, None),
    (None, 2): PairOutcome("win", 1.0, None),
    (None, 1): PairOutcome("loss", 0.0, None),
    (None, None): PairOutcome("parse_failure", None, None),
}


@pytest.mark.parametrize(("winners", "expected"), INCONSISTENT_IS_TIE.items())
def test_inconsistent_is_tie(winners: tuple, expected: PairOutcome) -> None:
    assert combine_orders(*winners) == expected
    assert combine_orders(*winners, tie_policy="inconsistent_is_tie") == expected


@pytest.mark.parametrize(("winners", "expected"), EACH_ORDER_HALF.items())
def test_each_order_half(winners: tuple, expected: PairOutcome) -> None:
    assert combine_orders(*winners, tie_policy="each_order_half") == expected


def test_bad_tie_policy_names_value_and_allowed() -> None:
    with pytest.raises(ValueError) as error:
        combine_orders(1, 2, tie_policy="coin_flip")  # type: ignore[arg-type]
    message = str(error.value)
    assert "coin_flip" in message
    assert all(policy in message for policy in TIE_POLICIES)


def test_out_of_range_winner_raises() -> None:
    with pytest.raises(ValueError):
        combine_orders(3, 1)


def test_pair_outcome_is_frozen() -> None:
    with pytest.raises(AttributeError):
        combine_orders(1, 2).score = 0.0  # type: ignore[misc]
