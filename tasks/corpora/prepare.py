"""Turn a real corpus (Enron, New Yorker) into a records file: `prepare_corpus`, `corpus_stats`.

`prepare_corpus` streams the source once, cleans every text, groups the usable ones by user
on disk (`UserSpool`), applies the per-user filters (Enron: the sender must be the mailbox
owner; no duplicates), picks the users, splits them and writes ``records.jsonl`` and
``prepare_report.json``. A bad text is skipped and counted by reason; with ``strict=True``
the first one raises `PrefbenchInputError` instead. Nothing is written unless the whole run
succeeds, and each file appears atomically.
"""

import hashlib
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Literal

from core.atomic import atomic_write_text
from core.errors import PrefbenchInputError
from tasks.corpora.email_cleaning import Dropped, clean_email, normalize_whitespace
from tasks.corpora.enron_reader import (
    RawMessage,
    SourceProblem,
    iter_enron_source,
    natural_key,
)
from tasks.corpora.enron_release import ReleaseEmail, iter_release
from tasks.corpora.new_yorker import NEW_YORKER, Article, iter_articles
from tasks.corpora.selection import (
    SPLIT_MODES,
    DropCounter,
    DroppedExample,
    UserSpool,
    assign_splits,
    select_users,
)
from tasks.records import SPLITS, Record, read_records, write_records

Dataset = Literal["enron", "new_yorker"]
DATASETS: tuple[Dataset, ...] = ("enron", "new_yorker")
UserField = Literal["author", "publication"]
USER_FIELDS: tuple[UserField, ...] = ("author", "publication")

RECORDS_FILE = "records.jsonl"
REPORT_FILE = "prepare_report.json"
TEST_FRACTION: dict[str, float] = {"enron": 0.2, "new_yorker": 0.5}
"""Share of each user's texts in the test split (Enron 80/20, New Yorker 50/50)."""

STRICT_REASONS = frozenset(
    {
        "unreadable",
        "missing_header",
        "bad_date",
        "undecodable",
        "empty_body",
        "truncated",
        "bad_row",
        "missing_field",
        "duplicate_id",
    }
)
"""Drop reasons that are bad input: with ``strict=True`` the first one raises.

The others (``not_sent_folder``, ``not_owner``, ``forward_only``, ``duplicate``,
``not_new_yorker``, ``missing_author``) are the corpus filters and never raise."""

RELEASE_SUFFIXES = (".jsonl", ".json", ".parquet")


@dataclass
class PrepareSummary:
    """What `prepare_corpus` did: what the command line prints after a run."""

    dataset: str
    source: str
    records_path: Path
    report_path: Path
    read: int
    """Texts read from the source (problems included)."""
    usable: int
    """Texts that passed every filter, before picking users."""
    users: list[str]
    records_per_split: dict[str, int]
    eligible_users: int
    """Users with at least `min_records` usable texts."""
    users_below_min_records: int
    dropped: dict[str, int]
    """Dropped texts by reason."""
    dropped_examples: list[DroppedExample] = field(default_factory=list)
    """The first examples of each reason (for ``--verbose``)."""
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def kept(self) -> int:
        """How many records were written."""
        return sum(self.records_per_split.values())

    def to_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows for a two-column table."""
        rows = [
            ("dataset", self.dataset),
            ("source", self.source),
            ("records file", str(self.records_path)),
            ("texts read", str(self.read)),
            ("usable texts", str(self.usable)),
            ("eligible users", str(self.eligible_users)),
            ("users below min records", str(self.users_below_min_records)),
            ("users kept", str(len(self.users))),
        ]
        rows += [
            (f"records ({split})", str(count)) for split, count in self.records_per_split.items()
        ]
        rows += [(f"dropped: {reason}", str(count)) for reason, count in self.dropped.items()]
        return rows


@dataclass
class CorpusStats:
    """What a prepared records folder holds: `corpus_stats` computes it."""

    records_path: Path
    users: int
    records_per_split: dict[str, int]
    content_words: dict[str, dict[str, float]]
    """Per split and ``"all"``: the p10, p50 and p90 of the content length in words."""
    records_per_user: dict[str, int]
    dropped: dict[str, int]
    """Drops by reason from ``prepare_report.json`` (empty when that file is absent)."""

    def to_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows for a two-column table."""
        rows = [("records file", str(self.records_path)), ("users", str(self.users))]
        rows += [
            (f"records ({split})", str(count)) for split, count in self.records_per_split.items()
        ]
        for split, percentiles in self.content_words.items():
            values = " / ".join(f"{percentiles[name]:g}" for name in ("p10", "p50", "p90"))
            rows.append((f"content words p10/p50/p90 ({split})", values))
        rows += [(f"dropped: {reason}", str(count)) for reason, count in self.dropped.items()]
        return rows


