"""Which users a prepared corpus keeps, how each user's texts are split, and what was dropped.

`select_users` picks N users among those with at least K usable texts (seeded);
`assign_splits` splits one user's texts into train/test (seeded random or chronological);
`DropCounter` counts every dropped text by reason and keeps a few examples per reason;
`UserSpool` groups a streamed corpus by user on disk, so memory holds one user at a time.
"""

import hashlib
import json
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from prefbench.tasks.records import Split

SplitMode = Literal["random", "chronological"]
SPLIT_MODES: tuple[SplitMode, ...] = ("random", "chronological")

Item = TypeVar("Item")


@dataclass(frozen=True)
class DroppedExample:
    """One dropped text: why, where it came from, and what exactly was wrong."""

    reason: str
    source: str
    detail: str


@dataclass
class DropCounter:
    """Counts drops by reason; keeps the first `examples_per_reason` examples of each."""

    examples_per_reason: int = 20
    counts: Counter = field(default_factory=Counter)
    examples: list[DroppedExample] = field(default_factory=list)

    def add(self, reason: str, source: str, detail: str = "") -> None:
        """Count one dropped text under `reason`, keeping it as an example if there is room."""
        self.counts[reason] += 1
        if self.counts[reason] <= self.examples_per_reason:
            self.examples.append(DroppedExample(reason, source, detail))

    @property
    def total(self) -> int:
        """How many texts were dropped, all reasons together."""
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        """The counts by reason, reasons sorted."""
        return {reason: self.counts[reason] for reason in sorted(self.counts)}


def select_users(
    usable: Mapping[str, int], *, users: int | None, min_records: int, seed: int
) -> list[str]:
    """Pick `users` users (all when None) among those with at least `min_records` texts.

    The pick is a seeded random sample of the eligible users in sorted order, so it depends
    only on the counts and the seed; the result is sorted. When fewer users are eligible
    than asked for, all of them are returned. Raises `ValueError` for a negative count.
    """
    if users is not None and users < 1:
        raise ValueError(f"users must be a positive number or None, got {users!r}")
    if min_records < 1:
        raise ValueError(f"min_records must be at least 1, got {min_records!r}")
    eligible = sorted(user for user, count in usable.items() if count >= min_records)
    if users is None or users >= len(eligible):
        return eligible
    return sorted(random.Random(seed).sample(eligible, users))


def assign_splits(
    items: Sequence[Item],
    *,
    test_fraction: float,
    mode: SplitMode,
    seed: int,
    user: str,
    item_id: Callable[[Item], str],
    item_date: Callable[[Item], Any],
) -> list[tuple[Item, Split]]:
    """Split one user's texts into train and test, returned in (date, id) order.

    ``random``: a shuffle seeded by `seed` and `user` of the texts in id order (so the result
    does not depend on input order); ``chronological``: the latest texts are the test set.
    The test set has ``round(n * test_fraction)`` texts, and at least one text is in each
    split when there are two or more.
    """
    if mode not in SPLIT_MODES:
        raise ValueError(f"split must be one of {SPLIT_MODES}, got {mode!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    ordered = sorted(items, key=lambda item: (item_date(item), item_id(item)))
    count = len(ordered)
    n_test = round(count * test_fraction)
    if count >= 2:
        n_test = min(max(n_test, 1), count - 1)
    if mode == "chronological":
        test_ids = {item_id(item) for item in ordered[count - n_test :]}
    else:
        by_id = sorted(item_id(item) for item in ordered)
        random.Random(f"{seed}:{user}").shuffle(by_id)
        test_ids = set(by_id[:n_test])
    return [(item, "test" if item_id(item) in test_ids else "train") for item in ordered]


class UserSpool:
    """Texts grouped by user in JSON-lines files in a temporary folder (a context manager).

    `add` appends one JSON-able dict to its user's file; `read` yields a user's dicts back in
    the order they were added. Memory holds one open file, whatever the corpus size.
    """

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="prefbench-spool-"))
        self._files: dict[str, Path] = {}
        self._counts: Counter = Counter()
        self._open_user: str | None = None
        self._handle: IO[str] | None = None

    def __enter__(self) -> "UserSpool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add(self, user: str, item: dict) -> None:
        """Append `item` to `user`'s texts."""
        if user != self._open_user:
            self._switch(user)
        assert self._handle is not None
        self._handle.write(json.dumps(item) + "\n")
        self._counts[user] += 1

    def users(self) -> list[str]:
        """The users with at least one text, sorted."""
        return sorted(self._files)

    def count(self, user: str) -> int:
        """How many texts `user` has in the spool."""
        return self._counts[user]

    def read(self, user: str) -> Iterator[dict]:
        """Yield `user`'s texts in the order they were added."""
        self._switch(None)
        path = self._files.get(user)
        if path is None:
            return
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)

    def close(self) -> None:
        """Delete the spool folder."""
        self._switch(None)
        shutil.rmtree(self._folder, ignore_errors=True)

    def _switch(self, user: str | None) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._open_user = user
        if user is None:
            return
        path = self._files.get(user)
        if path is None:
            digest = hashlib.sha1(user.encode("utf-8", "surrogatepass")).hexdigest()[:20]
            path = self._folder / f"{digest}.jsonl"
            self._files[user] = path
        self._handle = path.open("a", encoding="utf-8")
