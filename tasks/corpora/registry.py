"""Corpora: what `prefbench data prepare NAME` can read, registered by decorator.

A corpus is a reader decorated with `@corpus(...)`: it turns a source path and the corpus's
own typed options into `CorpusText`s (one cleaned text each) and `SkippedText`s (one text it
did not keep, and why); `prepare_corpus` does the rest (per-user filters, picking users,
the split, counting drops). A corpus that makes its records itself (the synthetic demo) is a
generator decorated with `@generated_corpus(...)`. Either way the registration says what
kind of text the corpus holds (a text kind of `prefbench.core.text_kinds`: the folder of
prompts its texts are written and judged with, e.g. `email` or `article`), its default split
rule, what `--source` takes and its options.

Third-party packages register corpora (and their own text kinds) the same way, from a module
named under their ``[project.entry-points.prefbench]``; `lookup_corpus` and `corpora` load
those plug-ins when a name is unknown or for a listing.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.plugins import broken_plugins_note, load_plugins
from prefbench.core.text_kinds import DEFAULT_TEXT_KIND, TextKind, lookup_text_kind
from prefbench.tasks.corpora.selection import SPLIT_MODES, SplitMode
from prefbench.tasks.records import Record

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
        "bad_id",
    }
)
"""Skip reasons that are bad input: with ``strict=True`` the first one raises.

The others prefbench's readers use (``not_sent_folder``, ``not_owner``, ``forward_only``,
``duplicate``, ``not_new_yorker``, ``missing_author``) are corpus filters and never raise."""


class NoOptions(BaseModel):
    """The options of a corpus that has none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class CorpusText:
    """One cleaned text a reader keeps, before the per-user filters and the split.

    Attributes:
        user: whose text it is (a mailbox, an author...).
        id: the record id, unique in the corpus (a repeated id is dropped as
            ``duplicate_id``).
        content: the text the user wrote (the ground truth).
        timestamp: when it was written, in seconds since the epoch (the chronological
            split puts the latest texts in test).
        metadata: the record's header fields, e.g. ``from``/``to``/``subject`` or
            ``author``/``title``, in the order they are shown.
        source: where it came from (file and row), for the record and for drop reports.
        sender: who sent it, when that may differ from `user` (empty: the user). A user's
            texts with the same sender and content are kept once.
        previous_context: the text it replies to, or empty.
        order: its place in the source (e.g. folder and file name, a zero-padded row);
            a user's texts are filtered in this natural order, so which duplicate survives
            does not depend on the order the source lists them in.
        owner_only: keep it only when the user's owner sent it (a mailbox whose owner is
            its most common sender, see `owner_addresses`); otherwise dropped as
            ``not_owner``.
    """

    user: str
    id: str
    content: str
    timestamp: float
    metadata: Mapping[str, str]
    source: str
    sender: str = ""
    previous_context: str = ""
    order: tuple[str, ...] = ()
    owner_only: bool = False


@dataclass(frozen=True)
class SkippedText:
    """A text (or a part of the source) a reader does not keep: counted under `reason`.

    `bad_input` says whether it is bad input (``--strict`` raises on it) or a corpus filter;
    None means: bad input when `reason` is one of `STRICT_REASONS`.
    """

    reason: str
    source: str
    detail: str = ""
    bad_input: bool | None = None

    @property
    def is_bad_input(self) -> bool:
        """Whether ``--strict`` turns this skip into an error."""
        return self.reason in STRICT_REASONS if self.bad_input is None else self.bad_input


@dataclass(frozen=True)
class SplitRule:
    """How a user's texts are split: the test share and the split modes it allows.

    ``random`` is a seeded shuffle per user, ``chronological`` puts the latest texts in
    test (`assign_splits`).
    """

    test_fraction: float
    default: SplitMode = "random"
    modes: tuple[SplitMode, ...] = SPLIT_MODES

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be between 0 and 1, got {self.test_fraction}")
        unknown = [mode for mode in self.modes if mode not in SPLIT_MODES]
        if unknown or self.default not in self.modes:
            raise ValueError(
                f"split modes {self.modes} with default {self.default!r}: each must be one of "
                f"{SPLIT_MODES} and the default among them"
            )

    def describe(self) -> str:
        """E.g. ``"80/20 train/test, random or chronological"``."""
        test = round(self.test_fraction * 100)
        return f"{100 - test}/{test} train/test, {' or '.join(self.modes)}"


