"""The LLM judge's prompt follows the dataset: articles (New Yorker) or emails."""

from pathlib import Path

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import read_eval_log
from inspect_ai.model import get_model

from prefbench.core.text_kinds import kind_template
from prefbench.scorers.judge_prompts import judge_messages, judge_template_for, resolve_template
from prefbench.scorers.llm_judge import llm_judge
from prefbench.tasks.corpora.registry import corpus_text_kind
from prefbench.tasks.multi_candidate import multi_candidate_comparison
from prefbench.tasks.pairwise import candidates_in_place, pairwise_comparison
from tests.test_multi_candidate import generation_log

ARTICLE_SYSTEM = kind_template("article", "judge").system.strip()
EMAIL_SYSTEM = kind_template("email", "judge").system.strip()


@pytest.mark.parametrize(
    ("dataset", "template"),
    [
        ("new_yorker", "article:judge"),
        ("enron", "email:judge"),
        ("demo", "email:judge"),
        ("another_corpus", "email:judge"),
        (None, "email:judge"),
    ],
)
def test_template_per_dataset(dataset, template):
    assert judge_template_for(corpus_text_kind(dataset)) == template


@pytest.mark.parametrize(
    ("text_kind", "template"),
    [("article", "article:judge"), ("email", "email:judge"), (None, "email:judge")],
)
def test_template_per_text_kind(text_kind, template):
    assert judge_template_for(text_kind) == template


def test_article_prompt_shows_every_candidate():
    article = resolve_template("article:judge")
    system, user = (m.text for m in judge_messages(article, "TRUTH", ["A", "B", "C"]))
    assert "article" in system and "email" not in (system + user).lower()
    assert "TRUTH" in user and "3 candidate articles" in user
    assert user.index("<candidate_1>\nA") < user.index("<candidate_3>\nC")
    assert "<winner>N</winner>" in user


@pytest.mark.parametrize(
    ("dataset", "system_line", "template"),
    [
        ("new_yorker", ARTICLE_SYSTEM, "article:judge"),
        ("enron", EMAIL_SYSTEM, "email:judge"),
    ],
)
def test_pairwise_task_sends_the_dataset_prompt(tmp_path: Path, dataset, system_line, template):
    logs = [str(generation_log(tmp_path, s, ["1", "2"], dataset=dataset)) for s in ("a", "b")]
    task = pairwise_comparison(generations_a=logs[0], generations_b=logs[1], judge="llm")
    call_log = tmp_path / "calls.tsv"
    judge = get_model(
        "prefbench-mock/judge",
        replies=["<winner>1</winner>"],
        call_log=str(call_log),
        memoize=False,
    )
    log = eval(
        task, model=judge, model_roles={"judge": judge}, display="none", log_dir=str(tmp_path)
    )[0]
    assert log.status == "success"
    lines = call_log.read_text(encoding="utf-8").splitlines()
    assert lines == [f"judge\t{system_line}"] * 4  # two samples, two orders each
    for sample in read_eval_log(log.location).samples:
        assert next(iter(sample.scores.values())).metadata["template"] == template


def test_explicit_template_overrides_the_dataset():
    sample = Sample(
        id="r1",
        input="truth",
        target="truth",
        metadata={"user": "u", "dataset": "new_yorker", "candidate_a": "x", "candidate_b": "y"},
    )
    judge = get_model("prefbench-mock/judge", replies=["<winner>1</winner>"], memoize=False)
    task = Task(
        dataset=MemoryDataset([sample]),
        solver=candidates_in_place(),
        scorer=llm_judge(prompt="email:judge"),
    )
    log = eval(task, model=judge, model_roles={"judge": judge}, display="none", log_dir=None)[0]
    assert next(iter(log.samples[0].scores.values())).metadata["template"] == "email:judge"
    assert all(prompt.startswith(EMAIL_SYSTEM) for prompt, _ in judge.api.calls)


def test_multi_candidate_judge_uses_the_article_prompt(tmp_path: Path):
    logs = [str(generation_log(tmp_path, s, ["1"], dataset="new_yorker")) for s in ("a", "b", "c")]
    judge = get_model("prefbench-mock/judge", replies=["<winner>2</winner>"], memoize=False)
    log = eval(
        multi_candidate_comparison(generation_logs=logs),
        model=judge,
        model_roles={"judge": judge},
        display="none",
        log_dir=str(tmp_path / "judge"),
    )[0]
    score = next(iter(read_eval_log(log.location).samples[0].scores.values()))
    assert score.metadata["template"] == "article:judge"
    assert all(
        prompt.startswith(ARTICLE_SYSTEM) and "3 candidate articles" in prompt
        for prompt, _ in judge.api.calls
    )


def test_the_profile_encoder_reaches_the_similarity_judges(tmp_path):
    """`metrics.encoder` is the BERTScore encoder of the pairwise and multi-candidate judges."""
    from prefbench.core.offline_models import minilm_dir
    from prefbench.harness.pipeline import generate, judge, prepare_records
    from tests.helpers import scripted_profile, scripted_run

    encoder = str(minilm_dir())
    profile = scripted_profile(
        judge={"kind": "similarity", "multi_candidate": True},
        metrics={"encoder": encoder, "num_layers": 5},
    )
    context = scripted_run(tmp_path / "run", profile)
    generate(context, prepare_records(context))
    judge(context)
    logs = [result.read_header() for result in context.judge_logs.values()]
    logs.append(context.multi_candidate_logs["similarity"].read_header())
    for log in logs:
        (scorer,) = log.eval.scorers
        assert scorer.options["model_dir"] == encoder and scorer.options["num_layers"] == 5
