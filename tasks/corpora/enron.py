"""The Enron corpus, registered as ``enron``: sent mail, one user per mailbox (or sender).

Two kinds of source: the CMU corpus as distributed (a ``maildir`` folder, its ``.tar.gz`` or
the CSV export, `prefbench.tasks.corpora.enron_reader`), whose messages are cleaned here
(`clean_email`) and kept only from the sent folders and when the mailbox owner wrote them
(the headers name the owner, `headers_name_owner`, or the address is the owner's,
`prefbench.tasks.corpora.prepare.owner_addresses`);
and the preference-agents Enron-42k release (``.jsonl``/``.parquet``,
`prefbench.tasks.corpora.enron_release`), already cleaned, one user per sender address.
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

from prefbench.tasks.corpora.email_cleaning import (
    CleanedEmail,
    Dropped,
    clean_email,
    normalize_whitespace,
)
from prefbench.tasks.corpora.enron_reader import RawMessage, SourceProblem, iter_enron_source
from prefbench.tasks.corpora.enron_release import ReleaseEmail, iter_release
from prefbench.tasks.corpora.registry import CorpusText, NoOptions, SkippedText, corpus

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
        # a message whose headers name the owner is theirs whatever address it came from;
        # the others are kept only when sent from the owner's address (prepare.py)
        owner_only=not headers_name_owner(message.mailbox, cleaned),
    )


def headers_name_owner(mailbox: str, email: CleanedEmail) -> bool:
    r"""Whether a sent-folder message's CMU headers say that the mailbox's owner wrote it.

    True when X-From names the owner (it holds the mailbox's surname, and a word starting
    with its initial when the mailbox has one: ``Dasovich, Jeff`` or ``Jeff Dasovich`` for
    ``dasovich-j``), or when the message comes from the owner's own export (X-Origin is the
    mailbox, or without X-Origin, X-Folder's top folder names the owner:
    ``\Eric_Bass_Jun2001\...``) and X-From names no one. A message from the owner's
    export whose X-From names someone else (an assistant sending for them) is not the
    owner's: X-Origin alone is the same for every file of a mailbox.
    """
    sender = _x_from_name(email.x_from)
    if sender:
        return _names_owner(sender, mailbox)
    if email.x_origin:
        return _letters(email.x_origin) == _letters(mailbox)
    top_folder = next((part for part in re.split(r"[\\/]+", email.x_folder) if part), "")
    return bool(top_folder) and _names_owner(top_folder, mailbox)


def _x_from_name(x_from: str) -> str:
    """The name in an X-From header: ``Dasovich, Jeff </O=ENRON/...>`` gives ``Dasovich, Jeff``.

    An X-From that is only an address gives its local part.
    """
    name = re.sub(r"<[^>]*>", " ", x_from).strip().strip("\"'").strip()
    if not name:
        name = re.sub(r"[<>]", "", x_from).strip()
    return name.split("@", 1)[0] if "@" in name else name


def _names_owner(text: str, mailbox: str) -> bool:
    """Whether `text` holds the mailbox's surname (letters only) and a word with its initial.

    Words that are pieces of the surname (``st`` and ``clair`` for ``stclair``) do not count
    as the first name.
    """
    parts = [part for part in mailbox.lower().split("-") if part]
    surname = _letters(parts[0]) if parts else ""
    if not surname or surname not in _letters(text):
        return False
    if len(parts) < 2:
        return True
    initial = parts[-1][0]
    words = [word for word in re.split(r"[^a-z]+", text.lower()) if word]
    return any(word.startswith(initial) and word not in surname for word in words)


def _letters(text: str) -> str:
    return "".join(character for character in text.lower() if character.isalpha())


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