OptionsModel = TypeVar("OptionsModel", bound=BaseModel)
TextReader = Callable[[Path, Any], Iterable[CorpusText | SkippedText]]
"""``reader(source, options) -> CorpusText | SkippedText, one per text of the source``."""


class RecordGenerator(Protocol):
    """Makes a generated corpus's records, already split: ``generate(users=, seed=, ...)``."""

    def __call__(
        self, *, users: int | None, seed: int, test_fraction: float, options: Any
    ) -> list[Record]:
        """`users` users (all when None), `test_fraction` of each one's records in test."""
        ...


@dataclass(frozen=True)
class Corpus:
    """What prefbench knows about one corpus.

    Exactly one of `read_texts` (a reader of a source) and `generate_records` (a generator
    that needs no source) is set. `source_help` says what `--source` takes (None: no
    source); `default_users` is how many users `prefbench data prepare` keeps when
    ``--users`` is not given (None: all).
    """

    name: str
    text_kind: str
    """The name of its registered text kind (`prefbench.core.text_kinds`)."""
    description: str
    split: SplitRule
    options: type[BaseModel]
    default_users: int | None
    source_help: str | None = None
    read_texts: TextReader | None = None
    generate_records: RecordGenerator | None = None

    def __post_init__(self) -> None:
        if (self.read_texts is None) == (self.generate_records is None):
            raise ValueError(
                f"corpus {self.name!r} needs exactly one of read_texts and generate_records"
            )

    @property
    def takes_source(self) -> bool:
        """Whether the corpus reads a `--source`."""
        return self.read_texts is not None

    def option_help(self) -> dict[str, str]:
        """Each option's description, choices and default, by option name."""
        described = {}
        for name, info in self.options.model_fields.items():
            allowed = get_args(info.annotation) if _is_literal(info.annotation) else ()
            choices = f": {' or '.join(map(str, allowed))}" if allowed else ""
            described[name] = f"{info.description or name}{choices}; default {info.default}"
        return described

    def parse_options(self, values: Mapping[str, object]) -> BaseModel:
        """Validate `values` against the corpus's options model.

        An option that only other registered corpora declare is ignored (one settings dict
        can serve several corpora); one that no corpus declares, or a bad value, raises
        `PrefbenchInputError` naming the option, the corpus's options and the fix.
        """
        declared = self.options.model_fields
        known_elsewhere = {name for entry in corpora() for name in entry.options.model_fields}
        for name in values:
            if name not in declared and name not in known_elsewhere:
                raise PrefbenchInputError(
                    f"corpus {self.name} has no option {name!r}; its options: "
                    f"{_option_list(self)}. Fix the option name (`prefbench data corpora` "
                    f"lists every corpus's options)"
                )
        try:
            return self.options.model_validate(
                {name: value for name, value in values.items() if name in declared}
            )
        except ValidationError as error:
            problem = error.errors()[0]
            name = ".".join(str(part) for part in problem["loc"])
            raise PrefbenchInputError(
                f"corpus {self.name}: option {name}={problem.get('input')!r}: {problem['msg']}; "
                f"its options: {_option_list(self)}"
            ) from None


Registered = TypeVar("Registered", bound=Callable[..., Any])

_CORPORA: dict[str, Corpus] = {}


def corpus(
    *,
    name: str,
    text_kind: str | TextKind,
    source: str,
    test_fraction: float,
    split_modes: tuple[SplitMode, ...] = SPLIT_MODES,
    default_split: SplitMode = "random",
    options: type[BaseModel] = NoOptions,
    default_users: int | None = 15,
) -> Callable[[Registered], Registered]:
    """Register a reader ``reader(source: Path, options) -> Iterable[CorpusText | SkippedText]``.

    Args:
        name: the corpus name (`prefbench data prepare NAME`, the records' `dataset`).
        text_kind: what its texts are: the name of a registered text kind (``"email"``,
            ``"article"``, one from `register_text_kind`) or the `TextKind` itself; its
            folder holds the prompts the texts are written and judged with.
        source: what `--source` takes, for the help and for the missing-source error.
        test_fraction: each user's share of texts in the test split.
        split_modes: the split modes it allows.
        default_split: the split mode used when none is asked for.
        options: its options as a pydantic model with defaults (`NoOptions` when none); the
            reader receives a validated instance.
        default_users: how many users to keep when not asked (None: all).

    The reader yields one item per text (or unreadable part) of the source and raises
    `PrefbenchInputError` for a source it cannot read at all (missing, wrong format).
    Raises `ValueError` for a text kind that is not registered, a split rule prefbench does
    not know, or a name another reader already registered.
    """
    split = SplitRule(test_fraction, default_split, split_modes)
    return _registrar(name, text_kind, split, options, default_users, source_help=source)


