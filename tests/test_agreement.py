"""Agreement statistics against published examples and independent implementations."""

import io

import krippendorff
import numpy as np
import pytest
from rich.console import Console
from sklearn.metrics import cohen_kappa_score

from prefbench.core.tables import html_section, markdown_section, rich_tables
from prefbench.human_eval.agreement import (
    JudgedItem,
    agreement_statistics,
    bootstrap_interval,
    category_counts,
    cohen_kappa,
    fleiss_kappa_of_counts,
    krippendorff_alpha_of_counts,
    majority_outcome,
    pairwise_agreement_of_counts,
    raw_agreement,
)
from prefbench.human_eval.agreement_render import agreement_report_section, agreement_tables
from prefbench.scorers.outcome import PairOutcome

# Fleiss (1971), as tabulated in Wikipedia's "Fleiss' kappa": 10 subjects, 14 raters each,
# 5 categories; P-bar = 0.378, P-bar-e = 0.213, kappa = 0.210.
FLEISS_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: 4 observers,
# 12 units, values 1-5, missing values; nominal alpha = 0.743.
NAN = np.nan
KRIPPENDORFF_DATA = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def units_of(reliability_data) -> list[list[int | None]]:
    """Observers × units (NaN missing) → units × observers (None missing)."""
    return [
        [None if np.isnan(value) else int(value) for value in unit]
        for unit in np.array(reliability_data, dtype=float).T
    ]


def test_fleiss_kappa_on_fleiss_1971_example():
    assert fleiss_kappa_of_counts(FLEISS_TABLE) == pytest.approx(0.210, abs=5e-4)
    assert pairwise_agreement_of_counts(FLEISS_TABLE) == pytest.approx(0.378, abs=5e-4)


def test_fleiss_kappa_from_individual_ratings_matches_the_table():
    ratings = [
        [category for category, count in enumerate(row) for _ in range(count)]
        for row in FLEISS_TABLE
    ]
    counts = category_counts(ratings, range(5))
    assert np.array_equal(counts, FLEISS_TABLE)
    assert fleiss_kappa_of_counts(counts) == pytest.approx(0.20993, abs=1e-5)


def test_fleiss_kappa_needs_equal_raters_and_is_undefined_for_one_category():
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa_of_counts(np.array([[2, 0], [1, 2]]))
    assert fleiss_kappa_of_counts(np.array([[3, 0], [3, 0]])) is None
    assert fleiss_kappa_of_counts(np.zeros((0, 2))) is None


def test_cohen_kappa_on_a_hand_computed_two_by_two_table():
    # yes/yes 20, yes/no 5, no/yes 10, no/no 15: p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5
    first = ["yes"] * 25 + ["no"] * 25
    second = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert raw_agreement(first, second) == pytest.approx(0.7)
    assert cohen_kappa(first, second) == pytest.approx(0.4)


def test_cohen_kappa_matches_sklearn_on_random_labels():
    rng = np.random.default_rng(7)
    for categories in (["win", "loss"], ["win", "loss", "tie"]):
        first = list(rng.choice(categories, size=40))
        second = [a if rng.random() < 0.6 else str(rng.choice(categories)) for a in first]
        assert cohen_kappa(first, second) == pytest.approx(cohen_kappa_score(first, second))


def test_cohen_kappa_is_undefined_when_both_raters_use_one_category():
    assert cohen_kappa(["win"] * 4, ["win"] * 4) is None
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError, match="length"):
        cohen_kappa(["win"], [])


def test_krippendorff_alpha_on_the_published_example_with_missing_values():
    counts = category_counts(units_of(KRIPPENDORFF_DATA), [1, 2, 3, 4, 5])
    assert krippendorff_alpha_of_counts(counts) == pytest.approx(0.743, abs=5e-4)
    direct = krippendorff.alpha(KRIPPENDORFF_DATA, level_of_measurement="nominal")
    assert krippendorff_alpha_of_counts(counts) == pytest.approx(direct)


def test_krippendorff_alpha_matches_the_package_on_random_binary_data():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, size=30)
    data = np.array(
        [np.where(rng.random(30) < 0.8, truth, 1 - truth) for _ in range(4)], dtype=float
    )
    data[rng.random(data.shape) < 0.2] = np.nan
    counts = category_counts(units_of(data), [0, 1])
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha_of_counts(counts) == pytest.approx(expected)


def test_krippendorff_alpha_is_undefined_without_variation():
    assert krippendorff_alpha_of_counts(np.array([[2.0, 0.0], [3.0, 0.0]])) is None
    assert krippendorff_alpha_of_counts(np.array([[1.0, 0.0], [0.0, 1.0]])) is None


