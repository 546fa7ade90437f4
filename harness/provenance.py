"""Where a run's results come from: versions, models, judge and split (report.json `provenance`).

`run_provenance(run, profile)` gathers what another contributor needs to tell whether two
runs are comparable: prefbench's version and those of the libraries that decide answers, the
packages of plug-in systems and judges the profile uses, each role's model identity (its
content, `prefbench.harness.serving.models.role_identity`, never a path), the judge's spec and
the run's split (`data/split.json`, `prefbench.harness.split`).
"""

import platform
from functools import cache
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from typing import Any

from pydantic import BaseModel, ConfigDict

from prefbench.core.run_folder import RunFolder
from prefbench.harness.profile import Profile
from prefbench.harness.serving.models import role_identity
from prefbench.harness.split import SplitInfo, read_split
from prefbench.scorers.registry import judge_key_inputs, lookup_judge
from prefbench.solvers import lookup_system

__all__ = ["LIBRARIES", "Provenance", "run_provenance"]

LIBRARIES = ("inspect-ai", "transformers", "torch", "peft", "trl", "bert-score", "vllm")
"""Libraries whose versions can change a run's answers (those installed are listed)."""


class Provenance(BaseModel):
    """What made a run's results (report.json `provenance`)."""

    model_config = ConfigDict(extra="forbid")

    prefbench: str
    """prefbench's version."""
    python: str
    libraries: dict[str, str]
    """Installed versions of `LIBRARIES`."""
    plugins: dict[str, str]
    """Versions of the packages, other than prefbench, whose systems or judge the run uses."""
    models: dict[str, dict[str, Any]]
    """Each role's model identity: content hashes or hub names, args, config, decoding."""
    judge: dict[str, Any]
    """The judge: kind, tie policy, multi-candidate, and the settings its stages are keyed by."""
    split: SplitInfo | None
    """The run's split (None before the records stage wrote it)."""


def _installed(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


@cache
def _package_map() -> dict[str, list[str]]:
    """Top-level module → the installed distributions that provide it (read once)."""
    return dict(packages_distributions())


def _plugin_versions(modules: list[str]) -> dict[str, str]:
    """The installed distributions (not prefbench) that provide these modules, with versions."""
    found: dict[str, str] = {}
    for module in modules:
        top_level = module.split(".")[0]
        if not top_level or top_level == "prefbench":
            continue
        for distribution in _package_map().get(top_level, []):
            installed = _installed(distribution)
            if installed is not None:
                found[distribution] = installed
    return dict(sorted(found.items()))


def run_provenance(run: RunFolder, profile: Profile) -> Provenance:
    """The provenance of a single-dataset run of `profile` in `run`."""
    systems = [lookup_system(name) for name in profile.systems]
    judge = lookup_judge(profile.judge.kind)
    modules = [system.solver_factory.__module__ for system in systems]
    modules.append(judge.pairwise.__module__)
    settings = profile.judge.typed_settings(profile.metrics)
    libraries = {name: _installed(name) for name in LIBRARIES}
    return Provenance(
        prefbench=_installed("prefbench") or "unknown",
        python=platform.python_version(),
        libraries={name: value for name, value in libraries.items() if value is not None},
        plugins=_plugin_versions(modules),
        models={role: role_identity(profile, role) for role in sorted(profile.roles)},
        judge={
            "kind": profile.judge.kind,
            "tie_policy": profile.judge.tie_policy,
            "multi_candidate": profile.judge.multi_candidate,
            "roles": list(judge.roles),
            "settings": judge_key_inputs(profile.judge.kind, settings),
        },
        split=read_split(run),
    )
