"""Agreement between annotators, and between annotators and the LLM judge (report `agreement`).

Pure statistics over plain data, plus :func:`agreement_section`, which reads the judge logs
(after :func:`prefbench.human_eval.attach.attach_human_scores`) and returns report.json's
``agreement`` section. Every coefficient comes from a library: Cohen's κ and Fleiss' κ from
``statsmodels.stats.inter_rater``, Krippendorff's α (nominal) from ``krippendorff``.

Intervals (95 %): a raw agreement rate is a mean of per-item agreements, so it gets the report's
one interval rule for rates (:func:`prefbench.scorers.stats.rate_interval`: clustered by the
items' users, CR2 / Imbens–Kolesár t on the logit scale, Wilson where that does not exist;
``ci_method`` ``"cr2-ik-logit"`` or ``"wilson"``): items of one user share that user's style and
are not independent. The chance-corrected coefficients (κ, α) are not means of per-item values,
so the clustered rule does not apply to them; they keep a percentile bootstrap that resamples
items with a fixed seed (``"bootstrap-items"``), which treats items as independent and may
under-cover when users differ.

Labels are outcomes for system A: a human chooses ``"win"`` or ``"loss"``; the judge's
outcome may also be ``"tie"`` or ``"parse_failure"``. A judge tie or parse failure never
agrees with a human's binary choice: it stays in ``n`` as a disagreement (``llm_ties`` counts
them, ``raw_agreement_decisive`` is the agreement without them).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np

from prefbench.human_eval.attach import read_judged_items
from prefbench.human_eval.judged_item import JudgedItem
from prefbench.scorers.outcome import PairOutcome, TiePolicy
from prefbench.scorers.stats.intervals import rate_interval
from prefbench.scorers.stats.win_rate import summarize_win_rate

__all__ = [
    "Estimate",
    "JudgedItem",
    "agreement_section",
    "agreement_statistics",
    "bootstrap_interval",
    "category_counts",
    "cohen_kappa",
    "fleiss_kappa_of_counts",
    "krippendorff_alpha_of_counts",
    "majority_outcome",
    "pairwise_agreement_of_counts",
    "raw_agreement",
]

CONFIDENCE = 0.95
N_RESAMPLES = 2000
ITEM_BOOTSTRAP = "bootstrap-items"
"""The `ci_method` of a coefficient's percentile bootstrap over items."""
HUMAN_LABELS = ("loss", "win")

_HUMAN_SCORES = {"win": 1.0, "loss": 0.0, "tie": 0.5}


@dataclass(frozen=True)
class Estimate:
    """A statistic with its interval over ``n`` items (None when undefined).

    ``ci_method`` says how the interval was computed (module docstring) and
    ``ci_guaranteed`` whether a clustered one rests on enough users for its measured coverage
    (None for the item bootstrap, whose coverage is not measured).
    """

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    ci_method: str | None = None
    ci_guaranteed: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready ``{"value", "ci_low", "ci_high", "n", "ci_method", "ci_guaranteed"}``."""
        return asdict(self)


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def raw_agreement(labels_1: Sequence[Hashable], labels_2: Sequence[Hashable]) -> float | None:
    """Share of positions where both label sequences agree; None when they are empty."""
    if len(labels_1) != len(labels_2):
        raise ValueError(f"label sequences differ in length: {len(labels_1)} vs {len(labels_2)}")
    if not labels_1:
        return None
    return sum(a == b for a, b in zip(labels_1, labels_2, strict=True)) / len(labels_1)


def cohen_kappa(labels_1: Sequence[Hashable], labels_2: Sequence[Hashable]) -> float | None:
    """Cohen's κ of two raters on the same items (``statsmodels`` ``cohens_kappa``).

    The categories are the union of both raters' labels. None when there is no item or
    both raters used one and the same category only (κ is undefined: chance agreement is 1).
    """
    codes_1, codes_2, size = _paired_codes(labels_1, labels_2)
    return _cohen_kappa_of_codes(codes_1, codes_2, size)


def _paired_codes(
    labels_1: Sequence[Hashable], labels_2: Sequence[Hashable]
) -> tuple[np.ndarray, np.ndarray, int]:
    """Both label sequences as integer codes of their sorted union of categories."""
    if len(labels_1) != len(labels_2):
        raise ValueError(f"label sequences differ in length: {len(labels_1)} vs {len(labels_2)}")
    categories = sorted(set(labels_1) | set(labels_2), key=str)
    code = {category: index for index, category in enumerate(categories)}
    codes_1 = np.array([code[label] for label in labels_1], dtype=int)
    codes_2 = np.array([code[label] for label in labels_2], dtype=int)
    return codes_1, codes_2, len(categories)


def _cohen_kappa_of_codes(codes_1: np.ndarray, codes_2: np.ndarray, size: int) -> float | None:
    """Cohen's κ from category codes: the contingency table goes to statsmodels."""
    if size < 2 or len(codes_1) == 0:
        return None
    table = np.bincount(codes_1 * size + codes_2, minlength=size * size).reshape(size, size)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        from statsmodels.stats.inter_rater import cohens_kappa  # ~1 s: only when used

        return _finite(cohens_kappa(table.astype(float), return_results=False))


