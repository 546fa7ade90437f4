"""The corpus registry: names, text kinds, split rules, options and their errors."""

from pathlib import Path

import pytest

from prefbench.core.errors import PrefbenchInputError
from prefbench.tasks.corpora.prepare import prepare_corpus
from prefbench.tasks.corpora.registry import (
    corpus,
    corpus_names,
    corpus_text_kind,
    generated_corpus,
    lookup_corpus,
)
from prefbench.tasks.demo import generate_demo_records
from prefbench.tasks.records import Record, read_records
from prefbench.tasks.samples import record_to_sample, sample_text_kind


def test_built_in_corpora_and_their_rules():
    assert {"demo", "enron", "new_yorker"} <= set(corpus_names())
    enron, new_yorker, demo = (lookup_corpus(name) for name in ("enron", "new_yorker", "demo"))
    assert (enron.text_kind, new_yorker.text_kind, demo.text_kind) == ("email", "article", "email")
    assert (enron.split.test_fraction, new_yorker.split.test_fraction) == (0.2, 0.5)
    assert enron.split.modes == new_yorker.split.modes == ("random", "chronological")
    assert demo.split.modes == ("random",) and not demo.takes_source
    assert "maildir" in enron.source_help and "All the News" in new_yorker.source_help
    assert list(new_yorker.options.model_fields) == ["user_field"]
    assert "author or publication; default author" in new_yorker.option_help()["user_field"]


def test_unknown_corpus_names_the_known_ones_and_the_fix():
    with pytest.raises(PrefbenchInputError) as caught:
        lookup_corpus("reddit")
    message = str(caught.value)
    assert "reddit" in message and "enron" in message and "new_yorker" in message
    assert "entry-points" in message


@pytest.mark.parametrize(
    ("dataset", "kind"),
    [("new_yorker", "article"), ("enron", "email"), ("demo", "email"), ("nobody", "email")],
)
def test_samples_carry_their_corpus_text_kind(dataset, kind):
    record = Record(
        id="r1", dataset=dataset, user="u", split="test", metadata={}, content="text",
        intent="say hi", source="here",
    )  # fmt: skip
    metadata = record_to_sample(record).metadata
    assert metadata["text_kind"] == kind == corpus_text_kind(dataset)
    assert sample_text_kind({"dataset": dataset}) == kind  # logs without text_kind
    assert sample_text_kind({"dataset": "enron", "text_kind": "article"}) == "article"


def test_options_are_validated_against_the_corpus(tmp_path: Path):
    new_yorker, enron = lookup_corpus("new_yorker"), lookup_corpus("enron")
    assert new_yorker.parse_options({"user_field": "publication"}).user_field == "publication"
    with pytest.raises(PrefbenchInputError, match="user_field='editor'.*author.*publication"):
        new_yorker.parse_options({"user_field": "editor"})
    assert enron.parse_options({"user_field": "author"}).model_dump() == {}  # another's option
    with pytest.raises(PrefbenchInputError, match="enron has no option 'colour'"):
        enron.parse_options({"colour": "red"})
    with pytest.raises(PrefbenchInputError, match="records_per_user"):
        prepare_corpus("demo", None, tmp_path / "out", users=2, records_per_user=1)
    assert not (tmp_path / "out").exists()


def test_split_and_source_follow_the_registration(tmp_path: Path):
    with pytest.raises(PrefbenchInputError, match="unknown split 'chronological' for demo"):
        prepare_corpus("demo", None, tmp_path / "a", split="chronological")
    with pytest.raises(PrefbenchInputError, match="reads no source"):
        prepare_corpus("demo", tmp_path, tmp_path / "b")
    with pytest.raises(PrefbenchInputError, match="needs a source.*maildir"):
        prepare_corpus("enron", None, tmp_path / "c")


def test_the_demo_corpus_writes_the_generator_records(tmp_path: Path):
    summary = prepare_corpus("demo", None, tmp_path / "out", users=2, seed=3, records_per_user=4)
    expected = generate_demo_records(personas=2, records_per_persona=4, seed=3)
    assert read_records(tmp_path / "out" / "records.jsonl") == expected
    assert summary.kept == 8 and summary.users == [r.user for r in expected[::4]]
    assert summary.settings == {"users": 2, "seed": 3, "split": "random", "records_per_user": 4}
    assert len(prepare_corpus("demo", None, tmp_path / "default").users) == 3  # its default


def test_registration_errors():
    def reader(source, options):
        return []

    with pytest.raises(ValueError, match="registered twice"):
        corpus(name="enron", text_kind="email", source="x", test_fraction=0.2)(reader)
    with pytest.raises(ValueError, match="text_kind"):
        corpus(name="poems", text_kind="poem", source="x", test_fraction=0.2)(reader)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="test_fraction"):
        generated_corpus(name="poems", text_kind="email", test_fraction=1.0, default_users=1)
    assert "poems" not in corpus_names()
