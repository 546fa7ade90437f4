"""The LLM judge scorer on the offline scripted model: orders, ties, retries, parse failures."""

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import Model, get_model

import tests.logprob_model  # noqa: F401  (registers prefbench-logprob)
from prefbench.scorers.llm_judge import FOLLOW_UP_MAX_TOKENS, llm_judge, soft_score_a
from prefbench.tasks.pairwise import candidates_in_place

TEXT_A = "text written by system A"
TEXT_B = "text written by system B"


def candidate_number(prompt: str, text: str) -> int:
    return 1 if prompt.index(text) < prompt.index(TEXT_B if text == TEXT_A else TEXT_A) else 2


def judge_pair(
    replies, tie_policy: str = "inconsistent_is_tie", model: Model | None = None, **options
):
    sample = Sample(
        id="r1",
        input="ground truth",
        target="ground truth",
        metadata={"user": "u", "candidate_a": TEXT_A, "candidate_b": TEXT_B},
    )
    judge = model or get_model("prefbench-mock/judge", replies=replies, memoize=False)
    task = Task(
        dataset=MemoryDataset([sample]),
        solver=candidates_in_place(),
        scorer=llm_judge(tie_policy=tie_policy, **options),
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


def per_order(ab: list[str], ba: list[str]):
    """Replies per order, in turn: both orders are in flight at once, so calls interleave."""
    queues = {"ab": list(ab), "ba": list(ba)}

    def reply(prompt: str) -> str:
        return queues["ab" if candidate_number(prompt, TEXT_A) == 1 else "ba"].pop(0)

    return reply


def test_unparseable_answer_is_retried_once_then_counts():
    replies = per_order(["I cannot decide", "<winner>1</winner>"], ["<winner>2</winner>"])
    score, calls = judge_pair(replies, retry="repeat")
    assert len(calls) == 3  # order ab: failed + retry; order ba: first answer parsed
    assert score.metadata["answers_ab"] == ["I cannot decide", "<winner>1</winner>"]
    assert score.answer == "win"


def test_twice_unparseable_is_a_parse_failure_never_a_side():
    replies = per_order(["<winner>7</winner>", "no tag at all"], ["<winner>2</winner>"])
    score, calls = judge_pair(replies, retry="repeat")
    assert len(calls) == 3
    assert score.metadata["winner_ab"] is None
    assert score.answer == "parse_failure" and score.value == "N"


# --- the retry: a follow-up turn that asks for the format -------------------------------------

FOLLOW_UP_REQUEST = "Reply with only the number"
RAMBLING = "The closest candidate is the one who wrote about the meeting."


def greedy_rambler(prompt: str) -> str:
    """SmolLM2's failure: the same rambling answer to the same prompt, the tag only when asked."""
    if FOLLOW_UP_REQUEST in prompt:
        return f"<winner>{candidate_number(prompt, TEXT_A)}</winner>"
    return RAMBLING


def test_follow_up_turn_shows_the_answer_and_asks_for_the_format():
    score, calls = judge_pair(greedy_rambler)
    assert score.answer == "win" and score.metadata["position_consistent"] is True
    assert len(calls) == 4  # each order: the answer, then the follow-up
    follow_up_prompt, follow_up_config = next(c for c in calls if FOLLOW_UP_REQUEST in c[0])
    assert RAMBLING in follow_up_prompt and FOLLOW_UP_REQUEST in follow_up_prompt
    assert follow_up_config.max_tokens == FOLLOW_UP_MAX_TOKENS
    assert score.metadata["answers_ab"] == [RAMBLING, "<winner>1</winner>"]
    assert score.metadata["verdict_source_ab"] == score.metadata["verdict_source_ba"] == "follow_up"


def test_repeating_the_prompt_to_a_greedy_judge_fails_where_the_follow_up_succeeds():
    score, calls = judge_pair(greedy_rambler, retry="repeat")
    assert len(calls) == 4
    assert all(FOLLOW_UP_REQUEST not in prompt for prompt, _ in calls)
    assert score.metadata["answers_ab"] == [RAMBLING, RAMBLING]
    assert score.answer == "parse_failure"


def test_a_follow_up_without_the_format_is_a_parse_failure():
    score, calls = judge_pair(lambda prompt: RAMBLING)
    assert len(calls) == 4 and score.answer == "parse_failure"
    assert score.metadata["verdict_source_ab"] is None


# --- verdict: logprobs ---------------------------------------------------------------------------


def judge_pair_with_logprobs(replies, numbers, logprobs_offered: bool = True, **options):
    judge = get_model(
        "prefbench-logprob/judge",
        replies=replies,
        numbers=numbers,
        logprobs_offered=logprobs_offered,
        memoize=False,
    )
    return judge_pair(None, verdict="logprobs", model=judge, **options)


def test_logprobs_give_a_verdict_and_a_confidence_per_order():
    # the judge favours candidate 2 with probability 0.8 whatever the order: position bias
    score, calls = judge_pair_with_logprobs(
        lambda prompt: "<thinking>hm</thinking><winner>2</winner>", {"1": 0.16, "2": 0.64}
    )
    assert all(config.logprobs and config.top_logprobs == 20 for _, config in calls)
    assert len(calls) == 2
    assert score.metadata["winner_ab"] == score.metadata["winner_ba"] == 2
    assert score.metadata["probabilities_ab"] == pytest.approx([0.2, 0.8])
    assert score.metadata["verdict_source_ab"] == "logprobs"
    # A is candidate 1 in order AB (0.2) and candidate 2 in order BA (0.8)
    assert score.metadata["soft_score"] == pytest.approx(0.5)
    assert score.answer == "tie"


def test_logprobs_after_a_rambling_answer_come_from_the_follow_up():
    score, calls = judge_pair_with_logprobs(greedy_rambler, {"1": 0.7, "2": 0.1, "3": 0.2})
    assert len(calls) == 4
    assert score.metadata["verdict_source_ab"] == "logprobs_follow_up"
    assert score.metadata["probabilities_ab"] == pytest.approx([0.875, 0.125])
    assert score.metadata["winner_ab"] == score.metadata["winner_ba"] == 1


def test_a_single_candidate_among_the_top_tokens_is_not_a_certainty():
    """The issue's SmolLM2 case: only "1" listed used to give exactly [1.0, 0.0]."""
    score, _ = judge_pair_with_logprobs(lambda prompt: "<winner>1</winner>", {"1": 0.9})
    assert score.metadata["winner_ab"] == score.metadata["winner_ba"] == 1
    # "2" was not listed: it could have had the 0.1 left, so the confidence is 0.9, not 1
    assert score.metadata["probabilities_ab"] == pytest.approx([0.9, 0.1])
    assert score.metadata["candidate_mass_ab"] == pytest.approx(0.9)


def test_too_little_probability_on_the_candidates_is_a_parse_failure_not_a_verdict():
    score, calls = judge_pair_with_logprobs(greedy_rambler, {"1": 0.3, "Candidate": 0.6, "2": 0.05})
    assert len(calls) == 4  # each order: the answer, then the follow-up, neither a verdict
    assert score.answer == "parse_failure"
    assert score.metadata["winner_ab"] is None and score.metadata["verdict_source_ab"] is None
    assert score.metadata["candidate_mass_ab"] == pytest.approx(0.35)
    assert score.metadata["soft_score"] is None


def test_the_candidate_mass_threshold_is_a_setting():
    score, _ = judge_pair_with_logprobs(
        lambda prompt: "<winner>1</winner>", {"1": 0.3, "2": 0.1}, min_candidate_mass=0.25
    )
    assert score.metadata["probabilities_ab"] == pytest.approx([0.75, 0.25])


def test_logprobs_mode_falls_back_to_the_text_without_logprobs_from_the_provider():
    score, calls = judge_pair_with_logprobs(
        lambda prompt: f"<winner>{candidate_number(prompt, TEXT_B)}</winner>",
        {"1": 0.5, "2": 0.5},
        logprobs_offered=False,
    )
    assert score.answer == "loss"
    assert score.metadata["verdict_source_ab"] == "text"
    assert score.metadata["probabilities_ab"] is None and score.metadata["soft_score"] is None


def test_soft_score_averages_system_a_over_the_orders():
    assert soft_score_a({"ab": [0.9, 0.1], "ba": [0.3, 0.7]}) == pytest.approx(0.8)
    assert soft_score_a({"ab": None, "ba": [0.3, 0.7]}) == pytest.approx(0.7)
    assert soft_score_a({"ab": None, "ba": None}) is None
