"""Corpora turned into records: the registry, readers, cleaning, selection, prepare.

Importing this package imports each of its modules, so every `@corpus` here registers: the
corpora ``enron`` and ``new_yorker``, and a new corpus dropped in as one new module. The demo
corpus registers in `prefbench.tasks.demo`; plug-ins through entry points
(`prefbench.tasks.corpora.registry`).
"""

import importlib
import pkgutil

from prefbench.tasks.corpora.email_cleaning import (
    EMAIL_DROP_REASONS,
    CleanedEmail,
    Dropped,
    clean_email,
    normalize_whitespace,
    split_previous_context,
)
from prefbench.tasks.corpora.enron import read_enron
from prefbench.tasks.corpora.enron_reader import (
    SENT_FOLDERS,
    RawMessage,
    SourceProblem,
    is_sent_folder,
    iter_csv_export,
    iter_enron_source,
    iter_maildir,
    iter_tar,
)
from prefbench.tasks.corpora.enron_release import ReleaseEmail, iter_release
from prefbench.tasks.corpora.new_yorker import (
    NEW_YORKER,
    Article,
    NewYorkerOptions,
    iter_articles,
    read_new_yorker,
)
from prefbench.tasks.corpora.prepare import (
    CorpusStats,
    PrepareSummary,
    corpus_stats,
    owner_addresses,
    prepare_corpus,
)
from prefbench.tasks.corpora.registry import (
    STRICT_REASONS,
    Corpus,
    CorpusText,
    NoOptions,
    SkippedText,
    SplitRule,
    corpora,
    corpus,
    corpus_names,
    corpus_text_kind,
    generated_corpus,
    lookup_corpus,
)
from prefbench.tasks.corpora.selection import (
    DropCounter,
    DroppedExample,
    UserSpool,
    assign_splits,
    select_users,
)

__all__ = [
    "EMAIL_DROP_REASONS",
    "NEW_YORKER",
    "SENT_FOLDERS",
    "STRICT_REASONS",
    "Article",
    "CleanedEmail",
    "Corpus",
    "CorpusStats",
    "CorpusText",
    "DropCounter",
    "Dropped",
    "DroppedExample",
    "NewYorkerOptions",
    "NoOptions",
    "PrepareSummary",
    "RawMessage",
    "ReleaseEmail",
    "SkippedText",
    "SourceProblem",
    "SplitRule",
    "UserSpool",
    "assign_splits",
    "clean_email",
    "corpora",
    "corpus",
    "corpus_names",
    "corpus_stats",
    "corpus_text_kind",
    "generated_corpus",
    "is_sent_folder",
    "iter_articles",
    "iter_csv_export",
    "iter_enron_source",
    "iter_maildir",
    "iter_release",
    "iter_tar",
    "lookup_corpus",
    "normalize_whitespace",
    "owner_addresses",
    "prepare_corpus",
    "read_enron",
    "read_new_yorker",
    "select_users",
    "split_previous_context",
]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
