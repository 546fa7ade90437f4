"""Plug-ins the tests install through entry points, as a third-party package would."""

from pathlib import Path

import pytest


def install_plugin(
    monkeypatch: pytest.MonkeyPatch, site: Path, distribution: str, module: str
) -> None:
    """Put a stand-in installed distribution on `sys.path` naming `module` under `[inspect_ai]`.

    What `pip install` of a third-party package with
    `[project.entry-points.inspect_ai] NAME = "module"` leaves behind: a `.dist-info` folder
    that `importlib.metadata.entry_points` finds. No prefbench file names the module.
    """
    info = site / f"{distribution.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n", encoding="utf-8"
    )
    entry = module.rsplit(".", 1)[-1]
    (info / "entry_points.txt").write_text(f"[inspect_ai]\n{entry} = {module}\n", "utf-8")
    monkeypatch.syspath_prepend(str(site))
