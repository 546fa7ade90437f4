"""The LLM judge scorer on the offline scripted model: orders, ties, retries, parse failures."""

from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import get_model

from scorers.llm_judge import llm_judge
from tasks.pairwise import candidates_in_place

TEXT_A = "text written by system A"
TEXT_B = "text written by system B"


def candidate_number(prompt: str, text: str) -> int:
    return 1 if prompt.index(text) < prompt.index(TEXT_B if text == TEXT_A else TEXT_A) else 2


def judge_pair(replies, tie_policy: str = "inconsistent_is_tie"):
    sample = Sample(
        id="r1",
        input="ground truth",
        target="ground truth",
        metadata={"user": "u", "candidate_a": TEXT_A, "candidate_b": TEXT_B},
    )
    judge = get_model("prefbench-mock/judge", replies=replies, memoize=False)
    task = Task(
        dataset=MemoryDataset([sample]),
        solver=candidates_in_place(),
        scorer=llm_judge(tie_policy=tie_policy),
    )
    log = eval(task, model=judge, model_roles={"judge": judge}, display="none", log_dir=None)[0]
    assert log.status == "success"
    score = next(iter(log.samples[0].scores.values()))
    return score, judge.api.calls


def test_consistent_preference_for_a_is_a_win_in_both_orders():
    score, calls = judge_pair(lambda p: f"<winner>{candidate_number(p, TEXT_A)}</winner>")
    assert score.answer == "win" and score.value == "C"
    assert score.metadata["winner_ab"] == 1 and score.metadata["winner_ba"] == 2
    assert score.metadata["position_consistent"] is True
    assert len(calls) == 2
    first, second = calls[0][0], calls[1][0]
    assert first.index(TEXT_A) < first.index(TEXT_B) and second.index(TEXT_B) < second.index(TEXT_A)


def test_consistent_preference_for_b_is_a_loss():
    score, _ = judge_pair(lambda p: f"<winner>{candidate_number(p, TEXT_B)}</winner>")
    assert score.answer == "loss" and score.value == "I"


def test_position_bias_is_a_tie_not_a_win():
    score, _ = judge_pair(["<winner>1</winner>"])
    assert score.answer == "tie" and score.metadata["position_consistent"] is False


def test_each_order_half_policy_is_recorded():
    score, _ = judge_pair(["<winner>1</winner>"], tie_policy="each_order_half")
    assert score.answer == "tie" and score.metadata["tie_policy"] == "each_order_half"


def test_unparseable_answer_is_retried_once_then_counts():
    replies = ["I cannot decide", "<winner>1</winner>", "<winner>2</winner>"]
    score, calls = judge_pair(replies)
    assert len(calls) == 3  # order ab: failed + retry; order ba: first answer parsed
    assert score.metadata["answers_ab"] == ["I cannot decide", "<winner>1</winner>"]
    assert score.answer == "win"


def test_twice_unparseable_is_a_parse_failure_never_a_side():
    score, calls = judge_pair(["<winner>7</winner>", "no tag at all", "<winner>2</winner>"])
    assert len(calls) == 3
    assert score.metadata["winner_ab"] is None
    assert score.answer == "parse_failure" and score.value == "N"
