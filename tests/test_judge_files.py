"""A judge as one YAML file (`examples/judges/closest_style.yaml`), and the paper's judge prompts.

The YAML judge is the `llm` judge with a prompt template, a verdict pattern, a role and a
temperature preset; it runs through the real pipeline on the scripted model. The paper's
prompts are checked word for word and run the same way.
"""

import shutil
from pathlib import Path

import pytest
import yaml

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.profile import load_profile, parse_profile, register_judge_file
from prefbench.scorers import registry
from prefbench.scorers.judge_prompts import judge_messages, template_for_kind
from prefbench.scorers.registry import judge_key_inputs, lookup_judge
from tests.helpers import scripted_profile, scripted_run

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "judges" / "closest_style.yaml"

PAPER_EMAIL_SYSTEM = (
    "You are an expert email evaluator. Given a number of candidate emails and the ground truth "
    "email, your task is to pick which one of the candidate emails is closest to the ground "
    "truth email. During your evaluation, please focus mainly on  elements of the email like "
    "style, tone, common phrases used, length of the emails, factual accuracy, etc. YOU MUST "
    "ALWAYS PICK A WINNER.\n\nHere is how your evaluation should look like:\n<evaluation>\n"
    "<!-- Use this to evaluate each candidate email and compare it with the ground truth -->\n"
    "</evaluation>\n<winner>\n<!-- Use this pick the winning candidate email. Display the option "
    "that is closest to the ground truth. ONLY DISPLAY THE OPTION NUMBER HERE. For example if "
    "email_x is the winner, display only x  -->\n</winner>"
)
"""Appendix H.3.1 of the paper, as the authors' released prompt file spaces it."""


