"""The Enron corpus, registered as ``enron``: sent mail, one user per mailbox (or sender).

Two kinds of source: the CMU corpus as distributed (a ``maildir`` folder, its ``.tar.gz`` or
the CSV export, `tasks.corpora.enron_reader`), whose messages are cleaned here
(`clean_email`) and kept only from the sent folders and when the mailbox owner wrote them;
and the preference-agents Enron-42k release (``.jsonl``/``.parquet``,
`tasks.corpora.enron_release`), already cleaned, one user per sender address.
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

from tasks.corpora.email_cleaning import Dropped, clean_email, normalize_whitespace
from tasks.corpora.enron_reader import RawMessage, SourceProblem, iter_enron_source
from tasks.corpora.enron_release import ReleaseEmail, iter_release
from tasks.corpora.registry import CorpusText, NoOptions, SkippedText, corpus

RELEASE_SUFFIXES = (".jsonl", ".json", ".parquet")
"""Source suffixes read as the Enron-42k release."""


@corpus(
    name="enron",
    text_kind="email",
    source="maildir folder, enron_mail_*.tar.gz, CSV export (file,message) or the Enron-42k "
    "release (.jsonl/.parquet)",
    test_fraction=0.2,
)
def read_enron(source: Path, options: NoOptions) -> Iterator[CorpusText | SkippedText]:
    """Enron sent mail written by the mailbox owner; one user per mailbox (release: sender)."""
    if source.suffix.lower() in RELEASE_SUFFIXES:
        for release_item in iter_release(source):
            yield _release_text(release_item)
        return
    for item in iter_enron_source(source):
        if isinstance(item, SourceProblem):
            yield _source_problem(item)
        elif item.raw_bytes is None:
            yield SkippedText("not_sent_folder", item.source, item.folder)
        else:
            yield _mailbox_text(item)


def _source_problem(problem: SourceProblem) -> SkippedText:
    """A part of the source not read (a link, a FIFO, a truncated archive...): bad input."""
    return SkippedText(problem.reason, problem.source, problem.detail, bad_input=True)


def _mailbox_text(message: RawMessage) -> CorpusText | SkippedText:
    cleaned = clean_email(message.raw_bytes or b"")
    if isinstance(cleaned, Dropped):
        return SkippedText(cleaned.reason, message.source, cleaned.detail)
    folder_slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", message.folder.replace("/", "."))
    return CorpusText(
        user=message.mailbox,
        id=f"enron-{message.mailbox}-{folder_slug}-{message.name.rstrip('.')}",
        order=(message.folder, message.name),
        timestamp=cleaned.date.timestamp(),
        sender=cleaned.from_address,
        metadata={
            "from": cleaned.from_address,
            "to": cleaned.to,
            "cc": cleaned.cc,
            "subject": cleaned.subject,
            "date": cleaned.date.isoformat(),
        },
        previous_context=cleaned.previous_context,
        content=cleaned.content,
        source=message.source,
        owner_only=True,
    )


def _release_text(email: ReleaseEmail | SourceProblem) -> CorpusText | SkippedText:
    if isinstance(email, SourceProblem):
        return _source_problem(email)
    fields = email.fields
    sender = (parseaddr(fields["from"])[1] or fields["from"]).strip().lower()
    if not sender:
        return SkippedText("missing_header", email.source, "empty from field")
    date = _parse_any_date(fields["date"])
    if date is None:
        return SkippedText("bad_date", email.source, f"date {fields['date']!r} does not parse")
    content = normalize_whitespace(fields["content"])
    if not content.strip():
        return SkippedText("empty_body", email.source, "empty content")
    row_id = fields.get("id", "").strip()
    return CorpusText(
        user=sender,
        id=f"enron-{row_id}" if row_id else f"enron-release-{email.row}",
        order=(f"{email.row:012d}", ""),
        timestamp=date.timestamp(),
        sender=sender,
        metadata={
            "from": sender,
            "to": fields["to"],
            "cc": fields.get("cc", ""),
            "subject": fields["subject"],
            "date": date.isoformat(),
        },
        previous_context=normalize_whitespace(fields["previous_context"]),
        content=content,
        source=email.source,
    )


def _parse_any_date(text: str) -> datetime | None:
    text = text.strip()
    try:
        date = datetime.fromisoformat(text)
    except ValueError:
        try:
            date = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return date if date.tzinfo else date.replace(tzinfo=UTC)
