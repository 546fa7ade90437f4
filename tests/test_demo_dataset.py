import json
from collections import Counter

import pytest

from prefbench.tasks.demo import (
    INTENT_KINDS,
    PERSONAS,
    RECIPIENTS,
    STYLE_TRAITS,
    generate_demo_records,
    style_checks,
)
from prefbench.tasks.records import read_records, write_records

PERSONA_BY_KEY = {persona.key: persona for persona in PERSONAS}


def as_json(records) -> list[str]:
    return [json.dumps(record.model_dump(mode="json"), ensure_ascii=False) for record in records]


@pytest.fixture(scope="module")
def corpus():
    return generate_demo_records(personas=len(PERSONAS), records_per_persona=40, seed=7)


def test_same_seed_gives_identical_records_and_files(tmp_path):
    first = generate_demo_records(seed=3)
    second = generate_demo_records(seed=3)
    assert as_json(first) == as_json(second)
    write_records(tmp_path / "a.jsonl", first)
    write_records(tmp_path / "b.jsonl", second)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert read_records(tmp_path / "a.jsonl") == first


def test_different_seed_gives_different_records():
    assert as_json(generate_demo_records(seed=0)) != as_json(generate_demo_records(seed=1))


def test_adding_personas_leaves_earlier_personas_unchanged():
    two = generate_demo_records(personas=2, seed=5)
    three = generate_demo_records(personas=3, seed=5)
    assert as_json(two) == as_json(three[: len(two)])


def test_default_shape_ids_users_and_sources():
    records = generate_demo_records()
    assert len(records) == 30
    assert [r.user for r in records[::10]] == [p.key for p in PERSONAS[:3]]
    assert len({r.id for r in records}) == len(records)
    first = records[0]
    assert first.id == f"demo-{PERSONAS[0].key}-000"
    assert first.source == f"demo-generator:seed=0:persona={PERSONAS[0].key}:n=0"
    for record in records:
        persona = PERSONA_BY_KEY[record.user]
        assert record.dataset == "demo"
        assert record.intent is None
        assert record.metadata["from"] == persona.address
        assert set(record.metadata) == {"from", "to", "cc", "subject", "date"}
        assert record.metadata["to"] != record.metadata["cc"]


@pytest.mark.parametrize(
    ("count", "fraction", "expected_test"),
    [(10, 0.2, 2), (5, 0.2, 1), (2, 0.1, 1), (12, 0.25, 3), (3, 0.9, 2)],
)
def test_split_sizes_per_persona(count, fraction, expected_test):
    records = generate_demo_records(
        personas=3, records_per_persona=count, seed=2, test_fraction=fraction
    )
    for persona in PERSONAS[:3]:
        splits = Counter(r.split for r in records if r.user == persona.key)
        assert splits == {"test": expected_test, "train": count - expected_test}


def test_test_split_is_chosen_by_the_seed():
    picks = {
        seed: tuple(r.id for r in generate_demo_records(personas=1, seed=seed) if r.split == "test")
        for seed in range(6)
    }
    assert len(set(picks.values())) > 1


def test_every_email_passes_all_of_its_own_personas_checks(corpus):
    for record in corpus:
        checks = style_checks(PERSONA_BY_KEY[record.user], record.content)
        assert list(checks) == list(STYLE_TRAITS)
        assert all(checks.values()), (record.id, checks, record.content)


def test_every_email_fails_several_checks_of_every_other_persona(corpus):
    for record in corpus:
        for other in PERSONAS:
            if other.key == record.user:
                continue
            failed = [trait for trait, ok in style_checks(other, record.content).items() if not ok]
            assert len(failed) >= 3, (record.id, other.key, failed)
            assert {"greeting", "sign_off", "pet_phrase"} <= set(failed)


def test_bodies_are_short(corpus):
    for record in corpus:
        body = record.content.split("\n\n")[1:-1]
        assert 25 <= len(" ".join(body).split()) <= 70, record.content


def test_corpus_is_varied(corpus):
    subjects = {r.metadata["subject"] for r in corpus}
    recipients = {r.metadata["to"] for r in corpus}
    months = {r.metadata["date"][:7] for r in corpus}
    assert len(subjects) > len(corpus) // 2
    assert len(recipients) >= 5 and len(RECIPIENTS) >= 5
    assert len(months) >= 10
    assert len(INTENT_KINDS) >= 8
    assert any(r.metadata["cc"] == "" for r in corpus)
    assert any(r.metadata["cc"] != "" for r in corpus)
    with_context = [r for r in corpus if r.previous_context.strip()]
    assert 0.25 <= len(with_context) / len(corpus) <= 0.42
    assert all(r.metadata["subject"].lower().startswith("re: ") for r in with_context)
    for persona in PERSONAS:
        dates = [r.metadata["date"] for r in corpus if r.user == persona.key]
        assert dates == sorted(dates)


def test_at_least_four_distinct_personas():
    assert len(PERSONAS) >= 4
    for trait in ("greeting", "sign_off", "address", "key"):
        assert len({getattr(p, trait) for p in PERSONAS}) == len(PERSONAS)
    assert len({(p.capitalization, p.punctuation) for p in PERSONAS}) == len(PERSONAS)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"personas": 0}, "personas must be between 1 and"),
        ({"personas": len(PERSONAS) + 1}, "personas must be between 1 and"),
        ({"records_per_persona": 1}, "records_per_persona must be at least 2"),
        ({"test_fraction": 0.0}, "test_fraction must be strictly between 0 and 1"),
        ({"test_fraction": 1.0}, "test_fraction must be strictly between 0 and 1"),
        ({"personas": 2.5}, "personas must be an integer"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message) as caught:
        generate_demo_records(**arguments)
    bad_value = next(iter(arguments.values()))
    assert repr(bad_value) in str(caught.value) or str(bad_value) in str(caught.value)
