"""Stand-in installed distributions, as `pip install` of a package with entry points leaves."""

from pathlib import Path

import pytest


def install_distribution(site: Path, distribution: str, entry_points: dict[str, str]) -> Path:
    """Write a `.dist-info` folder in `site` declaring one entry point per group.

    `entry_points` maps a group (``prefbench``, ``inspect_ai``) to the module it names; the
    entry point is called after the module's last part. `importlib.metadata.entry_points`
    finds it once `site` is on `sys.path`. Returns the `.dist-info` folder.
    """
    info = site / f"{distribution.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n", encoding="utf-8"
    )
    lines = [
        f"[{group}]\n{module.rsplit('.', 1)[-1]} = {module}\n"
        for group, module in entry_points.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    return info


def install_plugin(
    monkeypatch: pytest.MonkeyPatch,
    site: Path,
    distribution: str,
    module: str,
    group: str = "prefbench",
) -> None:
    """Put a stand-in distribution on `sys.path` naming `module` under `[group]`.

    What `pip install` of a third-party package with
    `[project.entry-points.prefbench] NAME = "module"` leaves behind. No prefbench file names
    the module.
    """
    install_distribution(site, distribution, {group: module})
    monkeypatch.syspath_prepend(str(site))
