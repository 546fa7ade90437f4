"""Multi-candidate judging: join of N logs, rotations, retries, votes and first-choice stats."""

from pathlib import Path

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import read_eval_log
from inspect_ai.model import get_model
from inspect_ai.solver import generate
from scipy.special import expit, logit
from scipy.stats import t as student_t
from statsmodels.stats.proportion import proportion_confint

from prefbench.core.errors import PrefbenchInputError
from prefbench.scorers.multi_judge import cyclic_rotations, rotation_votes
from prefbench.scorers.stats import summarize_first_choice, vote_totals
from prefbench.tasks.multi_candidate import (
    join_generation_logs,
    multi_candidate_comparison,
    read_multi_candidate,
)
from prefbench.tasks.pairwise import read_generation_log
from tests.generation_logs import finished_generation_log

SYSTEMS = ["alpha", "beta", "gamma"]
USERS = {"1": "u1", "2": "u1", "3": "u2"}


def output_of(system: str, sample_id: str) -> str:
    return f"text of {system} for record {sample_id}"


def generation_log(
    tmp_path: Path,
    system: str,
    ids: list[str],
    dataset: str = "enron",
    truth: str = "truth {id}",
) -> Path:
    """A finished generation log of `system`: one output per id, `output_of(system, id)`."""
    return finished_generation_log(
        tmp_path / "gen" / system,
        system,
        {i: output_of(system, i) for i in ids},
        truth=truth,
        users={i: USERS.get(i, "u1") for i in ids},
        dataset=dataset,
    )


def judge_logs(tmp_path: Path, replies, ids=("1", "2", "3"), judge: str = "llm", **kwargs):
    """Run the multi-candidate task over three systems; return the log and the judge's calls."""
    paths = [str(generation_log(tmp_path, system, list(ids), **kwargs)) for system in SYSTEMS]
    task = multi_candidate_comparison(generation_logs=paths, judge=judge)
    model = get_model("prefbench-mock/judge", replies=replies, memoize=False)
    log = eval(
        task,
        model=model,
        model_roles={"judge": model},
        display="none",
        log_dir=str(tmp_path / "judge"),
        max_samples=1,
    )[0]
    assert log.status == "success"
    return read_eval_log(log.location), model.api.calls


def score_of(log, sample_id: str):
    sample = next(s for s in log.samples if s.id == sample_id)
    return next(iter(sample.scores.values()))


def position_of(prompt: str, text: str) -> int:
    """1-based position of `text` among the candidate blocks of a judge prompt."""
    starts = sorted(prompt.index(f"text of {s}") for s in SYSTEMS)
    return starts.index(prompt.index(text)) + 1


def picks(system: str):
    """A judge that always answers with the position of `system`'s text."""
    return lambda prompt: f"<winner>{position_of(prompt, f'text of {system}')}</winner>"


# --- joining N generation logs ---------------------------------------------------------------


def test_join_aligns_every_system_by_id(tmp_path):
    logs = [
        read_generation_log(generation_log(tmp_path, "alpha", ["1", "2", "3"])),
        read_generation_log(generation_log(tmp_path, "beta", ["3", "1", "2"])),
        read_generation_log(generation_log(tmp_path, "gamma", ["2", "3", "1"])),
    ]
    joined = join_generation_logs(logs)
    assert [s.id for s in joined] == ["1", "2", "3"]
    assert joined[1].metadata["systems"] == SYSTEMS
    assert joined[1].metadata["candidates"] == [output_of(s, "2") for s in SYSTEMS]
    assert joined[1].target == "truth 2" and joined[2].metadata["user"] == "u2"


def test_join_names_missing_ids_or_intersects(tmp_path):
    logs = [
        read_generation_log(generation_log(tmp_path, "alpha", ["1", "2", "3"])),
        read_generation_log(generation_log(tmp_path, "beta", ["1", "2"])),
        read_generation_log(generation_log(tmp_path, "gamma", ["2", "3"])),
    ]
    with pytest.raises(PrefbenchInputError) as error:
        join_generation_logs(logs)
    message = str(error.value)
    assert "missing in beta" in message and "['3']" in message
    assert "missing in gamma" in message and "['1']" in message
    assert "missing in alpha" not in message
    assert [s.id for s in join_generation_logs(logs, on_mismatch="intersect")] == ["2"]