def prepare_corpus(
    dataset: Dataset,
    source: Path,
    out_dir: Path,
    *,
    users: int | None = 15,
    min_records: int = 20,
    seed: int = 0,
    split: Literal["random", "chronological"] = "random",
    user_field: UserField = "author",
    strict: bool = False,
) -> PrepareSummary:
    """Read a real corpus and write ``out_dir/records.jsonl`` and ``out_dir/prepare_report.json``.

    `dataset` ``"enron"``: `source` is the CMU ``maildir`` folder (or its parent), an
    ``enron_mail_*.tar.gz``, the CSV export (columns ``file,message``) or the Enron-42k
    release (``.jsonl``/``.parquet``); only sent-folder mail written by the mailbox owner is
    kept; a user is a mailbox. ``"new_yorker"``: `source` is the All the News 2.0 CSV; only
    ``publication == "The New Yorker"`` rows are kept; the user is the author, or the
    publication as a whole with ``user_field="publication"``.

    Of the users with at least `min_records` usable texts, `users` are picked (all when
    None) with `seed`; each is split 80/20 (Enron) or 50/50 (New Yorker) at random (seeded)
    or, with ``split="chronological"``, latest texts in test. A bad text is skipped and
    counted by reason; with `strict`, the first bad-input text (`STRICT_REASONS`) raises
    `PrefbenchInputError` naming its source and the fix, and nothing is written. Raises
    `PrefbenchInputError` too for a missing source, a CSV without the needed columns, or no
    user with enough texts.
    """
    if dataset not in DATASETS:
        raise PrefbenchInputError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    if split not in SPLIT_MODES:
        raise PrefbenchInputError(f"unknown split {split!r}; choose one of {SPLIT_MODES}")
    if user_field not in USER_FIELDS:
        raise PrefbenchInputError(f"unknown user field {user_field!r}; choose one of {USER_FIELDS}")
    if users is not None and users < 1:
        raise PrefbenchInputError(f"--users must be at least 1, got {users}")
    if min_records < 1:
        raise PrefbenchInputError(f"--min-records must be at least 1, got {min_records}")
    source, out_dir = Path(source), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PrefbenchInputError(f"{out_dir}: exists and is not a folder; choose another --out")
    settings: dict[str, object] = {
        "users": users,
        "min_records": min_records,
        "seed": seed,
        "split": split,
        "strict": strict,
    }
    if dataset == "new_yorker":
        settings["user_field"] = user_field
    drops = DropCounter()
    gate = _DropGate(drops, strict)

    with UserSpool() as candidates, UserSpool() as usable:
        if dataset == "enron" and source.suffix.lower() in RELEASE_SUFFIXES:
            read = _spool_release(source, candidates, gate)
        elif dataset == "enron":
            read = _spool_enron(source, candidates, gate)
        else:
            read = _spool_new_yorker(source, candidates, gate, user_field)
        check_owner = dataset == "enron" and source.suffix.lower() not in RELEASE_SUFFIXES
        usable_counts = {
            user: _filter_user(user, candidates.read(user), usable, gate, check_owner=check_owner)
            for user in candidates.users()
        }
        chosen = select_users(usable_counts, users=users, min_records=min_records, seed=seed)
        eligible = sum(count >= min_records for count in usable_counts.values())
        if not chosen:
            best = max(usable_counts.values(), default=0)
            raise PrefbenchInputError(
                f"{source}: no user has {min_records} usable texts (the most is {best}, "
                f"{drops.total} texts dropped: {drops.as_dict()}); lower --min-records or "
                f"check the source"
            )
        records = list(_build_records(dataset, chosen, usable, split, seed))

    records_per_split = {name: sum(r.split == name for r in records) for name in SPLITS}
    summary = PrepareSummary(
        dataset=dataset,
        source=str(source),
        records_path=out_dir / RECORDS_FILE,
        report_path=out_dir / REPORT_FILE,
        read=read,
        usable=sum(usable_counts.values()),
        users=chosen,
        records_per_split=records_per_split,
        eligible_users=eligible,
        users_below_min_records=len(usable_counts) - eligible,
        dropped=drops.as_dict(),
        dropped_examples=list(drops.examples),
        settings=settings,
    )
    report = {
        key: value
        for key, value in asdict(summary).items()
        if key not in ("records_path", "report_path", "dropped_examples")
    }
    report["kept"] = summary.kept
    report["dropped_total"] = drops.total
    report["dropped_examples"] = [asdict(example) for example in drops.examples]
    write_records(summary.records_path, records)
    atomic_write_text(summary.report_path, json.dumps(report, indent=2) + "\n")
    return summary