def category_counts(
    ratings: Sequence[Sequence[Hashable | None]], categories: Sequence[Hashable]
) -> np.ndarray:
    """Items × categories table of how many raters gave each category (None = no rating).

    Raises:
        ValueError: If a rating is not one of ``categories``.
    """
    code = {category: index for index, category in enumerate(categories)}
    counts = np.zeros((len(ratings), len(categories)), dtype=float)
    for row, item in enumerate(ratings):
        for rating in item:
            if rating is None:
                continue
            if rating not in code:
                raise ValueError(f"rating {rating!r} is not one of {list(categories)}")
            counts[row, code[rating]] += 1
    return counts


def fleiss_kappa_of_counts(counts: np.ndarray) -> float | None:
    """Fleiss' κ of an items × categories count table (``statsmodels`` ``fleiss_kappa``).

    Every item must have the same number (≥ 2) of ratings. None when there is no item or
    every rating falls in one category (κ undefined).

    Raises:
        ValueError: If the items have different numbers of ratings or fewer than two.
    """
    counts = np.asarray(counts, dtype=float)
    if counts.shape[0] == 0:
        return None
    raters = counts.sum(axis=1)
    if np.ptp(raters) > 0 or raters[0] < 2:
        raise ValueError(
            "Fleiss' kappa needs the same number (at least 2) of ratings per item, got "
            f"{sorted(set(raters.astype(int).tolist()))}"
        )
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        from statsmodels.stats.inter_rater import fleiss_kappa

        return _finite(fleiss_kappa(counts, method="fleiss"))


def krippendorff_alpha_of_counts(counts: np.ndarray) -> float | None:
    """Krippendorff's α (nominal) of an items × categories count table (``krippendorff``).

    Items with fewer than two ratings carry no pairable value and do not count. None when
    fewer than two values are pairable or every pairable value is the same category.
    """
    counts = np.asarray(counts, dtype=float)
    if counts.shape[0] == 0 or counts.shape[1] < 2:
        return None
    pairable = counts[counts.sum(axis=1) >= 2]
    if pairable.shape[0] == 0 or np.count_nonzero(pairable.sum(axis=0)) < 2:
        return None
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        value = krippendorff.alpha(
            value_counts=counts,
            value_domain=list(range(counts.shape[1])),
            level_of_measurement="nominal",
        )
    return _finite(value)


def pairwise_agreement_of_counts(counts: np.ndarray) -> float | None:
    """Raw agreement of many raters (Fleiss' observed agreement P̄).

    Over the items with at least two ratings, the mean share of rater pairs that gave the
    same category. None without such items.
    """
    counts = np.asarray(counts, dtype=float)
    per_item = counts.sum(axis=1)
    rated = counts[per_item >= 2]
    if rated.shape[0] == 0:
        return None
    ratings = rated.sum(axis=1)
    same_pairs = (rated * (rated - 1)).sum(axis=1)
    return float(np.mean(same_pairs / (ratings * (ratings - 1))))


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float | None],
    n_items: int,
    seed: int,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of a statistic over items.

    ``statistic`` receives an array of item indices (a resample with replacement of
    ``range(n_items)``) and returns the statistic on those items, or None where it is
    undefined; undefined resamples are left out. The generator is
    ``numpy.random.default_rng(seed)``, so the same inputs and seed give the same interval.

    Returns:
        ``(low, high)``; ``(None, None)`` when there is no item or no resample is defined.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    if n_items == 0:
        return None, None
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, n_items, size=(n_resamples, n_items))
    values = [statistic(indices) for indices in resamples]
    defined = np.array([value for value in values if value is not None], dtype=float)
    if defined.size == 0:
        return None, None
    tail = 100 * (1.0 - confidence) / 2
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high)


def _estimate(
    statistic: Callable[[np.ndarray], float | None], n_items: int, seed: int, n_resamples: int
) -> Estimate:
    value = statistic(np.arange(n_items)) if n_items else None
    if value is None:
        return Estimate(None, None, None, n_items)
    low, high = bootstrap_interval(statistic, n_items, seed, n_resamples)
    return Estimate(value, low, high, n_items, ITEM_BOOTSTRAP if low is not None else None)