def test_join_needs_two_distinct_systems(tmp_path):
    alpha = read_generation_log(generation_log(tmp_path, "alpha", ["1"]))
    with pytest.raises(ValueError, match="at least 2"):
        join_generation_logs([alpha])
    with pytest.raises(PrefbenchInputError, match="each system may appear once"):
        join_generation_logs([alpha, alpha])
    with pytest.raises(PrefbenchInputError, match="unknown judge 'oracle'"):
        multi_candidate_comparison(
            generation_logs=[str(generation_log(tmp_path, "b", ["1"]))] * 2, judge="oracle"
        )


# --- the LLM multi judge on the scripted model ----------------------------------------------


def test_cyclic_rotations_show_each_system_once_in_each_position():
    rotations = cyclic_rotations(SYSTEMS)
    assert rotations == [SYSTEMS, ["beta", "gamma", "alpha"], ["gamma", "alpha", "beta"]]
    assert cyclic_rotations(["a", "b"]) == [["a", "b"], ["b", "a"]]


def test_judge_sees_every_rotation(tmp_path):
    log, calls = judge_logs(tmp_path, ["<winner>1</winner>"], ids=("1",))
    assert len(calls) == 3
    shown = [
        sorted(SYSTEMS, key=lambda s, prompt=prompt: prompt.index(output_of(s, "1")))
        for prompt, _ in calls
    ]
    assert shown == cyclic_rotations(SYSTEMS)
    for position in range(3):
        assert sorted(order[position] for order in shown) == SYSTEMS
    assert all("3 candidate emails" in prompt and "truth 1" in prompt for prompt, _ in calls)
    score = score_of(log, "1")
    assert [r["shown"] for r in score.metadata["rotations"]] == shown
    assert score.metadata["template"] == "email:judge"


def test_position_bias_gives_equal_shares_and_no_consistency(tmp_path):
    log, _ = judge_logs(tmp_path, ["<winner>1</winner>"])
    score = score_of(log, "2")
    assert score.answer == "no_consensus" and score.metadata["position_consistent"] is False
    assert [r["chosen"] for r in score.metadata["rotations"]] == SYSTEMS
    assert score.value == {"alpha": 1.0, "beta": 1.0, "gamma": 1.0}
    report = read_multi_candidate(log)
    assert report["n"] == 3 and report["rotations"] == 3 and report["parse_failures"] == 0
    assert report["position_consistency"] == 0.0
    assert [row["votes"] for row in report["first_choice"]] == [3, 3, 3]
    assert all(row["share"] == pytest.approx(1 / 3) for row in report["first_choice"])


def test_a_judge_that_always_picks_one_system(tmp_path):
    log, _ = judge_logs(tmp_path, picks("gamma"))
    score = score_of(log, "1")
    assert score.answer == "gamma" and score.metadata["position_consistent"] is True
    assert [r["winner"] for r in score.metadata["rotations"]] == [3, 2, 1]
    report = read_multi_candidate(log)
    assert report["judge"] == "llm" and report["systems"] == SYSTEMS
    assert report["position_consistency"] == 1.0
    first, *others = report["first_choice"]
    assert (first["system"], first["votes"], first["share"]) == ("gamma", 9, 1.0)
    assert [(row["system"], row["share"]) for row in others] == [("alpha", 0.0), ("beta", 0.0)]
    assert first["ci_low"] <= 1.0 <= first["ci_high"]
    assert log.results.scores[0].metrics["gamma"].value == 1.0


def per_rotation(replies: dict[str, list[str]]):
    """Replies per rotation (named by the system shown first), in turn: rotations interleave."""
    queues = {system: list(answers) for system, answers in replies.items()}

    def reply(prompt: str) -> str:
        first = next(s for s in SYSTEMS if position_of(prompt, f"text of {s}") == 1)
        return queues[first].pop(0)

    return reply


