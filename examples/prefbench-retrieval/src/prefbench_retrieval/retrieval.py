"""Which of a user's training records are closest to a new intent: TF-IDF cosine over intents."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix

from prefbench.plugin import Record

if TYPE_CHECKING:  # scikit-learn takes ~2 s to import: every prefbench command loads this
    from sklearn.feature_extraction.text import TfidfVectorizer


@dataclass(frozen=True)
class IntentIndex:
    """One user's training records, searchable by the similarity of their intents.

    Build it with `IntentIndex.from_records`; `nearest` ranks the records for a new intent.
    """

    records: tuple[Record, ...]
    vectorizer: "TfidfVectorizer | None"
    """Fitted on the training intents only; None when they contain no word at all."""
    vectors: csr_matrix | None
    """One L2-normalized TF-IDF row per record (so a dot product is the cosine)."""

    @classmethod
    def from_records(cls, train: Sequence[Record]) -> "IntentIndex":
        """Index one user's training records by their intents.

        Raises `ValueError` naming the record when one is not from the train split (a test
        email must never be shown as an example) or has no intent yet (run the intents stage,
        `prefbench run`, first).
        """
        for record in train:
            if record.split != "train":
                raise ValueError(
                    f"record {record.id} is in the {record.split!r} split; only training "
                    "records may be retrieved as examples"
                )
            if not record.intent:
                raise ValueError(
                    f"record {record.id} has no intent: run the intents stage first "
                    "(`prefbench run`)"
                )
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(sublinear_tf=True)
        try:
            vectors = vectorizer.fit_transform([record.intent or "" for record in train])
        except ValueError:  # no record, or no intent with a word of two or more characters
            return cls(tuple(train), None, None)
        return cls(tuple(train), vectorizer, vectors)

    def nearest(self, intent: str, k: int) -> list[tuple[Record, float]]:
        """The `k` records whose intents are most similar to `intent`, most similar first.

        Each comes with its cosine similarity in [0, 1]. Equal similarities keep the records'
        order, so the choice is deterministic; fewer than `k` records gives them all.
        Raises `ValueError` when `k < 1`.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if self.vectorizer is None or self.vectors is None:
            similarities = np.zeros(len(self.records))
        else:
            query = self.vectorizer.transform([intent])
            similarities = (self.vectors @ query.T).toarray().ravel()
        order = np.argsort(-similarities, kind="stable")[:k]
        return [(self.records[index], float(similarities[index])) for index in order]
