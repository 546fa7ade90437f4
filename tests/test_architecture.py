"""The layers stay visible: no package cycle, no private module or name used across packages,
no import circle between files of one package, and a wheel that ships only the packages.

The import graph is grimp's (import-linter's engine) over `prefbench` and the six layer
packages it installs from this checkout's folders (`prefbench.core` from `core/`, ...). Every import
counts, also one inside a function or under `TYPE_CHECKING`: moving an import into a function hides
a circle from Python, not from a reader.
"""

import ast
import importlib.util
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest
from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "harness", "human_eval", "solvers", "tasks", "scorers")
"""The layer packages: folders of this checkout, installed as `prefbench.<folder>`."""
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(parts if parts[0] == "prefbench" else ("prefbench", *parts))


SOURCE_FILES = sorted(
    path for package in (*PACKAGES, "prefbench") for path in (ROOT / package).rglob("*.py")
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    elsewhere = [
        package
        for package in ("prefbench", *(f"prefbench.{name}" for name in PACKAGES))
        if not Path(importlib.util.find_spec(package).origin).resolve().is_relative_to(ROOT)
    ]
    assert not elsewhere, (
        f"{elsewhere} import from outside {ROOT}: install this checkout (`make install`)"
    )
    return grimp.build_graph("prefbench", cache_dir=None)


def top(module: str) -> str:
    """The layer package of `module` (`prefbench.harness.pipeline` -> `harness`)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "prefbench" and len(parts) > 1 else parts[0]


def import_lines(graph: grimp.ImportGraph, importer: str, imported: str) -> list[str]:
    """`importer:line: code -> imported` for each import statement of `imported` in `importer`."""
    return [
        f"{importer}:{detail['line_number']}: {detail['line_contents']}  -> {imported}"
        for detail in graph.get_import_details(importer=importer, imported=imported)
    ] or [f"{importer} -> {imported}"]


def strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components with more than one member (the cycles)."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = lowest[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                lowest[node] = min(lowest[node], lowest[target])
            elif target in stack:
                lowest[node] = min(lowest[node], index[target])
        if lowest[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def report(title: str, lines: Iterable[str]) -> str:
    return "\n".join([title, *(f"  {line}" for line in lines)])


# --- (a) no cycle between the top-level packages ------------------------------------------


def test_no_import_cycle_between_packages(graph: grimp.ImportGraph) -> None:
    crossings: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            if top(importer) != top(imported):
                crossings.setdefault((top(importer), top(imported)), []).append(
                    (importer, imported)
                )
    edges: dict[str, set[str]] = {}
    for source, target in crossings:
        edges.setdefault(source, set()).add(target)
    cycles = strongly_connected(edges)
    layers = PYPROJECT["tool"]["importlinter"]["contracts"][0]["layers"]  # top first
    upward = [
        line
        for cycle in cycles
        for (source, target), imports in sorted(crossings.items())
        if source in cycle and target in cycle and layers.index(source) > layers.index(target)
        for importer, imported in sorted(imports)
        for line in import_lines(graph, importer, imported)
    ]
    assert not cycles, report(
        f"package cycles {[sorted(cycle) for cycle in cycles]}; the imports that go up the "
        f"layers {layers} (pyproject [tool.importlinter]) and close them:",
        upward,
    )


# --- (b) nothing private used across packages --------------------------------------------


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_module_imported_from_another_package(graph: grimp.ImportGraph) -> None:
    offending = [
        line
        for importer in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(importer))
        if top(importer) != top(imported) and any(map(is_private, imported.split(".")))
        for line in import_lines(graph, importer, imported)
    ]
    assert not offending, report(
        "private modules imported from another package (make the module public, with a "
        "plain name, or move what is shared below both):",
        offending,
    )


def test_no_private_name_imported_from_another_package() -> None:
    offending = []
    for path in SOURCE_FILES:
        importer = module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                continue
            if not node.module.startswith("prefbench.") or top(node.module) == top(importer):
                continue
            offending += [
                f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import {alias.name}"
                for alias in node.names
                if is_private(alias.name)
            ]
    assert not offending, report(
        "private names imported from another package (export a public name instead):",
        offending,
    )


# --- (c) no import circle between files of one package ------------------------------------


def file_circles(graph: grimp.ImportGraph) -> list[set[str]]:
    edges = {
        importer: {
            imported
            for imported in graph.find_modules_directly_imported_by(importer)
            if top(imported) == top(importer)
        }
        for importer in graph.modules
    }
    return strongly_connected(edges)


@pytest.mark.parametrize(
    "path", [pytest.param(path, id=path.relative_to(ROOT).as_posix()) for path in SOURCE_FILES]
)
def test_file_is_on_no_import_circle(graph: grimp.ImportGraph, path: Path) -> None:
    module = module_name(path)
    circles = [circle for circle in file_circles(graph) if module in circle]
    chains = [
        line
        for circle in circles
        for importer in sorted(circle)
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & circle)
        for line in import_lines(graph, importer, imported)
    ]
    assert not circles, report(
        f"{path.relative_to(ROOT)} is on an import circle with "
        f"{sorted(set().union(*circles) - {module})} (move what both need into one module "
        "that imports neither):",
        chains,
    )


def test_circle_detection_finds_a_two_file_circle() -> None:
    circular = grimp.ImportGraph()
    for name in ("pkg", "pkg.first", "pkg.second", "pkg.third"):
        circular.add_module(name)
    circular.add_import(importer="pkg.first", imported="pkg.second")
    circular.add_import(importer="pkg.second", imported="pkg.first")
    circular.add_import(importer="pkg.third", imported="pkg.first")
    assert file_circles(circular) == [{"pkg.first", "pkg.second"}]


# --- the wheel -----------------------------------------------------------------------------


def test_wheel_ships_one_namespace_and_not_the_tests() -> None:
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    shipped = find_namespace_packages(str(ROOT), include=find["include"])
    assert {f"prefbench.{package}" for package in PACKAGES} <= set(shipped)
    assert {name.split(".")[0] for name in shipped} == {"prefbench"}, shipped
    assert not [name for name in shipped if re.search(r"(^|\.)tests(\.|$)", name)], shipped


@pytest.mark.parametrize("package", PACKAGES)
def test_each_folder_is_linked_into_the_namespace(package: str) -> None:
    link = ROOT / "prefbench" / package
    assert link.is_symlink() and link.resolve() == (ROOT / package).resolve(), (
        f"{link} should be a link to ../{package} (the folder installs as prefbench.{package})"
    )


# --- the public API -----------------------------------------------------------------------

FULLY_REEXPORTED = ("prefbench.scorers.stats",)
"""Packages whose `__init__` re-exports every public name of every public module."""

SELF_DECLARED = ("prefbench.core",)
"""Packages whose public modules each declare `__all__` (the ground layer: `import
prefbench.core` stays cheap, so presentation modules such as `prefbench.core.tables` are
imported by name)."""


@pytest.mark.parametrize(
    "package",
    [f"prefbench.{name}" for name in ("core", "scorers", "scorers.stats", "tasks", "human_eval")],
)
def test_package_exports_resolve(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names)), f"{package}.__all__ repeats a name"
    assert not [name for name in names if not hasattr(module, name)], package


@pytest.mark.parametrize("package", SELF_DECLARED)
def test_public_modules_declare_their_names(package: str) -> None:
    folder = ROOT / package.removeprefix("prefbench.").replace(".", "/")
    undeclared = [
        path.name
        for path in sorted(folder.glob("*.py"))
        if path.stem != "__init__"
        and not is_private(path.stem)
        and not hasattr(importlib.import_module(f"{package}.{path.stem}"), "__all__")
    ]
    assert not undeclared, f"{folder.relative_to(ROOT)}: modules without __all__: {undeclared}"


@pytest.mark.parametrize("package", FULLY_REEXPORTED)
def test_package_reexports_its_modules_public_names(package: str) -> None:
    folder = ROOT / package.removeprefix("prefbench.").replace(".", "/")
    exported = set(importlib.import_module(package).__all__)
    missing = {}
    for path in sorted(folder.glob("*.py")):
        if path.stem == "__init__" or is_private(path.stem):
            continue
        module = importlib.import_module(f"{package}.{path.stem}")
        public = getattr(module, "__all__", None) or [
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
        ]
        if set(public) - exported:
            missing[module.__name__] = sorted(set(public) - exported)
    assert not missing, f"{folder.relative_to(ROOT)}/__init__.py does not re-export {missing}"
