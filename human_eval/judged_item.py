"""One exported pair with the judge's outcome and the annotators' current answers.

Its own module so that :mod:`prefbench.human_eval.attach` (which reads them from the judge logs) and
:mod:`prefbench.human_eval.agreement` (which computes statistics over them) both sit above it and
neither imports the other back.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from prefbench.scorers.outcome import PairOutcome

__all__ = ["JudgedItem"]


@dataclass(frozen=True)
class JudgedItem:
    """One exported pair: the LLM judge's outcome and the annotators' current answers.

    Attributes:
        item_id: The blinded item's id (``item-0001``).
        system_a: The reference system of the comparison.
        system_b: The other system.
        user: The user the record belongs to (bootstrap clusters of the win rates).
        llm: The judge's outcome for system A (tie policy applied).
        human: Annotator name → ``"win"`` or ``"loss"`` for system A.
    """

    item_id: str
    system_a: str
    system_b: str
    user: str
    llm: PairOutcome
    human: Mapping[str, str]