def corpus_stats(out_dir: Path) -> CorpusStats:
    """Summarize a prepared folder: users, records per split, content length, drops.

    Reads ``out_dir/records.jsonl`` (raises `PrefbenchInputError` when it is missing or
    broken) and, when present, the drop counts of ``out_dir/prepare_report.json``.
    """
    out_dir = Path(out_dir)
    records_path = out_dir / RECORDS_FILE if out_dir.is_dir() else out_dir
    records = read_records(records_path)
    lengths: dict[str, list[int]] = {name: [] for name in ("all", *SPLITS)}
    per_user: Counter = Counter()
    for record in records:
        words = len(record.content.split())
        lengths["all"].append(words)
        lengths[record.split].append(words)
        per_user[record.user] += 1
    dropped: dict[str, int] = {}
    report_path = records_path.parent / REPORT_FILE
    if report_path.is_file():
        try:
            dropped = dict(json.loads(report_path.read_text(encoding="utf-8")).get("dropped", {}))
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError, OSError) as error:
            raise PrefbenchInputError(
                f"{report_path}: unreadable prepare report ({error}); delete it or rerun "
                f"`prefbench data prepare`"
            ) from None
    return CorpusStats(
        records_path=records_path,
        users=len(per_user),
        records_per_split={name: len(lengths[name]) for name in SPLITS},
        content_words={name: _percentiles(values) for name, values in lengths.items() if values},
        records_per_user={user: per_user[user] for user in sorted(per_user)},
        dropped=dropped,
    )


class _DropGate:
    """Counts a drop, or raises on bad input in strict mode."""

    def __init__(self, drops: DropCounter, strict: bool) -> None:
        self.drops = drops
        self.strict = strict

    def drop(self, reason: str, source: str, detail: str = "") -> None:
        if self.strict and reason in STRICT_REASONS:
            raise PrefbenchInputError(
                f"{source}: {reason.replace('_', ' ')} ({detail}); fix or remove it, or run "
                f"without --strict to skip such texts and count them in prepare_report.json"
            )
        self.drops.add(reason, source, detail)


def _spool_enron(source: Path, spool: UserSpool, gate: _DropGate) -> int:
    read = 0
    for item in iter_enron_source(source):
        read += 1
        if isinstance(item, SourceProblem):
            gate.drop(item.reason, item.source, item.detail)
        elif item.raw_bytes is None:
            gate.drop("not_sent_folder", item.source, item.folder)
        else:
            _spool_message(item, spool, gate)
    return read


