"""Every prompt and code a stage reads joins its key: an edit reruns exactly the stages using it.

A finished scripted run (a prefbench system and a plug-in system, the `llm` judge pairwise
and multi-candidate) is copied, one kind of prompt (or code) is edited, and the run is made
again: the stages that ran are exactly those that read the edited file, and everything else
is reused. prefbench's own prompt folders are edited in a copy (the modules are pointed at
it), never in the repository. The plug-ins are two packages written into the test's folder:
a system with its own prompt file, and a judge that reads its own prompt file and calls the
judge role without `cache=` (so it also shows that a plug-in judge's calls are cached). A
plug-in is identified by its whole package, so each sits in its own.
"""

import dataclasses
import importlib
import shutil
import sys
from pathlib import Path

import pytest

from prefbench.core import text_kinds
from prefbench.harness import prompt_files
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.prompt_files import system_code_key
from prefbench.scorers import judge_prompts, registry
from prefbench.solvers import lookup_system
from prefbench.solvers import registry as system_registry
from tests.helpers import scripted_profile, scripted_run

PACKAGE = "promptful_plugin"
JUDGE_PACKAGE = "promptful_judge_plugin"
SYSTEM_CODE = '''"""A plug-in system that writes with its own prompt file."""

from pathlib import Path

from inspect_ai.model import get_model
from inspect_ai.solver import Solver

from prefbench.solvers.registry import generation_system
from prefbench.solvers.writer import generate_from_template, generation_cache

PROMPTS = Path(__file__).parent / "prompts"


@generation_system(roles=("large",))
def promptful_writer(run_dir: str, max_tokens: int = 64) -> Solver:
    """The large model writes with `prompts/write_promptful_v1.txt`."""

    async def solve(state, generate):
        state.output = await generate_from_template(
            state,
            get_model(role="large"),
            "write_promptful_v1",
            cache=generation_cache("promptful_writer"),
            max_tokens=max_tokens,
            prompts_dir=PROMPTS,
        )
        return state

    return solve
'''
JUDGE_CODE = '''"""A plug-in judge with its own prompt file; its `retry` is not the llm judge's."""

from pathlib import Path

from inspect_ai.model import get_model
from inspect_ai.scorer import scorer

from prefbench.scorers.metrics import parse_failures, win_rate
from prefbench.scorers.pair_score import pair_score
from prefbench.scorers.registry import JudgeSettingsModel, judge
from prefbench.scorers.verdict import parse_winner

PROMPT = Path(__file__).parent / "prompts" / "judge_promptful_v1.txt"


class PromptfulSettings(JudgeSettingsModel):
    retry: int = 2


@scorer(metrics=[win_rate(), parse_failures()])
def promptful_scorer(tie_policy: str = "inconsistent_is_tie", retry: int = 2):
    async def score(state, target):
        model = get_model(role="judge")
        a, b = state.metadata["candidate_a"], state.metadata["candidate_b"]
        winners = []
        for first, second in ((a, b), (b, a)):
            prompt = f"{PROMPT.read_text()}\\n{target.text}\\n1: {first}\\n2: {second}"
            winners.append(parse_winner((await model.generate(prompt)).completion))
        return pair_score(winners[0], winners[1], tie_policy, "promptful_judge", {})

    return score


@judge(name="promptful_judge", roles=("judge",), settings=PromptfulSettings)
def promptful_judge(settings, tie_policy):
    return promptful_scorer(tie_policy=tie_policy, retry=settings.retry)
'''


def write_plugins(root: Path) -> tuple[Path, Path]:
    """The two plug-in packages under `root`: the system's and the judge's folders."""
    system, judge = root / PACKAGE, root / JUDGE_PACKAGE
    for package, module, code in ((system, "system", SYSTEM_CODE), (judge, "judge", JUDGE_CODE)):
        (package / "prompts").mkdir(parents=True)
        (package / "__init__.py").write_text(f"from . import {module}  # noqa: F401\n")
        (package / f"{module}.py").write_text(code)
    (system / "prompts" / "write_promptful_v1.txt").write_text(
        "# the plug-in's writer\nYou write emails.\n---user---\n{context}\nConvey: {intent}\n"
    )
    (judge / "prompts" / "judge_promptful_v1.txt").write_text("Pick the closer candidate.\n")
    return system, judge


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory):
    """The plug-ins imported (system and judge registered); unregistered afterwards."""
    root = tmp_path_factory.mktemp("plugin")
    system, judge = write_plugins(root)
    judges, systems = dict(registry._JUDGES), dict(system_registry._SYSTEMS)
    sys.path.insert(0, str(root))
    try:
        importlib.import_module(PACKAGE)
        importlib.import_module(JUDGE_PACKAGE)
        yield {"system": system, "judge": judge}
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n.split(".")[0] in (PACKAGE, JUDGE_PACKAGE)]:
            del sys.modules[name]
        registry._JUDGES.clear()
        registry._JUDGES.update(judges)
        system_registry._SYSTEMS.clear()
        system_registry._SYSTEMS.update(systems)


