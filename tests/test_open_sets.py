"""Open sets a plug-in extends: roles its system declares, and text kinds (folders of prompts).

The plug-ins (`tests/plugins/critic_system.py`, `tests/plugins/memo_corpus.py` with its
prompt folder `tests/plugins/memo/`) are installed through stand-in distributions with a
`prefbench` entry point; no prefbench file names them. (A system that declares itself a
control of a pair: `tests/test_controls.py`.)
"""

import json
import shutil
import sys
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log

from prefbench.core import plugins, text_kinds
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.text_kinds import register_text_kind
from prefbench.harness.pipeline import generate, judge, prepare_records
from prefbench.harness.profile import parse_profile, role_declarations
from prefbench.harness.prompt_files import text_kind_prompts_key
from prefbench.solvers import registry as systems
from prefbench.tasks.corpora import registry as corpora
from prefbench.tasks.records import Record
from tests.helpers import scripted_profile, scripted_run
from tests.plugins import install_plugin

CRITIC = "tests.plugins.critic_system"
MEMOS = "tests.plugins.memo_corpus"
MEMO_FOLDER = Path(__file__).parent / "plugins" / "memo"
REVISED = "CRITIC-REVISED-TEXT"


@pytest.fixture
def fresh_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every registry as it is, restored afterwards; the test plug-ins not imported yet."""
    monkeypatch.setattr(systems, "_SYSTEMS", dict(systems._SYSTEMS))
    monkeypatch.setattr(corpora, "_CORPORA", dict(corpora._CORPORA))
    monkeypatch.setattr(text_kinds, "_KINDS", dict(text_kinds._KINDS))
    monkeypatch.setattr(plugins, "_loaded", set())
    monkeypatch.setattr(plugins, "_broken", {})
    for module in (CRITIC, MEMOS):
        monkeypatch.delitem(sys.modules, module, raising=False)


@pytest.fixture
def critic_installed(fresh_registries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(monkeypatch, tmp_path / "critic-site", "prefbench-critic", CRITIC)


@pytest.fixture
def memos_installed(fresh_registries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(monkeypatch, tmp_path / "memo-site", "prefbench-memos", MEMOS)


def critic_profile(**overrides: object) -> dict:
    profile = scripted_profile(
        systems=["few_shot", "critic_revision"], reference_system="few_shot", **overrides
    )
    profile["roles"]["critic"] = {
        "model": "prefbench-mock/critic",
        "model_args": {"replies": [REVISED]},
    }
    return profile


# --- roles ------------------------------------------------------------------------------------


def test_a_role_nobody_declares_is_refused_naming_who_declares_which(fresh_registries):
    profile = scripted_profile()
    profile["roles"]["critic"] = {"model": "prefbench-mock/critic"}
    with pytest.raises(PrefbenchInputError) as error:
        parse_profile(profile, Path("<test profile>"))
    message = str(error.value)
    assert "unknown role(s) ['critic']" in message
    assert "rule_writer: system cross_family_agent" in message
    assert "judge: judge llm" in message and "large: the pipeline" in message


def test_a_role_a_plugin_system_declares_is_accepted_and_served(critic_installed, tmp_path):
    assert "critic" not in role_declarations(plugins=False)
    profile = critic_profile()
    assert set(parse_profile(profile, Path("<test profile>")).roles) >= {"critic"}
    assert role_declarations(plugins=False)["critic"] == ["system critic_revision"]
    context = scripted_run(tmp_path / "run", profile)
    logs = generate(context, prepare_records(context))
    samples = logs["critic_revision"].read().samples
    assert samples and all(sample.output.completion == REVISED for sample in samples)
    assert {s.output.completion for s in logs["few_shot"].read().samples} != {REVISED}


def test_a_role_a_profile_system_calls_must_be_set(critic_installed):
    profile = critic_profile()
    del profile["roles"]["critic"]
    with pytest.raises(PrefbenchInputError) as error:
        parse_profile(profile, Path("<test profile>"))
    assert "system 'critic_revision' calls the role(s) ['critic']" in str(error.value)


# --- text kinds -------------------------------------------------------------------------------


def memo_records(path: Path) -> Path:
    """Memos of two authors, already split and with intents (a `records` dataset)."""
    records = [
        Record(
            id=f"{user}-{number}",
            dataset="memos",
            user=user,
            split="test" if number == 0 else "train",
            metadata={"subject": f"memo {number}"},
            content=f"Team, memo {number} from {user}. Thanks.",
            source="test",
        )
        for user in ("ann", "bob")
        for number in range(3)
    ]
    path.write_text("".join(record.model_dump_json() + "\n" for record in records))
    return path


def test_a_plugin_corpus_brings_its_own_text_kind_and_every_prompt_follows_it(
    memos_installed, tmp_path: Path
):
    call_log = tmp_path / "calls.log"
    dataset = {"kind": "records", "path": str(memo_records(tmp_path / "records.jsonl"))}
    profile = scripted_profile(call_log, dataset=dataset)
    context = scripted_run(tmp_path / "run", profile)
    records = prepare_records(context)
    assert MEMOS in sys.modules  # the corpus of the records' dataset loaded its plug-in
    logs = generate(context, records)
    judge(context)
    first_lines = [line.split("\t", 1)[1] for line in call_log.read_text().splitlines()]
    markers = {line.split(":", 1)[0] for line in first_lines}
    assert markers == {"MEMO-INTENT", "MEMO-WRITE", "MEMO-FEW-SHOT", "MEMO-JUDGE"}
    sample = logs["few_shot"].read().samples[0]
    assert sample.metadata["text_kind"] == "memo" and "<memo>" in sample.messages[1].text
    judged = read_eval_log(str(context.judge_logs["small_zero_shot"].log_path))
    assert next(iter(judged.samples[0].scores.values())).metadata["template"] == "memo:judge"


def test_a_text_kind_needs_every_prompt_with_the_fields_it_is_given(tmp_path: Path):
    folder = tmp_path / "letters"
    shutil.copytree(MEMO_FOLDER, folder)
    (folder / "judge.txt").unlink()
    (folder / "write.txt").write_text("Write.\n---user---\n{intent} in {colour}\n")
    with pytest.raises(ValueError) as error:
        register_text_kind("letter", folder)
    message = str(error.value)
    assert "judge.txt is missing" in message and "write.txt uses ['colour']" in message
    with pytest.raises(ValueError, match="already registered"):
        register_text_kind("email", MEMO_FOLDER)
    with pytest.raises(ValueError, match="lower-case"):
        register_text_kind("Letters", MEMO_FOLDER)


def test_editing_a_plugin_kind_prompt_changes_the_keys_of_its_records(
    fresh_registries, tmp_path: Path
):
    folder = tmp_path / "notes"
    shutil.copytree(MEMO_FOLDER, folder)
    kind = register_text_kind("note", folder)

    @corpora.corpus(name="notes", text_kind=kind, source="-", test_fraction=0.5)
    def read_notes(source: Path, options: object):
        """Notes."""
        return []

    note = Record(
        id="n1", dataset="notes", user="u", split="test", metadata={}, content="x", source="t"
    )
    notes = [note]
    demo = [record.model_copy(update={"dataset": "demo"}) for record in notes]
    before = text_kind_prompts_key(notes)
    assert set(before) == {"text_kind_prompts"} and text_kind_prompts_key(demo) == {}
    (folder / "write.txt").write_text((folder / "write.txt").read_text() + "\nBe brief.\n")
    assert text_kind_prompts_key(notes) != before
    assert json.dumps(text_kind_prompts_key(notes))  # JSON-able, as every key