def _rate_estimate(values: Sequence[float], users: Sequence[str]) -> Estimate:
    """A mean of per-item values in [0, 1] with the report's clustered rate interval."""
    if not values:
        return Estimate(None, None, None, 0)
    by_user: dict[str, list[float]] = {}
    for value, user in zip(values, users, strict=True):
        by_user.setdefault(user, []).append(float(value))
    interval = rate_interval(by_user, confidence=CONFIDENCE)
    return Estimate(
        float(np.mean(values)),
        interval.low,
        interval.high,
        len(values),
        interval.method,
        interval.guaranteed,
    )


def _paired_estimates(
    labels_1: Sequence[str],
    labels_2: Sequence[str],
    users: Sequence[str],
    seed: int,
    n_resamples: int,
) -> dict[str, Any]:
    """Raw agreement (clustered by user) and Cohen's κ (item bootstrap) of paired labels."""
    codes_1, codes_2, size = _paired_codes(labels_1, labels_2)
    n = len(codes_1)
    raw = _rate_estimate((codes_1 == codes_2).astype(float).tolist(), users)
    kappa = _estimate(
        lambda idx: _cohen_kappa_of_codes(codes_1[idx], codes_2[idx], size), n, seed, n_resamples
    )
    return {
        "n": n,
        "raw_agreement": raw.value,
        "cohen_kappa": kappa.value,
        "ci_low": kappa.ci_low,
        "ci_high": kappa.ci_high,
        "ci_method": kappa.ci_method,
        "raw_agreement_ci_low": raw.ci_low,
        "raw_agreement_ci_high": raw.ci_high,
        "raw_agreement_ci_method": raw.ci_method,
        "raw_agreement_ci_guaranteed": raw.ci_guaranteed,
    }


def majority_outcome(answers: Mapping[str, str]) -> str | None:
    """The annotators' majority (``"win"``/``"loss"``); None when none answered or a tie."""
    counts = Counter(answers.values())
    if not counts or counts["win"] == counts["loss"]:
        return None
    return "win" if counts["win"] > counts["loss"] else "loss"


def _human_human(
    items: Sequence[JudgedItem], annotators: Sequence[str], seed: int, n_resamples: int
) -> dict[str, Any]:
    pairs = []
    for first, second in itertools.combinations(annotators, 2):
        shared = [item for item in items if first in item.human and second in item.human]
        paired = _paired_estimates(
            [item.human[first] for item in shared],
            [item.human[second] for item in shared],
            [item.user for item in shared],
            seed,
            n_resamples,
        )
        pairs.append({"annotator_1": first, "annotator_2": second, **paired})

    counts = category_counts(
        [[item.human.get(name) for name in annotators] for item in items], HUMAN_LABELS
    )
    rated = counts.sum(axis=1) >= 2
    multi = counts[rated]
    per_item = [
        pairwise_agreement_of_counts(multi[index : index + 1]) for index in range(len(multi))
    ]
    active = [name for name in annotators if any(name in item.human for item in items)]
    complete = counts[counts.sum(axis=1) == len(active)] if len(active) >= 2 else counts[:0]
    return {
        "pairs": pairs,
        "raw_agreement": _rate_estimate(
            per_item, [item.user for item, kept in zip(items, rated, strict=True) if kept]
        ).to_dict(),
        "fleiss_kappa": _estimate(
            lambda idx: fleiss_kappa_of_counts(complete[idx]), len(complete), seed, n_resamples
        ).to_dict(),
        "krippendorff_alpha": _estimate(
            lambda idx: krippendorff_alpha_of_counts(multi[idx]), len(multi), seed, n_resamples
        ).to_dict(),
    }


def _versus_llm(
    humans: Sequence[str], llm: Sequence[str], users: Sequence[str], seed: int, n_resamples: int
) -> dict[str, Any]:
    decisive = [(h, j) for h, j in zip(humans, llm, strict=True) if j in HUMAN_LABELS]
    return {
        **_paired_estimates(humans, llm, users, seed, n_resamples),
        "llm_ties": len(humans) - len(decisive),
        "raw_agreement_decisive": raw_agreement([h for h, _ in decisive], [j for _, j in decisive]),
    }


def _human_llm(
    items: Sequence[JudgedItem],
    annotators: Sequence[str],
    judge: str,
    seed: int,
    n_resamples: int,
) -> dict[str, Any]:
    per_annotator = []
    for name in annotators:
        answered = [item for item in items if name in item.human]
        if not answered:
            continue
        versus = _versus_llm(
            [item.human[name] for item in answered],
            [item.llm.outcome for item in answered],
            [item.user for item in answered],
            seed,
            n_resamples,
        )
        per_annotator.append({"annotator": name, **versus})
    answered = [item for item in items if item.human]
    decided = [(majority_outcome(item.human), item.llm.outcome, item.user) for item in answered]
    kept = [(human, llm, user) for human, llm, user in decided if human is not None]
    majority = _versus_llm(
        [human for human, _, _ in kept],
        [llm for _, llm, _ in kept],
        [user for _, _, user in kept],
        seed,
        n_resamples,
    )
    return {
        "judge": judge,
        "per_annotator": per_annotator,
        "majority": {**majority, "majority_ties": len(decided) - len(kept)},
    }


