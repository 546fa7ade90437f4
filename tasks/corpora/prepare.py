"""Turn a registered corpus into a records file: `prepare_corpus`, `corpus_stats`.

`prepare_corpus` looks the corpus up (`prefbench.tasks.corpora.registry`), streams its reader once,
groups the texts it keeps by user on disk (`UserSpool`), applies the per-user filters (no
repeated id, no repeated text, and for mailboxes: sent by the owner), picks the users,
splits them by the corpus's rule and writes ``records.jsonl`` and ``prepare_report.json``.
A skipped text is counted by reason; with ``strict=True`` the first bad-input one raises
`PrefbenchInputError` instead. A generated corpus (the demo) makes its records itself. Nothing
is written unless the whole run succeeds, and each file appears atomically.
"""

import hashlib
import json
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from prefbench.core.atomic import atomic_write_text
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.safe_names import visible
from prefbench.tasks.corpora.enron_reader import natural_key
from prefbench.tasks.corpora.registry import (
    STRICT_REASONS,
    Corpus,
    CorpusText,
    SkippedText,
    lookup_corpus,
)
from prefbench.tasks.corpora.selection import (
    DropCounter,
    DroppedExample,
    SplitMode,
    UserSpool,
    assign_splits,
    select_users,
)
from prefbench.tasks.records import SPLITS, Record, read_records, write_records

__all__ = [
    "REPORT_FILE",
    "RECORDS_FILE",
    "STRICT_REASONS",
    "CorpusStats",
    "PrepareSummary",
    "corpus_stats",
    "owner_addresses",
    "prepare_corpus",
]

