"""Turn records into inspect samples, and read what solvers need back out of them.

A sample's `input` is the intent, its `target` the ground truth (never shown to a
generation model), and its metadata the record's other fields, so that every solver builds
its own prompt from the same data, plus the `text_kind` of its corpus (``email``,
``article``: the prompt family a judge uses, read by the scorers).
"""

from collections.abc import Mapping
from typing import Any

from inspect_ai.dataset import Sample

from prefbench.tasks.corpora.registry import corpus_text_kind
from prefbench.tasks.long_texts import TRUNCATED_FIELD
from prefbench.tasks.records import Record

FIELD_ORDER = ("from", "to", "cc", "subject", "date", "author", "title", "section")
HIDDEN_FIELDS = frozenset({TRUNCATED_FIELD})
"""Metadata prefbench adds about a record, never shown to a model."""


def record_to_sample(record: Record) -> Sample:
    """One sample per record; raises `ValueError` when the record has no intent yet."""
    if not record.intent:
        raise ValueError(
            f"record {record.id} has no intent: run the intents stage first (`prefbench run`)"
        )
    return Sample(
        id=record.id,
        input=record.intent,
        target=record.content,
        metadata={
            "user": record.user,
            "dataset": record.dataset,
            "text_kind": corpus_text_kind(record.dataset),
            "split": record.split,
            "fields": dict(record.metadata),
            "previous_context": record.previous_context,
            "intent": record.intent,
        },
    )


def sample_text_kind(metadata: Mapping[str, Any]) -> str:
    """A sample's text kind: its `text_kind` metadata, else its dataset's (`corpus_text_kind`).

    Samples of logs written before samples carried `text_kind` get it from their dataset.
    """
    return metadata.get("text_kind") or corpus_text_kind(metadata.get("dataset"))


def render_context(metadata: dict[str, Any]) -> str:
    """The task metadata as the model sees it: header fields, then the thread it answers.

    `HIDDEN_FIELDS` (e.g. the truncation flag) are left out.
    """
    fields = {k: v for k, v in metadata.get("fields", {}).items() if k not in HIDDEN_FIELDS}
    ordered = [key for key in FIELD_ORDER if fields.get(key)]
    ordered += sorted(key for key in fields if key not in FIELD_ORDER and fields[key])
    lines = [f"{key.capitalize()}: {fields[key]}" for key in ordered]
    previous = (metadata.get("previous_context") or "").strip()
    if previous:
        lines += ["", "This replies to:", "<previous_context>", previous, "</previous_context>"]
    return "\n".join(lines)


def sender_name(metadata: dict[str, Any]) -> str:
    """Who writes the text: the email's sender, the article's author, else the user id."""
    fields: dict[str, str] = metadata.get("fields", {})
    return fields.get("from") or fields.get("author") or str(metadata.get("user", "the user"))
