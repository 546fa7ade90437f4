"""The judge registry: built-in judges, a plug-in judge found through an entry point, errors.

The plug-in is the example package `examples/prefbench-length-judge` (`make install` installs
it): named by no prefbench file, found through its `[project.entry-points.prefbench]` only,
and judged for real through `pairwise_comparison` and `multi_candidate_comparison`.
"""

import sys
from pathlib import Path

import pytest
from inspect_ai import Task, eval
from inspect_ai.log import read_eval_log

from prefbench.core import plugins
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.plugins import PluginWarning, load_plugins
from prefbench.harness.profile import parse_profile
from prefbench.scorers import registry
from prefbench.scorers.bertscore import encoder_name
from prefbench.scorers.registry import (
    JudgeSettingsModel,
    judge,
    judge_key_inputs,
    judge_names,
    lookup_judge,
)
from prefbench.tasks.multi_candidate import multi_candidate_comparison
from prefbench.tasks.pairwise import pairwise_comparison
from tests.generation_logs import finished_generation_log
from tests.helpers import scripted_profile
from tests.plugins import install_plugin

PLUGIN_MODULE = "prefbench_length_judge.length_ratio"
PLUGIN_DISTRIBUTION = "prefbench-length-judge"
TRUTH = "a b c d"  # 4 words, 7 characters
SAME_WORDS = "aaaa bbbb cccc dddd"  # 4 words, 19 characters: closer in words
SAME_CHARACTERS = "abcdefg"  # 1 word, 7 characters: closer in characters


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """prefbench's judges only, and the plug-in module not imported yet (undone afterwards)."""
    monkeypatch.setattr(registry, "_JUDGES", dict(registry._JUDGES))
    monkeypatch.setattr(plugins, "_loaded", set())
    monkeypatch.setattr(plugins, "_broken", {})
    registry._JUDGES.pop("length_ratio", None)
    monkeypatch.delitem(sys.modules, PLUGIN_MODULE, raising=False)


@pytest.fixture
def length_judge_installed(fresh_registry) -> None:
    """The example judge package, installed by `make install` (its entry point is found)."""


