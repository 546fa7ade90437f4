"""Real corpora (Enron, New Yorker) turned into records: readers, cleaning, selection, prepare."""

from tasks.corpora.email_cleaning import (
    EMAIL_DROP_REASONS,
    CleanedEmail,
    Dropped,
    clean_email,
    normalize_whitespace,
    split_previous_context,
)
from tasks.corpora.enron_reader import (
    SENT_FOLDERS,
    RawMessage,
    SourceProblem,
    is_sent_folder,
    iter_csv_export,
    iter_enron_source,
    iter_maildir,
    iter_tar,
)
from tasks.corpora.enron_release import ReleaseEmail, iter_release
from tasks.corpora.new_yorker import NEW_YORKER, Article, iter_articles
from tasks.corpora.prepare import (
    STRICT_REASONS,
    CorpusStats,
    PrepareSummary,
    corpus_stats,
    owner_addresses,
    prepare_corpus,
)
from tasks.corpora.selection import (
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
    "CorpusStats",
    "DropCounter",
    "Dropped",
    "DroppedExample",
    "PrepareSummary",
    "RawMessage",
    "ReleaseEmail",
    "SourceProblem",
    "UserSpool",
    "assign_splits",
    "clean_email",
    "corpus_stats",
    "is_sent_folder",
    "iter_articles",
    "iter_csv_export",
    "iter_enron_source",
    "iter_maildir",
    "iter_release",
    "iter_tar",
    "normalize_whitespace",
    "owner_addresses",
    "prepare_corpus",
    "select_users",
    "split_previous_context",
]
