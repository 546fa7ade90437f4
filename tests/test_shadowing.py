"""prefbench runs from a folder with its own `tasks/` and `harness/` packages (issue 22).

inspect eval repositories often have a `tasks/` package. prefbench installs one namespace,
`prefbench.*`, and imports only absolute `prefbench.` names, so the user's packages shadow
nothing: here they raise if anything imports them.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PREFBENCH = Path(sys.executable).parent / "prefbench"


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    """A working folder whose own `tasks`, `harness`, `core`, ... packages break on import."""
    for package in ("tasks", "harness", "core", "scorers", "solvers", "human_eval"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(
            f"raise RuntimeError('the user\\'s own {package} package was imported')\n"
        )
    (tmp_path / "tasks" / "corpora.py").write_text("raise RuntimeError('user tasks.corpora')\n")
    return tmp_path


def run_in(folder: Path, *command: str) -> subprocess.CompletedProcess:
    """`command` run in `folder`, which is also on the import path (first)."""
    environment = {**os.environ, "PYTHONPATH": str(folder), "COLUMNS": "200"}
    return subprocess.run(
        command, cwd=folder, env=environment, capture_output=True, text=True, timeout=300
    )


def test_the_user_folder_is_really_first_on_the_path(user_folder: Path):
    result = run_in(user_folder, sys.executable, "-c", "import tasks")
    assert result.returncode != 0 and "the user's own tasks package" in result.stderr


def test_the_pipeline_imports_from_a_folder_with_its_own_packages(user_folder: Path):
    code = "import prefbench.harness.pipeline, prefbench.plugin; print('imported')"
    result = run_in(user_folder, sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


def test_the_command_runs_from_a_folder_with_its_own_packages(user_folder: Path):
    result = run_in(user_folder, str(PREFBENCH), "corpora")
    assert result.returncode == 0, result.stderr
    assert "new_yorker" in result.stdout and "jsonl_articles" in result.stdout
    out = user_folder / "prepared"
    result = run_in(user_folder, str(PREFBENCH), "data", "prepare", "demo", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "records.jsonl").is_file()
