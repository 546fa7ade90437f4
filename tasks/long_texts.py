"""Texts longer than the models' context window: cut them, or leave their records out.

`limit_text_lengths` applies a profile's stated policy to records before any model sees
them (the records stage calls it): `truncate` cuts a record's `content` and
`previous_context` to `max_tokens` tokens and records each original length in the record's
`truncated` metadata (e.g. ``"content=120455"``), which prompts never show; `drop` leaves
the record out. `TextLengthOutcome` counts what happened, for the console and the report.
Token counts come from a counter the caller passes (a tokenizer or an estimate).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from prefbench.tasks.records import Record

TokenCount = Callable[[str], int]
LongTextAction = Literal["truncate", "drop"]
TRUNCATED_FIELD = "truncated"
"""Record metadata naming each cut text and its original token count (never in prompts)."""
MAX_CHARS_PER_TOKEN = 16
"""No token of natural text is longer: a text is first cut to `16 × max_tokens` characters,
so a multi-megabyte article is never tokenized whole."""


@dataclass(frozen=True)
class TextLengthOutcome:
    """What the policy did: the limit, how it counted, and the records it cut or left out."""

    policy: LongTextAction
    max_text_tokens: int
    counted_with: str
    records: int
    truncated: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """The report.json `long_texts` section."""
        return {
            "policy": self.policy,
            "max_text_tokens": self.max_text_tokens,
            "counted_with": self.counted_with,
            "records": self.records,
            "truncated": len(self.truncated),
            "dropped": len(self.dropped),
            "truncated_ids": self.truncated,
            "dropped_ids": self.dropped,
        }

    def line(self) -> str:
        """One console line, e.g. "long texts (> 4096 tokens, ...): 2 truncated, 0 dropped"."""
        return outcome_line(self.summary())


def outcome_line(summary: Mapping[str, Any]) -> str:
    """The console line of a `long_texts` summary (`TextLengthOutcome.summary`)."""
    return (
        f"long texts (> {summary.get('max_text_tokens')} tokens, {summary.get('counted_with')}; "
        f"policy {summary.get('policy')}): {summary.get('truncated')} truncated, "
        f"{summary.get('dropped')} dropped of {summary.get('records')} records"
    )


def truncate_text(text: str, max_tokens: int, count: TokenCount) -> str:
    """The longest prefix of `text` that counts at most `max_tokens` tokens (`text` if it fits).

    The prefix is found by bisection over characters, so cutting an already cut text again
    changes nothing.
    """
    if count(text) <= max_tokens:
        return text
    low, high = 0, min(len(text), MAX_CHARS_PER_TOKEN * max_tokens)
    if count(text[:high]) <= max_tokens:
        low = high
        high = len(text)
    while high - low > 1:
        middle = (low + high) // 2
        if count(text[:middle]) <= max_tokens:
            low = middle
        else:
            high = middle
    return text[:low]


def limit_text_lengths(
    records: list[Record],
    *,
    max_tokens: int,
    policy: LongTextAction,
    count: TokenCount,
    counted_with: str,
) -> tuple[list[Record], TextLengthOutcome]:
    """Apply `policy` to every record whose content or previous context exceeds `max_tokens`.

    Returns the records kept (cut where needed, in their order) and what was done.
    Raises `ValueError` for an unknown policy or a limit below one token.
    """
    if policy not in ("truncate", "drop"):
        raise ValueError(f"unknown long-text policy '{policy}'; use truncate or drop")
    if max_tokens < 1:
        raise ValueError(f"max_text_tokens must be at least 1, got {max_tokens}")
    kept: list[Record] = []
    truncated: list[str] = []
    dropped: list[str] = []
    for record in records:
        lengths = {
            name: count(text)
            for name, text in (
                ("content", record.content),
                ("previous_context", record.previous_context),
            )
            if text
        }
        too_long = {name: tokens for name, tokens in lengths.items() if tokens > max_tokens}
        if not too_long:
            kept.append(record)
        elif policy == "drop":
            dropped.append(record.id)
        else:
            update: dict[str, object] = {
                name: truncate_text(getattr(record, name), max_tokens, count) for name in too_long
            }
            flag = ",".join(f"{name}={tokens}" for name, tokens in too_long.items())
            update["metadata"] = {**record.metadata, TRUNCATED_FIELD: flag}
            kept.append(record.model_copy(update=update))
            truncated.append(record.id)
    outcome = TextLengthOutcome(
        policy=policy,
        max_text_tokens=max_tokens,
        counted_with=counted_with,
        records=len(records),
        truncated=truncated,
        dropped=dropped,
    )
    return kept, outcome