@pytest.fixture
def length_judge_uninstalled(fresh_registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the example judge package were not installed: its entry point is not listed."""
    listed = plugins.entry_points

    def without_it(**selection: str):
        return [point for point in listed(**selection) if point.value != PLUGIN_MODULE]

    monkeypatch.setattr(plugins, "entry_points", without_it)


def generation_log(tmp_path: Path, system: str, outputs: dict[str, str]) -> str:
    """A finished generation log of `system`: its output per record id, ground truth TRUTH."""
    return str(finished_generation_log(tmp_path / "gen" / system, system, outputs, truth=TRUTH))


def judged(tmp_path: Path, task: Task) -> list:
    """Run a judging task that calls no model; each sample's score."""
    log = eval(task, model="mockllm/model", display="none", log_dir=str(tmp_path / "judge"))[0]
    assert log.status == "success"
    return [next(iter(s.scores.values())) for s in read_eval_log(log.location).samples]


# --- the plug-in judge, found through its entry point ----------------------------------------


def test_plugin_judge_is_unknown_until_its_package_is_installed(length_judge_uninstalled):
    with pytest.raises(PrefbenchInputError) as error:
        lookup_judge("length_ratio")
    message = str(error.value)
    assert "length_ratio" in message and "llm" in message and "similarity" in message
    assert "install the package" in message
    assert "length_ratio" not in judge_names()


def test_plugin_judge_is_discovered_through_its_entry_point(length_judge_installed):
    assert PLUGIN_MODULE not in sys.modules
    lookup_judge("llm")  # a known name loads no plug-in
    assert PLUGIN_MODULE not in sys.modules
    definition = lookup_judge("length_ratio")
    assert sys.modules[PLUGIN_MODULE].__file__.startswith(
        str(Path(__file__).resolve().parents[1] / "examples" / PLUGIN_DISTRIBUTION)
    )
    assert "length_ratio" in judge_names()
    assert definition.roles == () and definition.multi_candidate is not None
    assert definition.parse_settings({}).unit == "characters"
    with pytest.raises(PrefbenchInputError, match="unit"):
        definition.parse_settings({"unit": "pages"})
    key = judge_key_inputs("length_ratio", {"unit": "words"})
    assert {name: key[name] for name in ("judge", "unit")} == {
        "judge": "length_ratio",
        "unit": "words",
    }
    # a plug-in judge's code joins its key: its installed distribution
    assert key["judge_code"]["package"] == PLUGIN_DISTRIBUTION
    assert len(key["judge_code"]["code"]) == 64


@pytest.mark.parametrize(
    ("unit", "closer", "farther"),
    [("characters", "chars", "words"), ("words", "words", "chars")],
)
def test_plugin_judge_decides_pairs_in_both_orders(
    length_judge_installed, tmp_path: Path, unit: str, closer: str, farther: str
):
    logs = {
        "chars": generation_log(tmp_path, "chars", {"1": SAME_CHARACTERS, "2": SAME_CHARACTERS}),
        "words": generation_log(tmp_path, "words", {"1": SAME_WORDS, "2": SAME_WORDS}),
    }
    settings = {"unit": unit}
    win = pairwise_comparison(logs[closer], logs[farther], "length_ratio", settings)
    for score in judged(tmp_path / "win", win):
        assert score.answer == "win" and score.value == "C"
        assert (score.metadata["winner_ab"], score.metadata["winner_ba"]) == (1, 2)
        assert score.metadata["judge"] == "length_ratio"
        assert score.metadata["position_consistent"] is True
    loss = pairwise_comparison(logs[farther], logs[closer], "length_ratio", settings)
    for score in judged(tmp_path / "loss", loss):
        assert score.answer == "loss" and score.value == "I"
        assert (score.metadata["winner_ab"], score.metadata["winner_ba"]) == (2, 1)


def test_plugin_judge_ties_equal_lengths(length_judge_installed, tmp_path: Path):
    a = generation_log(tmp_path, "alpha", {"1": "1234567"})
    b = generation_log(tmp_path, "beta", {"1": "7654321"})
    (score,) = judged(tmp_path, pairwise_comparison(a, b, judge="length_ratio"))
    assert score.answer == "tie" and score.metadata["exact_tie"] is True


def test_plugin_judge_multi_candidate_form(length_judge_installed, tmp_path: Path):
    paths = [
        generation_log(tmp_path, "long", {"1": "x" * 40}),
        generation_log(tmp_path, "chars", {"1": SAME_CHARACTERS}),
        generation_log(tmp_path, "words", {"1": SAME_WORDS}),
    ]
    task = multi_candidate_comparison(paths, judge="length_ratio")
    (score,) = judged(tmp_path, task)
    assert score.answer == "chars"
    assert [r["chosen"] for r in score.metadata["rotations"]] == ["chars"] * 3
    task = multi_candidate_comparison(paths, judge="length_ratio", judge_settings={"unit": "words"})
    (score,) = judged(tmp_path / "words", task)
    assert score.answer == "words"


def test_profile_chooses_the_plugin_judge(length_judge_installed):
    raw = scripted_profile(judge={"kind": "length_ratio", "unit": "words"})
    del raw["roles"]["judge"]  # it calls no model
    profile = parse_profile(raw, Path("<test profile>"))
    settings = profile.judge.typed_settings(profile.metrics)
    assert type(settings).__name__ == "LengthRatioSettings" and settings.unit == "words"
    raw["judge"]["unit"] = "pages"
    with pytest.raises(PrefbenchInputError, match="unit"):
        parse_profile(raw, Path("<test profile>"))


def test_a_plugin_that_cannot_be_imported_is_a_warning_then_named_by_a_miss(
    fresh_registry, tmp_path: Path, monkeypatch
):
    install_plugin(monkeypatch, tmp_path, "broken_plugin", "tests.plugins.no_such")
    with pytest.warns(PluginWarning) as warned:
        load_plugins()
    message = str(warned[0].message)
    assert "tests.plugins.no_such" in message and "broken_plugin" in message
    assert lookup_judge("length_ratio").name == "length_ratio"  # the others still load
    assert lookup_judge("llm").name == "llm"
    with pytest.raises(PrefbenchInputError) as error:
        lookup_judge("from_the_broken_plugin")
    assert "no_such" in str(error.value) and "broken_plugin" in str(error.value)


# --- prefbench's judges ----------------------------------------------------------------------


def test_builtin_judges_roles_and_stage_keys():
    llm, similarity = lookup_judge("llm"), lookup_judge("similarity")
    assert llm.roles == ("judge",) and similarity.roles == ()
    assert llm.max_retries == 1 and similarity.max_retries == 0
    text_verdicts = {"judge_verdict": "text", "judge_retry": "follow_up"}

    def without_prompts(key: dict) -> dict:
        return {name: value for name, value in key.items() if name != "judge_prompts"}

    assert without_prompts(judge_key_inputs("llm")) == {
        "judge": "llm",
        "judge_max_tokens": 512,
        **text_verdicts,
    }
    assert without_prompts(judge_key_inputs("llm", {"max_tokens": 96})) == {
        "judge": "llm",
        "judge_max_tokens": 96,
        **text_verdicts,
    }
    repeat = judge_key_inputs("llm", {"verdict": "logprobs", "retry": "repeat"})
    assert without_prompts(repeat) == {
        "judge": "llm",
        "judge_max_tokens": 512,
        "judge_verdict": "logprobs",
        "judge_retry": "repeat",
        "judge_top_logprobs": 20,
        "judge_min_candidate_mass": 0.5,
    }
    # the prompt files it sends, by content: both text kinds' and the follow-up's
    prompts = [name for name, _ in judge_key_inputs("llm")["judge_prompts"]]
    assert prompts == ["article:judge", "email:judge", "judge_follow_up_v1.txt"]
    assert [name for name, _ in repeat["judge_prompts"]] == prompts[:2]  # no follow-up turn
    assert judge_key_inputs("similarity", {"num_layers": 5}) == {
        "judge": "similarity",
        "encoder": encoder_name(None),
        "num_layers": 5,
    }


def test_profile_judge_settings_parse_and_inherit_the_metrics_encoder(tmp_path: Path):
    source = Path("<test profile>")
    raw = scripted_profile(
        judge={"kind": "llm", "max_tokens": 96, "tie_policy": "each_order_half"},
        metrics={"encoder": str(tmp_path), "num_layers": 4},
    )
    profile = parse_profile(raw, source)
    assert profile.judge.typed_settings(profile.metrics).max_tokens == 96
    # a similarity judge takes the metrics encoder unless its own section sets one
    raw["judge"]["kind"] = "similarity"  # max_tokens stays: an llm setting, kept for --judge llm
    profile = parse_profile(raw, source)
    settings = profile.judge.typed_settings(profile.metrics)
    assert (settings.encoder, settings.num_layers) == (str(tmp_path), 4)
    raw["judge"]["num_layers"] = 3
    settings = parse_profile(raw, source).judge.typed_settings(profile.metrics)
    assert (settings.encoder, settings.num_layers) == (str(tmp_path), 3)


@pytest.mark.parametrize(
    ("judge_section", "named"),
    [
        ({"kind": "llm", "max_tokenz": 96}, "max_tokenz"),
        ({"kind": "llm", "max_tokens": 2}, "max_tokens"),
        ({"kind": "oracle"}, "oracle"),
        ({"kind": "similarity", "num_layers": "six"}, "num_layers"),
    ],
)
def test_profile_judge_errors_name_the_key(judge_section, named):
    with pytest.raises(PrefbenchInputError) as error:
        parse_profile(scripted_profile(judge=judge_section), Path("<test profile>"))
    assert named in str(error.value) and "judge" in str(error.value)


def test_registration_rules():
    class Budget(JudgeSettingsModel):
        max_tokens: int

    with pytest.raises(ValueError, match="need defaults"):
        judge(name="needs_budget", roles=(), settings=Budget)
    with pytest.raises(ValueError, match="JudgeSettingsModel"):
        judge(name="untyped", roles=(), settings=dict)  # type: ignore[arg-type]

    def another_llm(settings, tie_policy):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="already registered"):
        judge(name="llm", roles=(), settings=JudgeSettingsModel)(another_llm)