@pytest.fixture(scope="module")
def own_prompts(tmp_path_factory: pytest.TempPathFactory):
    """A copy of prefbench's prompt folders that the tests may edit; the repository's stay."""
    top = tmp_path_factory.mktemp("prefbench")
    for folder in sorted(prompt_files.TOP.glob("*/prompts")) + sorted(
        prompt_files.TOP.glob("*/*/prompts")
    ):
        shutil.copytree(folder, top / folder.relative_to(prompt_files.TOP))
    shutil.copytree(prompt_files.TEXT_KINDS, top / "core" / "text_kinds")
    return top


def read_prompts_from(top: Path, patch: pytest.MonkeyPatch) -> None:
    """Make prefbench read its prompt files, text kinds' included, from the copy `top`."""
    patch.setattr(prompt_files, "TOP", top)
    patch.setattr(prompt_files, "TEXT_KINDS", top / "core" / "text_kinds")
    patch.setattr(judge_prompts, "PROMPTS", top / "scorers" / "prompts")
    for kind in ("email", "article"):
        registered = text_kinds.lookup_text_kind(kind)
        moved = dataclasses.replace(registered, folder=top / "core" / "text_kinds" / kind)
        patch.setitem(text_kinds._KINDS, kind, moved)


def judge_profile(call_log: Path, **judge: object) -> dict:
    return scripted_profile(
        call_log=call_log,
        systems=["few_shot", "promptful_writer"],
        reference_system="few_shot",
        judge={"kind": "llm", "multi_candidate": True, **judge},
    )


@pytest.fixture(scope="module")
def finished_runs(plugin, own_prompts, tmp_path_factory: pytest.TempPathFactory):
    """Two finished runs: the `llm` judge (its own prompt files), and the plug-in judge."""
    root = tmp_path_factory.mktemp("runs")
    pairwise, multi = root / "judge_pairwise_v1.txt", root / "judge_multi_v1.txt"
    email = (prompt_files.TEXT_KINDS / "email" / "judge.txt").read_text()
    pairwise.write_text(email)
    multi.write_text(email)
    calls = root / "calls.tsv"
    with pytest.MonkeyPatch.context() as patch:
        read_prompts_from(own_prompts, patch)
        builtin = root / "builtin"
        run_benchmark(scripted_run(builtin, judge_profile(calls)))
        # the other two judge the same generations: only their judge stages run
        own_files, plugin_judge = root / "own_files", root / "plugin_judge"
        settings = {"llm": {"prompt": str(pairwise), "multi_candidate_prompt": str(multi)}}
        profile = judge_profile(calls, kind="promptful_judge", multi_candidate=False)
        for folder, judged in (
            (own_files, judge_profile(calls, **settings)),
            (plugin_judge, profile),
        ):
            shutil.copytree(builtin, folder)
            run_benchmark(scripted_run(folder, judged))
    return {
        "builtin": builtin,
        "own_files": own_files,
        "plugin_judge": plugin_judge,
        "pairwise_prompt": pairwise,
        "multi_prompt": multi,
        "calls": root / "calls.tsv",
    }


def rerun(source: Path, tmp_path: Path, profile: dict) -> set[str]:
    """Run a copy of a finished run again; the stages it evaluated (not reused)."""
    copy = tmp_path / "run"
    shutil.copytree(source, copy)
    context = scripted_run(copy, profile)
    run_benchmark(context)
    return {stage for stage, result in context.runner.results.items() if not result.cached}