def test_bootstrap_interval_is_seeded_and_contains_the_estimate():
    first = np.array(["yes"] * 25 + ["no"] * 25)
    second = np.array(["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15)

    def kappa(indices):
        return cohen_kappa(list(first[indices]), list(second[indices]))

    low, high = bootstrap_interval(kappa, 50, seed=1)
    assert low < 0.4 < high
    assert bootstrap_interval(kappa, 50, seed=1) == (low, high)
    assert bootstrap_interval(kappa, 50, seed=2) != (low, high)
    assert bootstrap_interval(kappa, 0, seed=1) == (None, None)
    assert bootstrap_interval(lambda indices: None, 5, seed=1) == (None, None)


def test_majority_outcome():
    assert majority_outcome({"a": "win", "b": "win", "c": "loss"}) == "win"
    assert majority_outcome({"a": "win", "b": "loss"}) is None
    assert majority_outcome({}) is None


def outcome(word: str) -> PairOutcome:
    scores = {"win": 1.0, "loss": 0.0, "tie": 0.5, "parse_failure": None}
    return PairOutcome(word, scores[word], None)  # type: ignore[arg-type]


def constructed_items() -> list[JudgedItem]:
    rows = [
        ("i1", "x", "u1", "win", {"ann": "win", "bob": "win", "cy": "win"}),
        ("i2", "x", "u1", "loss", {"ann": "loss", "bob": "win", "cy": "loss"}),
        ("i3", "x", "u2", "tie", {"ann": "win", "bob": "win"}),
        ("i4", "y", "u2", "win", {"ann": "loss", "bob": "win"}),
        ("i5", "y", "u1", "loss", {"ann": "loss", "bob": "loss", "cy": "win"}),
        ("i6", "y", "u2", "parse_failure", {}),
    ]
    return [
        JudgedItem(item_id, "pa", system_b, user, outcome(llm), human)
        for item_id, system_b, user, llm, human in rows
    ]


@pytest.fixture(scope="module")
def section() -> dict:
    return agreement_statistics(
        constructed_items(), ["ann", "bob", "cy"], "gpt-4o", seed=0, n_resamples=300
    )


def test_section_has_the_contract_keys(section):
    assert set(section) >= {
        "annotators",
        "items",
        "answers",
        "missing",
        "human_human",
        "human_llm",
        "comparisons",
    }
    pair_keys = {"annotator_1", "annotator_2", "n", "raw_agreement", "cohen_kappa", "ci_low"}
    assert all(pair_keys | {"ci_high"} <= set(pair) for pair in section["human_human"]["pairs"])
    for name in ("raw_agreement", "fleiss_kappa", "krippendorff_alpha"):
        estimate = section["human_human"][name]
        assert set(estimate) == {"value", "ci_low", "ci_high", "n", "ci_method", "ci_guaranteed"}
    # a raw agreement rate is clustered by the items' users; κ and α bootstrap the items
    assert section["human_human"]["raw_agreement"]["ci_method"] in {"cr2-ik-logit", "wilson"}
    assert section["human_human"]["fleiss_kappa"]["ci_method"] == "bootstrap-items"
    assert section["human_human"]["krippendorff_alpha"]["ci_method"] == "bootstrap-items"
    row_keys = {"annotator", "n", "raw_agreement", "cohen_kappa", "ci_low", "ci_high"}
    assert all(row_keys <= set(row) for row in section["human_llm"]["per_annotator"])
    assert row_keys - {"annotator"} <= set(section["human_llm"]["majority"])
    comparison_keys = {
        "system_a",
        "system_b",
        "n",
        "llm_win_rate",
        "llm_ci_low",
        "llm_ci_high",
        "human_win_rate",
        "human_ci_low",
        "human_ci_high",
        "agreement",
    }
    assert all(comparison_keys <= set(row) for row in section["comparisons"])


def test_counts_and_missing_answers(section):
    assert section["annotators"] == ["ann", "bob", "cy"]
    assert section["items"] == 6 and section["answers"] == 13
    assert section["missing"] == 6 * 3 - 13


def test_human_human_pairs_and_overall(section):
    human = section["human_human"]
    pairs = {(p["annotator_1"], p["annotator_2"]): p for p in human["pairs"]}
    ann_bob = pairs[("ann", "bob")]
    assert ann_bob["n"] == 5 and ann_bob["raw_agreement"] == pytest.approx(3 / 5)
    # hand-computed: p_o = 3/5, p_e = 2/5 * 4/5 + 3/5 * 1/5 = 11/25 → κ = 4/14
    assert ann_bob["cohen_kappa"] == pytest.approx(4 / 14)
    assert ann_bob["cohen_kappa"] == pytest.approx(
        cohen_kappa_score(
            ["win", "loss", "win", "loss", "loss"], ["win", "win", "win", "win", "loss"]
        )
    )
    assert pairs[("ann", "cy")]["raw_agreement"] == pytest.approx(2 / 3)
    assert pairs[("bob", "cy")]["raw_agreement"] == pytest.approx(1 / 3)
    # P-bar over i1..i5: (1 + 1/3 + 1 + 0 + 1/3) / 5
    assert human["raw_agreement"]["value"] == pytest.approx((8 / 3) / 5)
    assert human["raw_agreement"]["n"] == 5
    # Fleiss on the items all three answered (i1, i2, i5): P-bar 5/9, P-e 41/81 → 0.1
    assert human["fleiss_kappa"]["n"] == 3
    assert human["fleiss_kappa"]["value"] == pytest.approx(0.1)
    # Krippendorff's alpha on every item, against the package on the raw matrix
    code = {"win": 1.0, "loss": 0.0}
    matrix = [
        [code.get(item.human.get(name), np.nan) for item in constructed_items()]
        for name in ("ann", "bob", "cy")
    ]
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert human["krippendorff_alpha"]["value"] == pytest.approx(expected)


def test_human_llm_counts_judge_ties_as_disagreement(section):
    human_llm = section["human_llm"]
    assert human_llm["judge"] == "gpt-4o"
    ann = next(row for row in human_llm["per_annotator"] if row["annotator"] == "ann")
    # ann: win loss win loss loss vs judge: win loss tie win loss
    assert ann["n"] == 5 and ann["raw_agreement"] == pytest.approx(3 / 5)
    assert ann["llm_ties"] == 1 and ann["raw_agreement_decisive"] == pytest.approx(3 / 4)
    assert ann["cohen_kappa"] == pytest.approx(
        cohen_kappa_score(
            ["win", "loss", "win", "loss", "loss"], ["win", "loss", "tie", "win", "loss"]
        )
    )
    majority = human_llm["majority"]
    # majorities: i1 win, i2 loss, i3 win, i4 even split (left out), i5 loss
    assert majority["majority_ties"] == 1
    assert majority["n"] == 4 and majority["raw_agreement"] == pytest.approx(3 / 4)
    assert majority["llm_ties"] == 1


def test_human_win_rates_beside_the_judges(section):
    rows = {row["system_b"]: row for row in section["comparisons"]}
    x, y = rows["x"], rows["y"]
    assert x["n"] == 3
    assert x["llm_win_rate"] == pytest.approx(0.5)  # win, loss, tie
    assert x["human_win_rate"] == pytest.approx(2 / 3)  # win, loss, win
    assert x["agreement"] == pytest.approx(2 / 3)
    assert y["n"] == 2  # i6 has no answer
    assert y["llm_win_rate"] == pytest.approx(0.5)  # win, loss
    assert y["human_win_rate"] == pytest.approx(0.25)  # even split = tie, loss
    assert y["agreement"] == pytest.approx(1.0) and y["agreement_n"] == 1
    for row in (x, y):
        assert row["llm_ci_low"] <= row["llm_win_rate"] <= row["llm_ci_high"]
        assert row["human_ci_low"] <= row["human_win_rate"] <= row["human_ci_high"]


def test_intervals_contain_their_estimates_and_are_reproducible():
    rng = np.random.default_rng(11)
    items = []
    for number in range(60):
        truth = "win" if rng.random() < 0.6 else "loss"
        flip = {"win": "loss", "loss": "win"}
        human = {
            name: truth if rng.random() < 0.8 else flip[truth]
            for name in ("ann", "bob", "cy")
            if rng.random() < 0.9
        }
        llm = truth if rng.random() < 0.7 else ("tie" if rng.random() < 0.5 else flip[truth])
        items.append(JudgedItem(f"i{number}", "pa", "x", f"u{number % 6}", outcome(llm), human))
    first = agreement_statistics(items, ["ann", "bob", "cy"], "judge", seed=5, n_resamples=300)
    again = agreement_statistics(items, ["ann", "bob", "cy"], "judge", seed=5, n_resamples=300)
    assert first == again
    estimates = [
        (row["cohen_kappa"], row["ci_low"], row["ci_high"])
        for row in first["human_human"]["pairs"] + first["human_llm"]["per_annotator"]
    ]
    estimates += [
        (stat["value"], stat["ci_low"], stat["ci_high"])
        for key, stat in first["human_human"].items()
        if key != "pairs"
    ]
    for value, low, high in estimates:
        assert low <= value <= high


def test_renderings_show_the_tables_and_escape_html(section):
    markdown = markdown_section(agreement_report_section(section))
    assert "| vs system | n | judge % |" in markdown
    assert "| x | 3 | 50.0 |" in markdown and "Win rate % of pa: judge (gpt-4o)" in markdown
    assert "Fleiss' κ 0.100" in markdown
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(rich_tables(agreement_tables(section)))
    assert "Agreement between annotators" in console.export_text()
    hostile = {**section, "annotators": ["<script>alert(1)</script>"]}
    html = html_section(agreement_report_section(hostile))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("<table>") == 3
    assert "&lt;script&gt;" in markdown_section(agreement_report_section(hostile))
    assert agreement_tables({}) == []