def test_task_arguments_are_checked(tmp_path: Path):
    paths = [generation_log(tmp_path, s, {"1": SAME_CHARACTERS}) for s in ("alpha", "beta")]
    with pytest.raises(PrefbenchInputError, match="unknown judge 'oracle'"):
        pairwise_comparison(paths[0], paths[1], judge="oracle")
    with pytest.raises(PrefbenchInputError, match="max_tokens"):
        pairwise_comparison(paths[0], paths[1], judge="llm", judge_settings={"max_tokens": "x"})
    with pytest.raises(PrefbenchInputError, match="unknown tie policy"):
        pairwise_comparison(paths[0], paths[1], judge="similarity", tie_policy="coin_flip")


def test_a_judge_without_multi_candidate_form_says_so(fresh_registry):
    @judge(name="pairs_only", roles=(), settings=JudgeSettingsModel)
    def pairs_only(settings, tie_policy):
        raise AssertionError("never called")

    with pytest.raises(PrefbenchInputError, match="no multi-candidate form"):
        lookup_judge("pairs_only").multi_candidate_scorer({})
    raw = scripted_profile(judge={"kind": "pairs_only", "multi_candidate": True})
    with pytest.raises(PrefbenchInputError, match="no multi-candidate form"):
        parse_profile(raw, Path("<test profile>"))
    raw["judge"]["multi_candidate"] = False
    assert parse_profile(raw, Path("<test profile>")).judge.kind == "pairs_only"