def _spool_message(message: RawMessage, spool: UserSpool, gate: _DropGate) -> None:
    cleaned = clean_email(message.raw_bytes or b"")
    if isinstance(cleaned, Dropped):
        gate.drop(cleaned.reason, message.source, cleaned.detail)
        return
    folder_slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", message.folder.replace("/", "."))
    spool.add(
        message.mailbox,
        {
            "id": f"enron-{message.mailbox}-{folder_slug}-{message.name.rstrip('.')}",
            "order": [message.folder, message.name],
            "timestamp": cleaned.date.timestamp(),
            "sender": cleaned.from_address,
            "metadata": {
                "from": cleaned.from_address,
                "to": cleaned.to,
                "cc": cleaned.cc,
                "subject": cleaned.subject,
                "date": cleaned.date.isoformat(),
            },
            "previous_context": cleaned.previous_context,
            "content": cleaned.content,
            "source": message.source,
        },
    )


def _spool_release(source: Path, spool: UserSpool, gate: _DropGate) -> int:
    read = 0
    for item in iter_release(source):
        read += 1
        if isinstance(item, SourceProblem):
            gate.drop(item.reason, item.source, item.detail)
            continue
        _spool_release_email(item, spool, gate)
    return read


def _spool_release_email(email: ReleaseEmail, spool: UserSpool, gate: _DropGate) -> None:
    fields = email.fields
    sender = (parseaddr(fields["from"])[1] or fields["from"]).strip().lower()
    if not sender:
        gate.drop("missing_header", email.source, "empty from field")
        return
    date = _parse_any_date(fields["date"])
    if date is None:
        gate.drop("bad_date", email.source, f"date {fields['date']!r} does not parse")
        return
    content = normalize_whitespace(fields["content"])
    if not content.strip():
        gate.drop("empty_body", email.source, "empty content")
        return
    row_id = fields.get("id", "").strip()
    spool.add(
        sender,
        {
            "id": f"enron-{row_id}" if row_id else f"enron-release-{email.row}",
            "order": [f"{email.row:012d}", ""],
            "timestamp": date.timestamp(),
            "sender": sender,
            "metadata": {
                "from": sender,
                "to": fields["to"],
                "cc": fields.get("cc", ""),
                "subject": fields["subject"],
                "date": date.isoformat(),
            },
            "previous_context": normalize_whitespace(fields["previous_context"]),
            "content": content,
            "source": email.source,
        },
    )


def _spool_new_yorker(
    source: Path, spool: UserSpool, gate: _DropGate, user_field: UserField
) -> int:
    read = 0
    for item in iter_articles(source):
        read += 1
        if isinstance(item, SourceProblem):
            gate.drop(item.reason, item.source, item.detail)
        elif item.publication != NEW_YORKER:
            gate.drop("not_new_yorker", item.source, item.publication)
        else:
            _spool_article(item, spool, gate, user_field)
    return read


def _spool_article(article: Article, spool: UserSpool, gate: _DropGate, user_field: str) -> None:
    user = article.author if user_field == "author" else article.publication
    if not user:
        gate.drop("missing_author", article.source, "empty author")
        return
    if article.date is None:
        gate.drop("bad_date", article.source, "no date, year/month/day that parses")
        return
    content = normalize_whitespace(article.text)
    if not content.strip():
        gate.drop("empty_body", article.source, "empty article")
        return
    key = article.url or f"{article.title}|{article.date.isoformat()}|{article.author}"
    date = article.date if article.date.tzinfo else article.date.replace(tzinfo=UTC)
    spool.add(
        user,
        {
            "id": f"new_yorker-{hashlib.sha1(key.encode()).hexdigest()[:16]}",
            "order": [f"{article.row:012d}", ""],
            "timestamp": date.timestamp(),
            "sender": user,
            "metadata": {
                "author": article.author,
                "title": article.title,
                "section": article.section,
                "date": article.date.isoformat(),
            },
            "previous_context": "",
            "content": content,
            "source": article.source,
        },
    )