@pytest.fixture
def judge_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Judges registered by a test are forgotten afterwards."""
    monkeypatch.setattr(registry, "_JUDGES", dict(registry._JUDGES))
    monkeypatch.setattr(registry, "_SOURCES", dict(registry._SOURCES))


def copy_example(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in EXAMPLE.parent.iterdir():
        shutil.copy(path, folder / path.name)
    return folder / EXAMPLE.name


def test_the_example_file_is_the_llm_judge_with_its_settings(judge_registry):
    name = register_judge_file(EXAMPLE)
    definition = lookup_judge(name)
    assert name == "closest_style" and lookup_judge(str(EXAMPLE)) is definition
    assert definition.roles == ("judge",) and definition.source == str(EXAMPLE.resolve())
    settings = definition.parse_settings()
    assert settings.prompt == str(EXAMPLE.parent / "closest_style_v1.txt")
    assert settings.verdict_pattern == r"\[\[(\d+)\]\]" and settings.temperature == 0
    assert definition.parse_settings({"max_tokens": 300}).max_tokens == 300  # a profile's wins
    key = judge_key_inputs(name)
    assert key["judge"] == "closest_style" and key["judge_temperature"] == 0
    assert [file for file, _ in key["judge_prompts"]][0] == "closest_style_v1.txt"


def test_a_yaml_judge_runs_and_reads_its_verdicts_with_its_pattern(judge_registry, tmp_path: Path):
    judge_file = copy_example(tmp_path / "judges")
    replies = {"": "Candidate 1 keeps the sign-off. [[1]]"}
    profile = scripted_profile(judge={"kind": str(judge_file), "closest_style": {"max_tokens": 64}})
    profile["roles"]["judge"]["model_args"]["replies"] = replies
    report = run_benchmark(scripted_run(tmp_path / "run", profile))
    rows = report.rows()
    assert report.judges == ["closest_style"]
    assert rows and all(row.judge == "closest_style" for row in rows)
    # "[[1]]" in both orders: candidate 1 each time, a position-inconsistent tie, parsed
    assert all(row.parse_failures == 0 and row.ties == row.n for row in rows)
    run = tmp_path / "run"
    saved = yaml.safe_load((run / "profile.yaml").read_text())
    assert saved["judge"]["kind"] == str(judge_file)

    # editing the judge's prompt judges again (only the judge stages)
    prompt = judge_file.parent / "closest_style_v1.txt"
    prompt.write_text(prompt.read_text() + "\nBe brief.\n")
    context = scripted_run(run, profile)
    run_benchmark(context)
    ran = {stage for stage, result in context.runner.results.items() if not result.cached}
    assert ran and all(stage.startswith("judge-") for stage in ran)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("base: llm\nprompt: x.txt\n", "must be a mapping with a `name:`"),
        ("name: bad name\n", "letters, digits"),
        ("name: odd\nshade: 3\n", "shade"),
        ("name: odd\nprompt: missing_v1.txt\n", "missing_v1.txt"),
        ("name: odd\nverdict_pattern: '<winner>1</winner>'\n", "no group"),
        ("name: odd\nbase: no_such_judge\n", "no_such_judge"),
        ("name: llm\n", "already taken"),
    ],
)
def test_a_bad_judge_file_is_an_input_error_naming_it(
    judge_registry, tmp_path: Path, content: str, message: str
):
    path = tmp_path / "judge.yaml"
    path.write_text(content)
    with pytest.raises(PrefbenchInputError, match="judge") as error:
        register_judge_file(path)
    assert message in str(error.value) and str(path) in str(error.value)


# --- the paper's judge prompts ---------------------------------------------------------------


def paper_settings():
    profile, _ = load_profile("paper")
    return profile.judge.typed_settings(profile.metrics)


def test_the_paper_profile_sends_the_papers_prompt_word_for_word():
    settings = paper_settings()
    email = template_for_kind(settings.prompt, "email")
    article = template_for_kind(settings.prompt, "article")
    assert (email.name, article.name) == ("judge_email_paper", "judge_article_paper")
    system, user = (m.text for m in judge_messages(email, "TRUTH", ["ONE", "TWO"]))
    assert system == PAPER_EMAIL_SYSTEM
    assert user == "Ground truth email:\nTRUTH\n\nemail_1:\nONE\n\nemail_2:\nTWO"
    article_system = judge_messages(article, "T", ["A", "B"])[0].text
    assert article_system == PAPER_EMAIL_SYSTEM.replace("email", "article")


@pytest.mark.parametrize(
    ("answer", "winner"),
    [
        (
            "<evaluation>\nemail_1 is formal; email_2 is terse.\n</evaluation>\n"
            "<winner>\n2\n</winner>",
            2,
        ),
        ("<evaluation>...</evaluation><winner><!-- the option number --> email_1</winner>", 1),
        ("Email 1: close in tone. Email 2: too long.\nWinner: 1", 1),
        ("<evaluation>both are close</evaluation>", None),
    ],
)
def test_the_paper_judges_answers_are_read(answer: str, winner: int | None, tmp_path: Path):
    from prefbench.scorers.llm_judge import judge_options

    settings = paper_settings()
    options = judge_options(
        settings.max_tokens, settings.verdict, settings.retry, settings.top_logprobs,
        settings.verdict_pattern, settings.follow_up_prompt, settings.temperature,
        settings.min_candidate_mass,
    )  # fmt: skip
    assert options.parse(answer, 2) == winner


def test_the_paper_judge_runs_on_the_scripted_pipeline(tmp_path: Path):
    raw = scripted_profile(judge=load_profile("paper")[0].judge.model_dump())
    raw["roles"]["judge"]["model_args"]["replies"] = {
        "": "<evaluation>email_1 keeps the greeting</evaluation>\n<winner>1</winner>"
    }
    profile = parse_profile(raw, Path("<test profile>"))
    assert profile.judge.typed_settings(profile.metrics).max_tokens == 1024
    report = run_benchmark(scripted_run(tmp_path / "run", raw))
    assert all(row.parse_failures == 0 for row in report.rows())
    log = next((tmp_path / "run" / "logs" / "judge").glob("*.eval"))
    from inspect_ai.log import read_eval_log

    score = next(iter(read_eval_log(str(log)).samples[0].scores.values()))
    assert score.metadata["template"] == "judge_email_paper"


# --- per-judge sections in a profile ---------------------------------------------------------


def test_settings_sections_per_judge_and_the_older_direct_form(judge_registry):
    source = Path("<test profile>")

    def parsed(judge: dict):
        profile = parse_profile(scripted_profile(judge=judge), source)
        return profile.judge.typed_settings(profile.metrics)

    # a section per judge; the chosen one's applies, a section beats a direct setting
    settings = parsed({"kind": "llm", "max_tokens": 64, "llm": {"max_tokens": 32}})
    assert settings.max_tokens == 32
    assert parsed({"kind": "similarity", "llm": {"max_tokens": 32}}).num_layers == 6
    # a direct setting of a judge not chosen is kept, and checked when it is chosen
    assert parsed({"kind": "similarity", "retry": "sideways"}).num_layers == 6
    with pytest.raises(PrefbenchInputError, match="retry"):
        parsed({"kind": "llm", "retry": "sideways"})
    with pytest.raises(PrefbenchInputError, match=r"judge\.llm.*max_tokens"):
        parsed({"kind": "similarity", "llm": {"max_tokens": 1}})
    with pytest.raises(PrefbenchInputError, match="section named after each"):
        parsed({"kind": "llm", "no_such_judge": {"x": 1}})
