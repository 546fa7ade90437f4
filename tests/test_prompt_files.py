"""A plug-in's own prompt files join its stage keys; prefbench's own keys stay as they were."""

import importlib
import sys
from pathlib import Path

from prefbench.harness.prompt_files import plugin_prompts_key
from prefbench.solvers import lookup_system


def make_plugin(root: Path, prompt: str) -> object:
    package = root / "promptful_plugin"
    (package / "prompts").mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("def write(run_dir):\n    return run_dir\n")
    (package / "prompts" / "write_v1.txt").write_text(prompt)
    sys.path.insert(0, str(root))
    try:
        sys.modules.pop("promptful_plugin", None)
        return importlib.import_module("promptful_plugin").write
    finally:
        sys.path.remove(str(root))


def test_editing_a_plugin_prompt_changes_its_key(tmp_path):
    first = plugin_prompts_key(make_plugin(tmp_path, "Write as {user}."))
    second = plugin_prompts_key(make_plugin(tmp_path, "Write like {user}."))
    assert set(first) == {"plugin_prompts"}
    assert first != second


def test_prefbench_systems_add_nothing_to_their_keys():
    assert plugin_prompts_key(lookup_system("few_shot").solver_factory) == {}
    assert plugin_prompts_key(lookup_system("preference_agent").solver_factory) == {}
