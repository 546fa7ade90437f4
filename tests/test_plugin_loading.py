"""Plug-ins load lazily from prefbench's own entry-point group; a broken one only warns.

inspect's entry point (`prefbench.harness._registry`) registers prefbench's model providers
and nothing else, so the other `inspect` processes of an environment do not pay for
prefbench; prefbench's tasks and solvers still resolve by name (`inspect eval
prefbench/...`). The child-process tests install stand-in distributions (`tests.plugins`):
a broken prefbench plug-in, and a broken unrelated inspect extension.
"""

import os
import subprocess
import sys
from ast import literal_eval
from pathlib import Path

import pytest
import yaml

from prefbench.core import plugins
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.plugins import PluginWarning, broken_plugins, load_plugins
from prefbench.harness.profile import parse_profile
from prefbench.solvers import registry
from prefbench.solvers.registry import lookup_system
from prefbench.tasks.demo.generator import generate_demo_records
from prefbench.tasks.records import write_records
from tests.helpers import scripted_profile
from tests.plugins import install_distribution, install_plugin

PLUGIN_MODULE = "prefbench_retrieval.retrieval_few_shot"
PREFBENCH = Path(sys.executable).parent / "prefbench"
INSPECT = Path(sys.executable).parent / "inspect"


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """No plug-in imported yet: the example system unregistered (undone afterwards)."""
    monkeypatch.setattr(registry, "_SYSTEMS", dict(registry._SYSTEMS))
    monkeypatch.setattr(plugins, "_loaded", set())
    monkeypatch.setattr(plugins, "_broken", {})
    registry._SYSTEMS.pop("retrieval_few_shot", None)
    monkeypatch.delitem(sys.modules, PLUGIN_MODULE, raising=False)


def child_environment(tmp_path: Path, **entry_points: str) -> dict[str, str]:
    """This environment plus a stand-in distribution declaring `entry_points` (group: module)."""
    site = tmp_path / "site"
    install_distribution(site, "broken-extras", entry_points)
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200", "HF_HUB_OFFLINE": "1"}


def run(command: list[str], environment: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, env=environment, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_known_names_load_no_plugin_and_an_unknown_one_does(fresh_plugins):
    profile = parse_profile(scripted_profile(), Path("<test profile>"))
    assert profile.systems == ["small_zero_shot", "large_zero_shot", "few_shot"]
    assert PLUGIN_MODULE not in sys.modules
    assert lookup_system("retrieval_few_shot").name == "retrieval_few_shot"
    assert PLUGIN_MODULE in sys.modules


def test_a_broken_plugin_warns_once_and_is_named_when_a_name_is_missing(
    fresh_plugins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    install_plugin(monkeypatch, tmp_path, "prefbench-broken", "tests.plugins.no_such_module")
    with pytest.warns(PluginWarning, match="prefbench-broken") as warned:
        load_plugins()
    assert len(warned) == 1 and "tests.plugins.no_such_module" in str(warned[0].message)
    assert [plugin.distribution for plugin in broken_plugins()] == ["prefbench-broken"]
    assert lookup_system("retrieval_few_shot").name == "retrieval_few_shot"  # others load
    with pytest.raises(PrefbenchInputError) as error:
        lookup_system("from_the_broken_package")
    assert "prefbench-broken" in str(error.value) and "ModuleNotFoundError" in str(error.value)
    raw = scripted_profile(systems=["few_shot", "from_the_broken_package"])
    with pytest.raises(PrefbenchInputError, match="prefbench-broken"):
        parse_profile(raw, Path("<test profile>"))


def test_broken_extensions_do_not_stop_prefbench(tmp_path: Path):
    """A broken prefbench plug-in warns; a broken unrelated inspect extension is inspect's."""
    environment = child_environment(
        tmp_path,
        prefbench="tests.plugins.no_such_plugin",
        inspect_ai="unrelated_evals.no_such_module",
    )
    listing = run([str(PREFBENCH), "systems"], environment, tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "retrieval_few_shot" in listing.stdout and "few_shot" in listing.stdout
    assert "tests.plugins.no_such_plugin" in listing.stderr and "broken-extras" in listing.stderr
    # a dry run makes (planning) models, so inspect imports every entry point of its group
    profile = scripted_profile(dataset={"kind": "demo", "personas": 2, "records_per_persona": 3})
    profile["systems"] = ["small_zero_shot", "few_shot"]
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    command = [str(PREFBENCH), "run", "--profile", str(path), "--out", str(tmp_path / "run")]
    result = run([*command, "--dry-run"], environment, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unrelated_evals.no_such_module" in result.stderr  # inspect's own warning
    assert "model calls" in result.stdout
    # every name the profile asks for is prefbench's own: no plug-in was imported
    assert "no_such_plugin" not in result.stderr


def test_the_inspect_entry_point_registers_only_providers(tmp_path: Path):
    code = (
        "import sys\n"
        "from inspect_ai._util.entrypoints import ensure_entry_points\n"
        "from inspect_ai._util.registry import registry_find, registry_info\n"
        "ensure_entry_points()\n"
        "print(sorted(m for m in sys.modules if m.startswith('prefbench')))\n"
        "apis = registry_find(lambda info: info.type == 'modelapi')\n"
        "print(sorted(registry_info(api).name for api in apis))\n"
    )
    result = run([sys.executable, "-c", code], {**os.environ}, tmp_path)
    assert result.returncode == 0, result.stderr
    modules, providers = result.stdout.strip().splitlines()[-2:]
    imported = literal_eval(modules)  # the tests' own provider imports prefbench.core
    assert {name for name in imported if name.startswith("prefbench.harness")} == {
        "prefbench.harness",
        "prefbench.harness._registry",
    }
    assert not [name for name in imported if name.split(".")[1:2] in (["solvers"], ["tasks"])]
    assert not [name for name in imported if name.split(".")[1:2] == ["scorers"]]
    assert {"prefbench/prefbench-plan", "prefbench/prefbench-lora"} <= set(literal_eval(providers))


def test_inspect_still_runs_prefbench_tasks_and_solvers_by_name(tmp_path: Path):
    records = [
        record.model_copy(update={"intent": "- lunch on Friday"})
        for record in generate_demo_records(personas=2, records_per_persona=3, seed=0)
    ]
    write_records(tmp_path / "data" / "records.jsonl", records)
    command = [
        str(INSPECT),
        "eval",
        "prefbench/personalized_writing",
        "-T",
        f"records={tmp_path / 'data' / 'records.jsonl'}",
        "--solver",
        "prefbench/large_zero_shot",
        "-S",
        f"run_dir={tmp_path}",
        "--model",
        "prefbench-mock/large",
        "--model-role",
        "large=prefbench-mock/large",
        "--limit",
        "1",
        "--log-dir",
        str(tmp_path / "logs"),
        "--display",
        "none",
    ]
    result = run(command, {**os.environ}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list((tmp_path / "logs").glob("*.eval"))) == 1