def _human_pair_outcome(answers: Mapping[str, str]) -> PairOutcome:
    """The per-item majority as an outcome for system A; an even split is a tie."""
    outcome = majority_outcome(answers) or "tie"
    return PairOutcome(outcome, _HUMAN_SCORES[outcome], None)  # type: ignore[arg-type]


def _comparisons(items: Sequence[JudgedItem]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[JudgedItem]] = {}
    for item in items:
        if item.human:
            groups.setdefault((item.system_a, item.system_b), []).append(item)
    rows = []
    for (system_a, system_b), group in groups.items():
        users = [item.user for item in group]
        llm = summarize_win_rate([item.llm for item in group], users)
        human = summarize_win_rate([_human_pair_outcome(item.human) for item in group], users)
        decided = [(majority_outcome(item.human), item.llm.outcome) for item in group]
        kept = [(h, j) for h, j in decided if h is not None]
        rows.append(
            {
                "system_a": system_a,
                "system_b": system_b,
                "n": len(group),
                "llm_win_rate": llm.win_rate,
                "llm_ci_low": llm.ci_low,
                "llm_ci_high": llm.ci_high,
                "human_win_rate": human.win_rate,
                "human_ci_low": human.ci_low,
                "human_ci_high": human.ci_high,
                "ci_guaranteed": llm.ci_guaranteed,
                "agreement": raw_agreement([h for h, _ in kept], [j for _, j in kept]),
                "agreement_n": len(kept),
                "llm_parse_failures": llm.parse_failures,
            }
        )
    return rows


def agreement_statistics(
    items: Sequence[JudgedItem],
    annotators: Sequence[str],
    judge: str,
    seed: int,
    n_resamples: int = N_RESAMPLES,
) -> dict[str, Any]:
    """report.json's ``agreement`` section from judged items with human answers.

    Args:
        items: Every exported item (answered or not) of the judge logs in the report.
        annotators: The study's annotators (the bundle's, then any added by an import).
        judge: The LLM judge's name, shown in the report.
        seed: Seed of every item bootstrap (κ, α).
        n_resamples: Bootstrap resamples per κ or α interval.

    Returns:
        The contract's section: ``annotators``, ``items``, ``answers`` (current answers),
        ``missing`` (item × annotator pairs without an answer, dropped), ``human_human``
        (per pair: raw agreement and Cohen's κ on shared items; overall: raw agreement
        P̄ over items with ≥ 2 answers, Fleiss' κ over the items every active annotator
        answered, Krippendorff's α over all items), ``human_llm`` (per annotator and per-item
        majority; majority ties are left out and counted in ``majority_ties``) and
        ``comparisons`` (LLM and human win rates over the answered items of each comparison,
        an even human split counting as a tie; ``agreement`` = majority vs judge). In pair
        rows ``ci_low``/``ci_high`` bound Cohen's κ (item bootstrap) and
        ``raw_agreement_ci_*`` the raw agreement (clustered by user; module docstring).
    """
    answers = sum(len(item.human) for item in items)
    return {
        "annotators": list(annotators),
        "items": len(items),
        "answers": answers,
        "missing": len(items) * len(annotators) - answers,
        "human_human": _human_human(items, annotators, seed, n_resamples),
        "human_llm": _human_llm(items, annotators, judge, seed, n_resamples),
        "comparisons": _comparisons(items),
    }


def agreement_section(
    run_dir: Path,
    judge_logs: list[Path],
    seed: int,
    tie_policy: TiePolicy | None = None,
    announce: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The ``agreement`` section of a run's report.json, read from its judge logs.

    Human answers are read from the ``human`` scores that
    :func:`prefbench.human_eval.attach.attach_human_scores` put on the judge logs, beside the
    judge's verdicts. Returns ``{}`` when the run has no exported bundle or no answer yet.

    Args:
        run_dir: The run folder.
        judge_logs: The judge logs of the report; items exported from other logs are left out.
        seed: Seed of every bootstrap (the profile's seed).
        tie_policy: How the judge's two orders combine; default: the run profile's policy.
        announce: Receives the warning for a corrupt judge log (moved aside, left out).
    """
    study = read_judged_items(run_dir, judge_logs, tie_policy, announce)
    if study is None or not any(item.human for item in study.items):
        return {}
    return agreement_statistics(study.items, study.annotators, study.judge, seed)