def test_unparseable_answer_is_retried_once(tmp_path):
    replies = per_rotation(
        {
            "alpha": ["I cannot decide", "<winner>2</winner>"],
            "beta": ["<winner>1</winner>"],
            "gamma": ["<winner>3</winner>"],
        }
    )
    log, calls = judge_logs(tmp_path, replies, ids=("1",))
    assert len(calls) == 4
    # the retry continues the conversation: the judge's answer, then a request for the format
    first = next(prompt for prompt, _ in calls if position_of(prompt, "text of alpha") == 1)
    retry = next(prompt for prompt, _ in calls if "I cannot decide" in prompt)
    assert first.split("\n\n", 1)[1] in retry
    assert "<winner>N</winner>" in retry[len(first) :]
    rotations = score_of(log, "1").metadata["rotations"]
    assert rotations[0]["answers"] == ["I cannot decide", "<winner>2</winner>"]
    assert [r["chosen"] for r in rotations] == ["beta", "beta", "beta"]
    assert read_multi_candidate(log)["parse_failures"] == 0


def test_twice_unparseable_is_a_parse_failure_not_a_vote(tmp_path):
    replies = per_rotation(
        {
            "alpha": ["<winner>4</winner>", "no tag"],
            "beta": ["<winner>1</winner>"],
            "gamma": ["<winner>1</winner>"],
        }
    )
    log, calls = judge_logs(tmp_path, replies, ids=("1",))
    assert len(calls) == 4
    score = score_of(log, "1")
    first = score.metadata["rotations"][0]
    assert first["answers"] == ["<winner>4</winner>", "no tag"]
    assert first["winner"] is None and first["chosen"] is None
    assert score.value == {"alpha": 0.0, "beta": 1.0, "gamma": 1.0}
    assert score.metadata["position_consistent"] is None
    report = read_multi_candidate(log)
    assert report["parse_failures"] == 1 and report["position_consistency"] is None
    assert sum(row["votes"] for row in report["first_choice"]) == 2


# --- the similarity multi judge on the packaged MiniLM (real) --------------------------------


@pytest.mark.integration
def test_similarity_multi_judge_picks_the_ground_truth_copy(tmp_path):
    truth = "Please send the signed contract to Sara before Friday noon. Thanks, Mark"
    paths = [
        str(generation_log(tmp_path, system, ["1"], truth=truth)) for system in ("alpha", "beta")
    ]
    copy_log = tmp_path / "copy"
    samples = [Sample(id="1", input="intent 1", target=truth, metadata={"user": "u1"})]
    model = get_model("prefbench-mock/writer", replies=[truth], memoize=False)
    copy = eval(
        Task(dataset=MemoryDataset(samples), solver=generate()),
        model=model,
        display="none",
        log_dir=str(copy_log),
        metadata={"system": "copy"},
    )[0]
    task = multi_candidate_comparison(generation_logs=[*paths, copy.location], judge="similarity")
    log = eval(task, model=model, display="none", log_dir=str(tmp_path / "judge"))[0]
    score = score_of(read_eval_log(log.location), "1")
    assert score.answer == "copy"
    assert score.metadata["f1"]["copy"] == pytest.approx(1.0, abs=1e-4)
    assert [r["chosen"] for r in score.metadata["rotations"]] == ["copy"] * 3


# --- first-choice statistics against hand counts --------------------------------------------