RECORDS_FILE = "records.jsonl"
REPORT_FILE = "prepare_report.json"
GENERATED_SOURCE = "generated"
"""The `source` a summary names for a generated corpus."""


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
    dataset: str,
    source: Path | None,
    out_dir: Path,
    *,
    users: int | None | Literal["default"] = "default",
    min_records: int = 20,
    seed: int = 0,
    split: SplitMode | None = None,
    strict: bool = False,
    **options: object,
) -> PrepareSummary:
    """Read a registered corpus and write ``out_dir/records.jsonl`` and ``prepare_report.json``.

    `dataset` names the corpus (`lookup_corpus`; ``prefbench data corpora`` lists them with
    what `source` each takes, e.g. ``"enron"``: the CMU ``maildir`` folder, its
    ``.tar.gz``, the CSV export or the Enron-42k release; ``"new_yorker"``: the All the News
    2.0 CSV). `options` are the corpus's own options (e.g. new_yorker's
    ``user_field="publication"``: the publication as a whole is the user); options only
    other corpora declare are ignored.

    Of the users with at least `min_records` usable texts, `users` are picked with `seed`
    (None: all; ``"default"``: the corpus's `default_users`, 15 for enron and new_yorker);
    each is split by the corpus's rule (enron 80/20, new_yorker 50/50) at random (seeded)
    or, with ``split="chronological"``, latest texts in test; `split` None is the corpus's
    default. A skipped text is counted by reason; with `strict`, the first
    bad-input one (`SkippedText.is_bad_input`, e.g. `STRICT_REASONS`) raises
    `PrefbenchInputError` naming its source and the fix, and nothing is written. Raises
    `PrefbenchInputError` too for an unknown corpus, option or split, a missing source, a
    CSV without the needed columns, or no user with enough texts. A generated corpus (the
    demo) takes no source and writes the records its generator makes.
    """
    corpus = lookup_corpus(dataset)
    if users == "default":
        users = corpus.default_users
    split = split or corpus.split.default
    if split not in corpus.split.modes:
        raise PrefbenchInputError(
            f"unknown split {split!r} for {corpus.name}; choose one of {corpus.split.modes}"
        )
    if users is not None and users < 1:
        raise PrefbenchInputError(f"--users must be at least 1, got {users}")
    if min_records < 1:
        raise PrefbenchInputError(f"--min-records must be at least 1, got {min_records}")
    if corpus.takes_source and source is None:
        raise PrefbenchInputError(
            f"corpus {corpus.name} needs a source (--source PATH): {corpus.source_help}"
        )
    if not corpus.takes_source and source is not None:
        raise PrefbenchInputError(
            f"corpus {corpus.name} makes its records and reads no source; drop --source {source}"
        )
    corpus_options = corpus.parse_options(options)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PrefbenchInputError(f"{out_dir}: exists and is not a folder; choose another --out")
    if source is None:
        selection = _generated_selection(corpus, users, seed, corpus_options)
        settings: dict[str, object] = {"users": users, "seed": seed, "split": split}
    else:
        source = Path(source)
        selection = _read_selection(
            corpus, source, corpus_options, users, min_records, seed, split, strict
        )
        settings = {
            "users": users,
            "min_records": min_records,
            "seed": seed,
            "split": split,
            "strict": strict,
        }
    settings.update(corpus_options.model_dump(mode="json"))

    records = selection.records
    records_per_split = {name: sum(r.split == name for r in records) for name in SPLITS}
    drops = selection.drops
    summary = PrepareSummary(
        dataset=corpus.name,
        source=str(source) if source is not None else GENERATED_SOURCE,
        records_path=out_dir / RECORDS_FILE,
        report_path=out_dir / REPORT_FILE,
        read=selection.read,
        usable=sum(selection.usable_counts.values()),
        users=selection.chosen,
        records_per_split=records_per_split,
        eligible_users=selection.eligible,
        users_below_min_records=len(selection.usable_counts) - selection.eligible,
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


@dataclass
class _Selection:
    """The records of the chosen users, and the counts the summary reports."""

    records: list[Record]
    read: int
    usable_counts: dict[str, int]
    chosen: list[str]
    eligible: int
    drops: DropCounter


def _read_selection(
    corpus: Corpus,
    source: Path,
    options: object,
    users: int | None,
    min_records: int,
    seed: int,
    split: SplitMode,
    strict: bool,
) -> _Selection:
    """Stream the reader, filter each user's texts, pick the users and split them."""
    assert corpus.read_texts is not None
    drops = DropCounter()
    gate = _DropGate(drops, strict)
    with UserSpool() as candidates, UserSpool() as usable:
        read = _spool_texts(corpus.read_texts(source, options), candidates, gate)
        usable_counts = {
            user: _filter_user(user, candidates.read(user), usable, gate)
            for user in candidates.users()
        }
        chosen = select_users(usable_counts, users=users, min_records=min_records, seed=seed)
        if not chosen:
            best = max(usable_counts.values(), default=0)
            raise PrefbenchInputError(
                f"{source}: no user has {min_records} usable texts (the most is {best}, "
                f"{drops.total} texts dropped: {drops.as_dict()}); lower --min-records or "
                f"check the source"
            )
        records = list(_build_records(corpus, chosen, usable, split, seed))
    eligible = sum(count >= min_records for count in usable_counts.values())
    return _Selection(records, read, usable_counts, chosen, eligible, drops)


def _generated_selection(
    corpus: Corpus, users: int | None, seed: int, options: object
) -> _Selection:
    """A generated corpus's records, as its generator makes them."""
    assert corpus.generate_records is not None
    records = corpus.generate_records(
        users=users, seed=seed, test_fraction=corpus.split.test_fraction, options=options
    )
    per_user = Counter(record.user for record in records)
    chosen = list(per_user)
    return _Selection(records, len(records), dict(per_user), chosen, len(chosen), DropCounter())


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

    def drop(self, reason: str, source: str, detail: str, *, bad_input: bool) -> None:
        if self.strict and bad_input:
            raise PrefbenchInputError(
                f"{source}: {reason.replace('_', ' ')} ({detail}); fix or remove it, or run "
                f"without --strict to skip such texts and count them in prepare_report.json"
            )
        self.drops.add(reason, source, detail)


def _spool_texts(
    items: Iterable[CorpusText | SkippedText], spool: UserSpool, gate: _DropGate
) -> int:
    """Spool the texts a reader keeps by user, count the ones it skips; return how many."""
    read = 0
    for item in items:
        read += 1
        if isinstance(item, SkippedText):
            gate.drop(item.reason, item.source, item.detail, bad_input=item.is_bad_input)
            continue
        spool.add(
            item.user,
            {
                "id": item.id,
                "order": list(item.order),
                "timestamp": item.timestamp,
                "sender": item.sender or item.user,
                "metadata": dict(item.metadata),
                "previous_context": item.previous_context,
                "content": item.content,
                "source": item.source,
                "owner_only": item.owner_only,
            },
        )
    return read


def _filter_user(user: str, items: Iterable[dict], usable: UserSpool, gate: _DropGate) -> int:
    """Apply the per-user filters to one user's texts; spool the survivors; return their count.

    Texts are visited in their `CorpusText.order` (natural order), so which duplicate
    survives does not depend on the order the source listed them in. A text marked
    `owner_only` (a raw mailbox's) not sent from one of the owner's addresses is dropped;
    in a mailbox, the texts not marked (their headers name the owner) show addresses the
    owner sends from (`owner_addresses`' `confirmed`).
    """
    ordered = sorted(items, key=lambda item: tuple(natural_key(part) for part in item["order"]))
    owner = (
        owner_addresses(
            Counter(item["sender"] for item in ordered),
            user,
            confirmed={item["sender"] for item in ordered if not item["owner_only"]},
        )
        if any(item["owner_only"] for item in ordered)
        else set()
    )
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    kept = 0
    for item in ordered:
        control = _control_character(user) or _control_character(item["id"])
        if control:
            gate.drop(
                "bad_id",
                item["source"],
                f"user {visible(user)!r} or id {visible(item['id'])!r} holds the control "
                f"character {control!r}",
                bad_input=True,
            )
            continue
        if item["id"] in seen_ids:
            gate.drop(
                "duplicate_id", item["source"], f"id {item['id']!r} appears twice", bad_input=True
            )
            continue
        seen_ids.add(item["id"])
        if item["owner_only"] and item["sender"] not in owner:
            gate.drop("not_owner", item["source"], f"sent by {item['sender']}", bad_input=False)
            continue
        fingerprint = hashlib.sha1(f"{item['sender']}\n{item['content']}".encode()).hexdigest()
        if fingerprint in seen_texts:
            gate.drop(
                "duplicate",
                item["source"],
                "same sender and content as an earlier text",
                bad_input=False,
            )
            continue
        seen_texts.add(fingerprint)
        usable.add(user, item)
        kept += 1
    return kept


def owner_addresses(senders: Counter, mailbox: str, confirmed: Iterable[str] = ()) -> set[str]:
    """The mailbox owner's From addresses, given how often each address sent from the mailbox.

    `confirmed` are addresses the owner is known to send from (a message's own headers named
    the owner, `prefbench.tasks.corpora.enron.headers_name_owner`): each is an owner address. The
    owner's main address is the most common confirmed address or address whose local part
    contains the mailbox's surname (``bass`` for mailbox ``bass-e``), else the most common
    address; its aliases are the other addresses whose local-part name has the same words,
    one set inside the other (``carol.st.clair`` and ``carol.clair``) or the same letters
    (``eric_bass`` for ``eric.bass``).
    """
    confirmed = set(confirmed)
    surname = _letters(mailbox.split("-")[0])
    ranked = [address for address, _ in senders.most_common()]
    matching = [
        address
        for address in ranked
        if address in confirmed or (surname and surname in _letters(_local(address)))
    ]
    primary = (matching or ranked)[0]
    words = _words(primary)
    letters = _letters(_local(primary))
    return confirmed | {
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
    corpus: Corpus, chosen: list[str], usable: UserSpool, split: SplitMode, seed: int
) -> Iterator[Record]:
    for user in chosen:
        items = list(usable.read(user))
        for item, item_split in assign_splits(
            items,
            test_fraction=corpus.split.test_fraction,
            mode=split,
            seed=seed,
            user=user,
            item_id=lambda item: item["id"],
            item_date=lambda item: item["timestamp"],
        ):
            yield Record(
                id=item["id"],
                dataset=corpus.name,
                user=user,
                split=item_split,
                metadata={key: _text(value) for key, value in item["metadata"].items()},
                previous_context=_text(item["previous_context"]),
                content=_text(item["content"]),
                source=_text(item["source"]),
            )


def _percentiles(values: list[int]) -> dict[str, float]:
    if len(values) == 1:
        return {"p10": values[0], "p50": values[0], "p90": values[0]}
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return {"p10": deciles[0], "p50": statistics.median(values), "p90": deciles[8]}


def _local(address: str) -> str:
    return address.split("@", 1)[0]


def _letters(text: str) -> str:
    return "".join(character for character in text.lower() if character.isalpha())


def _control_character(identifier: str) -> str | None:
    """The first control character (NUL, a line break...) of an id or user, if any."""
    return next((char for char in identifier if unicodedata.category(char) == "Cc"), None)


def _text(value: str) -> str:
    """Replace lone surrogates (undecodable bytes kept by the readers) so the text is UTF-8."""
    return value.encode("utf-8", errors="replace").decode("utf-8")