def _filter_user(
    user: str, items: Iterable[dict], usable: UserSpool, gate: _DropGate, *, check_owner: bool
) -> int:
    """Apply the per-user filters to one user's texts; spool the survivors; return their count.

    Texts are visited in (folder, file) or row order, so which duplicate survives does not
    depend on the order the source listed them in. With `check_owner` (raw Enron mailboxes)
    texts not sent by the mailbox owner are dropped.
    """
    ordered = sorted(items, key=lambda item: tuple(natural_key(part) for part in item["order"]))
    owner = owner_addresses(Counter(item["sender"] for item in ordered), user)
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    kept = 0
    for item in ordered:
        if item["id"] in seen_ids:
            gate.drop("duplicate_id", item["source"], f"id {item['id']!r} appears twice")
            continue
        seen_ids.add(item["id"])
        if check_owner and item["sender"] not in owner:
            gate.drop("not_owner", item["source"], f"sent by {item['sender']}")
            continue
        fingerprint = hashlib.sha1(f"{item['sender']}\n{item['content']}".encode()).hexdigest()
        if fingerprint in seen_texts:
            gate.drop("duplicate", item["source"], "same sender and content as an earlier text")
            continue
        seen_texts.add(fingerprint)
        usable.add(user, item)
        kept += 1
    return kept


def owner_addresses(senders: Counter, mailbox: str) -> set[str]:
    """The mailbox owner's From addresses, given how often each address sent from the mailbox.

    The owner is the most common address whose local part contains the mailbox's surname
    (``bass`` for mailbox ``bass-e``), else the most common address; aliases are the other
    addresses whose local-part name has the same words, one set inside the other
    (``carol.st.clair`` and ``carol.clair``) or the same letters (``eric_bass`` for ``eric.bass``).
    """
    surname = _letters(mailbox.split("-")[0])
    ranked = [address for address, _ in senders.most_common()]
    matching = [address for address in ranked if surname and surname in _letters(_local(address))]
    primary = (matching or ranked)[0]
    words = _words(primary)
    letters = _letters(_local(primary))
    return {
        address
        for address in ranked
        if _letters(_local(address)) == letters
        or (min(len(words), len(_words(address))) >= 2 and _nested(words, _words(address)))
    }


def _words(address: str) -> set[str]:
    return set(re.split(r"[._\-+]+", _local(address).lower())) - {""}


def _nested(first: set[str], second: set[str]) -> bool:
    return first <= second or second <= first


def _build_records(
    dataset: str, chosen: list[str], usable: UserSpool, split: str, seed: int
) -> Iterator[Record]:
    for user in chosen:
        items = list(usable.read(user))
        for item, item_split in assign_splits(
            items,
            test_fraction=TEST_FRACTION[dataset],
            mode=split,  # type: ignore[arg-type]
            seed=seed,
            user=user,
            item_id=lambda item: item["id"],
            item_date=lambda item: item["timestamp"],
        ):
            yield Record(
                id=item["id"],
                dataset=dataset,
                user=user,
                split=item_split,
                metadata={key: _text(value) for key, value in item["metadata"].items()},
                previous_context=_text(item["previous_context"]),
                content=_text(item["content"]),
                source=_text(item["source"]),
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


def _percentiles(values: list[int]) -> dict[str, float]:
    if len(values) == 1:
        return {"p10": values[0], "p50": values[0], "p90": values[0]}
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return {"p10": deciles[0], "p50": statistics.median(values), "p90": deciles[8]}


def _local(address: str) -> str:
    return address.split("@", 1)[0]


def _letters(text: str) -> str:
    return "".join(character for character in text.lower() if character.isalpha())


def _text(value: str) -> str:
    """Replace lone surrogates (undecodable bytes kept by the readers) so the text is UTF-8."""
    return value.encode("utf-8", errors="replace").decode("utf-8")