def edit(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\nBe brief.\n", encoding="utf-8")


GENERATION = {"gen-few_shot", "gen-promptful_writer"}
METRICS = {"metrics-few_shot", "metrics-promptful_writer"}
PAIRWISE = {"judge-few_shot-vs-promptful_writer"}
MULTI = {"judge-multi-candidate"}


@pytest.fixture
def edited_prompts(own_prompts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of prefbench's prompt folders, which the modules read from."""
    top = tmp_path / "prefbench"
    shutil.copytree(own_prompts, top)
    read_prompts_from(top, monkeypatch)
    return top


def test_nothing_edited_reruns_nothing(finished_runs, edited_prompts, tmp_path: Path):
    assert rerun(finished_runs["builtin"], tmp_path, judge_profile(finished_runs["calls"])) == set()


def test_a_builtin_judge_prompt_reruns_the_judge_stages_only(
    finished_runs, edited_prompts, tmp_path: Path
):
    edit(edited_prompts / "core" / "text_kinds" / "email" / "judge.txt")
    ran = rerun(finished_runs["builtin"], tmp_path, judge_profile(finished_runs["calls"]))
    assert ran == PAIRWISE | MULTI


def test_a_builtin_system_prompt_reruns_generation_and_what_follows(
    finished_runs, edited_prompts, tmp_path: Path
):
    """prefbench's system prompts are keyed as one set, in every system's generation.

    A plug-in system may render prefbench's templates too (`template_for`), so its
    generation holds them as well; intents do not read them.
    """
    edit(edited_prompts / "core" / "text_kinds" / "email" / "write_few_shot.txt")
    ran = rerun(finished_runs["builtin"], tmp_path, judge_profile(finished_runs["calls"]))
    assert ran == GENERATION | METRICS | PAIRWISE | MULTI


def test_a_builtin_intent_prompt_reruns_everything(finished_runs, edited_prompts, tmp_path: Path):
    edit(edited_prompts / "core" / "text_kinds" / "email" / "extract_intent.txt")
    ran = rerun(finished_runs["builtin"], tmp_path, judge_profile(finished_runs["calls"]))
    assert ran == {"intents"} | GENERATION | METRICS | PAIRWISE | MULTI


def test_the_judge_prompt_file_reruns_pairwise_judging_only(
    finished_runs, edited_prompts, tmp_path: Path
):
    copy = tmp_path / "judge_pairwise_v1.txt"
    shutil.copy(finished_runs["pairwise_prompt"], copy)
    settings = {
        "llm": {"prompt": str(copy), "multi_candidate_prompt": str(finished_runs["multi_prompt"])}
    }
    # the same content at another place: nothing reruns (prompts are keyed by content)
    profile = judge_profile(finished_runs["calls"], **settings)
    assert rerun(finished_runs["own_files"], tmp_path / "same", profile) == set()
    edit(copy)
    assert rerun(finished_runs["own_files"], tmp_path / "edited", profile) == PAIRWISE


def test_the_multi_candidate_prompt_file_reruns_multi_candidate_judging_only(
    finished_runs, edited_prompts, tmp_path: Path
):
    copy = tmp_path / "judge_multi_v1.txt"
    shutil.copy(finished_runs["multi_prompt"], copy)
    edit(copy)
    settings = {
        "llm": {
            "prompt": str(finished_runs["pairwise_prompt"]),
            "multi_candidate_prompt": str(copy),
        }
    }
    ran = rerun(
        finished_runs["own_files"], tmp_path, judge_profile(finished_runs["calls"], **settings)
    )
    assert ran == MULTI


def test_a_plugin_system_prompt_or_code_reruns_that_system_only(
    plugin, finished_runs, edited_prompts, tmp_path: Path
):
    prompt = plugin["system"] / "prompts" / "write_promptful_v1.txt"
    code = plugin["system"] / "system.py"
    saved = {path: path.read_text() for path in (prompt, code)}
    try:
        for edited, folder in ((prompt, "prompt"), (code, "code")):
            edited.write_text(saved[edited] + "\n# edited\n")  # a comment: its code changed
            ran = rerun(
                finished_runs["builtin"], tmp_path / folder, judge_profile(finished_runs["calls"])
            )
            assert (
                ran
                == {
                    "gen-promptful_writer",
                    "metrics-promptful_writer",
                    "judge-few_shot-vs-promptful_writer",
                }
                | MULTI
            )
            edited.write_text(saved[edited])
    finally:
        for path, text in saved.items():
            path.write_text(text)


def test_a_plugin_judge_prompt_reruns_its_judging_and_its_calls_are_cached(
    plugin, finished_runs, edited_prompts, tmp_path: Path
):
    prompt = plugin["judge"] / "prompts" / "judge_promptful_v1.txt"
    saved = prompt.read_text()
    calls = finished_runs["calls"]  # the same model args as the finished run's
    profile = judge_profile(calls, kind="promptful_judge", multi_candidate=False)
    before = calls.read_text().count("judge\tPick the closer")
    try:
        edit(prompt)
        assert rerun(finished_runs["plugin_judge"], tmp_path / "edited", profile) == PAIRWISE
        judged = calls.read_text().count("judge\tPick the closer")
        assert judged > before
        # a resumed run (its judge logs lost) asks the judge nothing: the calls are cached
        run = tmp_path / "edited" / "run"
        for log in (run / "logs" / "judge").glob("*.eval"):
            log.unlink()
        context = scripted_run(run, profile)
        run_benchmark(context)
        assert {s for s, r in context.runner.results.items() if not r.cached} == PAIRWISE
        assert calls.read_text().count("judge\tPick the closer") == judged
    finally:
        prompt.write_text(saved)


def test_a_plugins_setting_does_not_collide_with_the_llm_judges(plugin, finished_runs):
    """`retry: 2` is the plug-in judge's integer, not the llm judge's enum (issue 22)."""
    from prefbench.harness.profile import parse_profile

    profile = judge_profile(
        finished_runs["calls"], kind="promptful_judge", retry=2, multi_candidate=False
    )
    parsed = parse_profile(profile, Path("<test profile>"))
    assert parsed.judge.typed_settings(parsed.metrics).retry == 2
    nested = judge_profile(
        finished_runs["calls"], kind="promptful_judge", multi_candidate=False,
        promptful_judge={"retry": 3}, llm={"retry": "repeat"},
    )  # fmt: skip
    parsed = parse_profile(nested, Path("<test profile>"))
    assert parsed.judge.typed_settings(parsed.metrics).retry == 3


def test_plugin_code_identity_and_prefbench_systems(plugin):
    key = system_code_key(lookup_system("promptful_writer").solver_factory)
    assert key["plugin_code"]["package"] == PACKAGE and len(key["plugin_code"]["code"]) == 64
    assert system_code_key(lookup_system("few_shot").solver_factory) == {}
    assert system_code_key(lookup_system("preference_agent").solver_factory) == {}
