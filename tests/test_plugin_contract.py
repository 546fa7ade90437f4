"""The plug-in contract: `prefbench.plugin` is all a plug-in imports, and the examples keep to it.

The example packages in `examples/` (a system, a judge, a corpus) are installed by
`make install` from their own folders and found through `[project.entry-points.prefbench]`;
their own tests run them (`test_third_party_method.py`, `test_judge_registry.py`,
`test_corpus_plugin.py`).
"""

import ast
import re
import tomllib
from importlib.metadata import distribution, entry_points
from pathlib import Path

import pytest

import prefbench.plugin
from prefbench.scorers import registry as judge_registry
from prefbench.solvers import registry as solver_registry
from prefbench.tasks.corpora import registry as corpus_registry

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(path.parent for path in (ROOT / "examples").glob("*/pyproject.toml"))


def prefbench_imports(path: Path) -> list[str]:
    """Every prefbench module a source file imports (at any depth of the file)."""
    imported = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.append(node.module)
        elif isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
    return [name for name in imported if name.split(".")[0] == "prefbench"]


def test_there_is_an_example_of_each_kind_of_plugin():
    names = {path.name for path in EXAMPLES}
    assert {"prefbench-retrieval", "prefbench-length-judge", "prefbench-jsonl-corpus"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_examples_import_nothing_from_prefbench_but_the_facade(example: Path):
    sources = sorted(example.rglob("*.py"))
    assert sources
    for source in sources:
        outside = [name for name in prefbench_imports(source) if name != "prefbench.plugin"]
        assert outside == [], f"{source.relative_to(ROOT)} imports {outside}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_examples_are_installed_from_their_folder_with_a_prefbench_entry_point(example: Path):
    project = tomllib.loads((example / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["entry-points"]["prefbench"]
    assert "inspect_ai" not in project.get("entry-points", {})
    installed = {
        point.name: point.value
        for point in entry_points(group="prefbench")
        if point.dist is not None and point.dist.name == project["name"]
    }
    assert installed == declared, "run `make install` after changing an example"
    files = distribution(project["name"]).read_text("direct_url.json") or ""
    assert example.resolve().as_uri() in files  # this checkout's folder, editable


def test_the_check_sees_a_deep_import(tmp_path: Path):
    source = tmp_path / "module.py"
    source.write_text(
        "from prefbench.plugin import judge\n"
        "def f():\n    from prefbench.scorers.registry import judge\n    import prefbench.core\n"
    )
    assert prefbench_imports(source) == [
        "prefbench.plugin",
        "prefbench.scorers.registry",
        "prefbench.core",
    ]


def test_every_name_of_the_facade_is_exported_and_documented():
    names = prefbench.plugin.__all__
    assert sorted(names) == sorted(set(names))
    assert all(hasattr(prefbench.plugin, name) for name in names)
    page = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    missing = [
        name
        for name in names  # as code in the text (`name`, `name(...)`) or in an example's imports
        if not re.search(rf"`{name}\b", page) and not re.search(rf"^ +{name},$", page, re.M)
    ]
    assert missing == [], f"docs/plugins.md does not mention {missing}"


def test_the_examples_on_the_page_register(monkeypatch: pytest.MonkeyPatch):
    """Each Python block of docs/plugins.md compiles; the system, judge and corpus register."""
    monkeypatch.setattr(solver_registry, "_SYSTEMS", dict(solver_registry._SYSTEMS))
    monkeypatch.setattr(judge_registry, "_JUDGES", dict(judge_registry._JUDGES))
    monkeypatch.setattr(corpus_registry, "_CORPORA", dict(corpus_registry._CORPORA))
    page = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert len(blocks) == 4
    for number, block in enumerate(blocks):
        code = compile(block, f"docs/plugins.md block {number + 1}", "exec")
        assert not [name for name in prefbench_names(block) if name != "prefbench.plugin"]
        if number < 3:  # the last one needs a folder of prompts of its own
            exec(code, {"__name__": f"docs_example_{number}", "__file__": str(ROOT / "x.py")})
    assert solver_registry.lookup_system("last_examples").roles == ("large",)
    assert judge_registry.lookup_judge("closest_length").parse_settings({}).unit == "characters"
    assert corpus_registry.lookup_corpus("blog_posts").text_kind == "article"


def prefbench_names(code: str) -> list[str]:
    tree = ast.parse(code)
    return [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prefbench")
    ]