def generated_corpus(
    *,
    name: str,
    text_kind: str | TextKind,
    test_fraction: float,
    options: type[BaseModel] = NoOptions,
    default_users: int | None,
) -> Callable[[Registered], Registered]:
    """Register a generator of a corpus that needs no source (`RecordGenerator`).

    The generator returns the records of `users` users (all when None), each user's split
    drawn at random with `test_fraction` in test, the same for the same `seed`; it raises
    `PrefbenchInputError` for arguments it cannot honour. The other arguments are those of
    `corpus`.
    """
    split = SplitRule(test_fraction, "random", ("random",))
    return _registrar(name, text_kind, split, options, default_users, source_help=None)


def _registrar(
    name: str,
    text_kind: str | TextKind,
    split: SplitRule,
    options: type[BaseModel],
    default_users: int | None,
    source_help: str | None,
) -> Callable[[Registered], Registered]:
    """The decorator that registers a corpus and returns its function unchanged.

    The function is the corpus's reader of `--source` (`read_texts`) when the corpus takes a
    source (`source_help` set), else its records' generator (`generate_records`).
    """

    def register(function: Registered) -> Registered:
        reads = source_help is not None
        _register(
            Corpus(
                name=name,
                text_kind=_checked_kind(name, text_kind),
                description=_first_line(function),
                split=split,
                options=options,
                default_users=default_users,
                source_help=source_help,
                read_texts=function if reads else None,
                generate_records=None if reads else function,
            )
        )
        return function

    return register


def lookup_corpus(name: str) -> Corpus:
    """The corpus called `name` (plug-ins loaded); `PrefbenchInputError` naming the known ones."""
    if name not in _CORPORA:
        load_plugins()
    if name not in _CORPORA:
        raise PrefbenchInputError(
            f"unknown corpus '{name}'; known corpora: {', '.join(sorted(_CORPORA))}. Fix the "
            "name, or install the package that registers it (a `@corpus` reader in a module "
            f"named under its [project.entry-points.prefbench]).{broken_plugins_note()}"
        )
    return _CORPORA[name]


def corpora(*, plugins: bool = True) -> list[Corpus]:
    """Every registered corpus, by name; with `plugins` False, only those imported so far."""
    if plugins:
        load_plugins()
    return [_CORPORA[name] for name in sorted(_CORPORA)]


def corpus_names() -> list[str]:
    """Names of every registered corpus (prefbench's and plug-ins')."""
    return [entry.name for entry in corpora()]


def corpus_text_kind(dataset: str | None) -> str:
    """The text kind of a records `dataset`; `DEFAULT_TEXT_KIND` when no corpus registers it."""
    if dataset is None:
        return DEFAULT_TEXT_KIND
    if dataset not in _CORPORA:
        load_plugins()
    entry = _CORPORA.get(dataset)
    return entry.text_kind if entry is not None else DEFAULT_TEXT_KIND


def _register(entry: Corpus) -> None:
    reader = entry.read_texts or entry.generate_records
    previous = _CORPORA.get(entry.name)
    if previous is not None and _qualified(previous.read_texts or previous.generate_records) != (
        _qualified(reader)
    ):
        raise ValueError(
            f"corpus {entry.name!r} is registered twice: by "
            f"{_qualified(previous.read_texts or previous.generate_records)} and "
            f"{_qualified(reader)}; rename one"
        )
    _CORPORA[entry.name] = entry


def _checked_kind(name: str, text_kind: str | TextKind) -> str:
    """The name of a registered text kind; `ValueError` naming the registered ones otherwise."""
    kind_name = text_kind.name if isinstance(text_kind, TextKind) else text_kind
    try:
        lookup_text_kind(kind_name)
    except PrefbenchInputError as error:
        raise ValueError(f"corpus {name!r}: {error}") from None
    return kind_name


def _qualified(function: object) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', function)}"


def _first_line(function: object) -> str:
    return ((getattr(function, "__doc__", None) or "").strip().splitlines() or [""])[0]


def _is_literal(annotation: object) -> bool:
    return get_origin(annotation) is Literal


def _option_list(entry: Corpus) -> str:
    return ", ".join(entry.options.model_fields) or "none"
