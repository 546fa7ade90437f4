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
from prefbench.harness.judging import ResolvedJudge, resolve_judges
from prefbench.harness.profile import Profile
from prefbench.harness.serving.models import role_identity
from prefbench.harness.split import SplitInfo, read_split
from prefbench.solvers import lookup_system

__all__ = ["LIBRARIES", "JudgeSpec", "Provenance", "run_provenance"]

LIBRARIES = ("inspect-ai", "transformers", "torch", "peft", "trl", "bert-score", "vllm")
"""Libraries whose versions can change a run's answers (those installed are listed)."""


class JudgeSpec(BaseModel):
    """What a judge is: two runs whose judges have the same `spec_hash` judged alike."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    """The profile's `kind` (a registered name or a YAML judge file)."""
    tie_policy: str
    multi_candidate: bool
    roles: list[str]
    settings: dict[str, Any]
    """The settings its stages are keyed by (`prefbench.scorers.registry.judge_key_inputs`)."""
    spec_hash: str
    """A fingerprint of the fields above (`prefbench.harness.judging.ResolvedJudge.spec_hash`)."""


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
    judge: JudgeSpec
    """The primary judge."""
    judges: dict[str, JudgeSpec]
    """Every judge of the run by name, the primary first."""
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


def _judge_spec(judge: ResolvedJudge) -> JudgeSpec:
    return JudgeSpec(**judge.spec(), spec_hash=judge.spec_hash())


def run_provenance(run: RunFolder, profile: Profile) -> Provenance:
    """The provenance of a single-dataset run of `profile` in `run`."""
    systems = [lookup_system(name) for name in profile.systems]
    judges = resolve_judges(profile)
    modules = [system.solver_factory.__module__ for system in systems]
    modules += [judge.definition.pairwise.__module__ for judge in judges]
    libraries = {name: _installed(name) for name in LIBRARIES}
    return Provenance(
        prefbench=_installed("prefbench") or "unknown",
        python=platform.python_version(),
        libraries={name: value for name, value in libraries.items() if value is not None},
        plugins=_plugin_versions(modules),
        models={role: role_identity(profile, role) for role in sorted(profile.roles)},
        judge=_judge_spec(judges[0]),
        judges={judge.name: _judge_spec(judge) for judge in judges},
        split=read_split(run),
    )