def test_votes_shares_consistency_and_failures_by_hand():
    choices = [
        [("a",), ("a",), ("a",)],  # u1: consistent for a
        [("a",), ("b",), ("a",)],  # u1: inconsistent
        [("b",), (), ("b",)],  # u2: one parse failure (left out of consistency)
        [("a", "b"), ("a", "b"), ("a", "b")],  # u2: exact tie, split votes, consistent
    ]
    summary = summarize_first_choice(choices, ["u1", "u1", "u2", "u2"], ["a", "b", "c"])
    assert summary.n == 4 and summary.parse_failures == 1
    assert summary.position_consistency == pytest.approx(2 / 3)
    rows = {row.system: row for row in summary.first_choice}
    # a: 3 + 2 + 0 + 1.5 = 6.5; b: 0 + 1 + 2 + 1.5 = 4.5; c: 0; all votes 11
    assert rows["a"].votes == 6.5 and rows["b"].votes == 4.5 and rows["c"].votes == 0
    assert rows["a"].share == pytest.approx(6.5 / 11) and rows["b"].share == pytest.approx(4.5 / 11)
    assert [row.system for row in summary.first_choice] == ["a", "b", "c"]
    # two users of unequal weight (6 and 5 votes): CR2 on the logit scale, symmetric there, with
    # at most G - 1 = 1 degree of freedom, so a quantile of at least t(1)
    share = 6.5 / 11
    se = (((5 - share * 6) ** 2 / (1 - 6 / 11) + (1.5 - share * 5) ** 2 / (1 - 5 / 11)) ** 0.5) / 11
    se_logit = se / (share * (1 - share))
    centre = logit(share)
    assert rows["a"].ci_method == "cr2-ik-logit" and rows["a"].ci_guaranteed is False
    low, high = logit(rows["a"].ci_low), logit(rows["a"].ci_high)
    assert centre - low == pytest.approx(high - centre)
    assert (high - centre) / se_logit >= student_t.ppf(0.975, 1) - 1e-9
    # c has share 0 for every user: a clustered interval collapses, Wilson over 4 samples
    assert rows["c"].ci_method == "wilson"
    low, high = proportion_confint(0, 4, alpha=0.05, method="wilson")
    assert (rows["c"].ci_low, rows["c"].ci_high) == pytest.approx((low, high))


def test_share_interval_of_equal_users_is_the_cluster_robust_t_interval_on_the_logit_scale():
    # five users, two samples each of 2 rotations; a's votes per user: 3, 2, 2, 3, 1 of 4.
    # Equal weights: CR2 equals CR1 and the Imbens-Kolesar degrees of freedom are G - 1 = 4
    per_user_a = [3, 2, 2, 3, 1]
    choices, users = [], []
    for number, votes_a in enumerate(per_user_a):
        votes = [("a",)] * votes_a + [("b",)] * (4 - votes_a)
        choices += [votes[:2], votes[2:]]
        users += [f"u{number}"] * 2
    rows = {
        row.system: row for row in summarize_first_choice(choices, users, ["a", "b"]).first_choice
    }
    share = sum(per_user_a) / 20
    variance = 5 / 4 * sum((x - share * 4) ** 2 for x in per_user_a) / 20**2
    half = student_t.ppf(0.975, 4) * variance**0.5 / (share * (1 - share))
    assert rows["a"].share == pytest.approx(share) and rows["a"].ci_method == "cr2-ik-logit"
    assert rows["a"].ci_guaranteed is True
    expected = (expit(logit(share) - half), expit(logit(share) + half))
    assert (rows["a"].ci_low, rows["a"].ci_high) == pytest.approx(expected)


def test_single_user_uses_wilson_over_samples():
    choices = [[("a",), ("a",)], [("a",), ("b",)]]
    summary = summarize_first_choice(choices, ["u", "u"], ["a", "b"])
    rows = {row.system: row for row in summary.first_choice}
    assert rows["a"].share == 0.75 and rows["a"].ci_method == "wilson"
    low, high = proportion_confint(1.5, 2, alpha=0.05, method="wilson")
    assert (rows["a"].ci_low, rows["a"].ci_high) == pytest.approx((low, high))


def test_no_votes_and_bad_input():
    summary = summarize_first_choice([[(), ()]], ["u"], ["a", "b"])
    assert summary.parse_failures == 2 and summary.position_consistency is None
    assert all(row.share is None and row.ci_low is None for row in summary.first_choice)
    with pytest.raises(ValueError, match="unknown system"):
        vote_totals([("z",)], ["a", "b"])
    with pytest.raises(ValueError, match="same length"):
        summarize_first_choice([[("a",)]], [], ["a"])


def test_rotation_votes_read_ties_and_failures():
    metadata = {"rotations": [{"chosen": None}, {"chosen": "a"}], "tied": []}
    assert rotation_votes(metadata) == [(), ("a",)]
    tied = {"rotations": [{"chosen": None}, {"chosen": None}], "tied": ["a", "b"]}
    assert rotation_votes(tied) == [("a", "b"), ("a", "b")]
