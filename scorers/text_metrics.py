"""Surface similarity of a generation to the ground truth: BLEU, ROUGE-L and TF-IDF cosine.

Secondary metrics beside BERTScore, each from its standard library:

- `sentence_bleu`: sacrebleu's sentence BLEU (default tokenizer `13a`, exponential
  smoothing), 0–100;
- `rouge_l`: rouge-score's ROUGE-L F-measure with the Porter stemmer, 0–1;
- `tfidf_cosine`: cosine similarity of the two texts' TF-IDF vectors (scikit-learn), 0–1.
  The vectorizer is fitted on the pair itself (the two texts are its whole corpus), so the
  value depends on nothing but the two texts: deterministic, and unchanged when the test
  set grows. Terms that only one text has get the higher idf `1 + ln(3/2)`, shared terms
  idf 1 (smoothed idf).
"""

from functools import cache
from typing import Any

from inspect_ai.scorer import Score, Scorer, Target, mean, scorer, stderr
from inspect_ai.solver import TaskState
from sacrebleu import sentence_bleu as sacrebleu_sentence_bleu

TEXT_METRICS = ("bleu", "rouge_l", "tfidf_cosine")


@cache
def _rouge_l_scorer() -> Any:
    """rouge-score's stemmed ROUGE-L scorer, made on first use (its import takes ~1 s)."""
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(["rougeL"], use_stemmer=True)


def sentence_bleu(hypothesis: str, reference: str) -> float:
    """Sentence BLEU (sacrebleu, 0–100) of `hypothesis` against one reference."""
    return float(sacrebleu_sentence_bleu(hypothesis, [reference]).score)


def rouge_l(hypothesis: str, reference: str) -> float:
    """ROUGE-L F-measure (rouge-score, stemmed, 0–1) of `hypothesis` against `reference`."""
    scores = _rouge_l_scorer().score(target=reference, prediction=hypothesis)
    return float(scores["rougeL"].fmeasure)


def tfidf_cosine(text_a: str, text_b: str) -> float:
    """Cosine of the TF-IDF vectors of two texts, the vectorizer fitted on the pair (0–1).

    0 when either text has no word token (nothing to compare).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer  # ~1 s: only when used
    from sklearn.metrics.pairwise import cosine_similarity

    try:
        vectors = TfidfVectorizer().fit_transform([text_a, text_b])
    except ValueError:  # empty vocabulary: neither text has a word token
        return 0.0
    return float(cosine_similarity(vectors[0], vectors[1])[0, 0])


def text_metric_values(hypothesis: str, reference: str) -> dict[str, float]:
    """BLEU, ROUGE-L and TF-IDF cosine of `hypothesis` against `reference`."""
    return {
        "bleu": sentence_bleu(hypothesis, reference),
        "rouge_l": rouge_l(hypothesis, reference),
        "tfidf_cosine": tfidf_cosine(hypothesis, reference),
    }


@scorer(metrics={name: [mean(), stderr()] for name in TEXT_METRICS})
def text_similarity() -> Scorer:
    """BLEU, ROUGE-L and TF-IDF cosine of the generation against the target (a dict value)."""

    async def score(state: TaskState, target: Target) -> Score:
        return Score(value=text_metric_values(state.output.completion, target.text))

    return score
