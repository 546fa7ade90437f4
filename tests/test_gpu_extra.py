"""The `gpu` extra installs a transformers the trainer works with (needs the package index).

`pip install '.[gpu]'` puts vLLM's pins on transformers (vllm 0.33.0: `>=5.16.1,<5.21`, so
transformers 5.20.2, whose `TrainingArguments` knows `gradient_checkpointing` but not
`activation_checkpointing`). The test:

1. reads the extra from pyproject.toml: vLLM must be pinned (`vllm==V`), so a new vLLM
   release cannot change what a GPU user installs;
2. has pip read vLLM V's own requirements (`pip install --dry-run --no-deps --report`) and
   resolve transformers under them and the project's own bound (`--dry-run --report`): the
   transformers `pip install '.[gpu]'` installs (the full resolution, every dependency
   included, gave the same 5.20.2; it downloads every wheel it considers from an index that
   serves no separate metadata, 9 to 15 minutes here, so it is not repeated in `make test`);
3. installs that transformers alone into a temporary folder and, in a subprocess that
   imports it first, builds the trainer's QLoRA arguments for CUDA and trains one LoRA
   adapter on a tiny random Llama on the CPU (`tests/trainer_under_transformers.py`).

It skips when the package index cannot be reached, unless PREFBENCH_REQUIRE_INDEX is set
(`.ci/run` sets it, so CI always runs it). About a minute, most of it downloading vLLM.
"""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
REQUIRE_INDEX = "PREFBENCH_REQUIRE_INDEX"
PIP_TIMEOUT = 600


def project_requirements() -> tuple[list[Requirement], list[Requirement]]:
    """The project's dependencies and its `gpu` extra, parsed."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return (
        [Requirement(line) for line in project["dependencies"]],
        [Requirement(line) for line in project["optional-dependencies"]["gpu"]],
    )


def named(requirements: list[Requirement], name: str) -> list[Requirement]:
    return [requirement for requirement in requirements if requirement.name == name]


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--retries", "2", "--timeout", "60"],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


def resolved(tmp_path: Path, name: str, *requirements: str, no_deps: bool = True) -> dict:
    """pip's resolution (`--dry-run --report`) of `requirements`: the metadata of `name`."""
    report = tmp_path / f"{name}-report.json"
    args = ["install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)]
    result = pip(*args, *(["--no-deps"] if no_deps else []), *requirements)
    if result.returncode != 0:
        unreachable = any(
            marker in result.stderr
            for marker in ("NewConnectionError", "Temporary failure", "Network is unreachable")
        )
        if unreachable and not os.environ.get(REQUIRE_INDEX):
            pytest.skip(f"the package index cannot be reached: {result.stderr[-300:]}")
        raise AssertionError(f"pip could not resolve {requirements}:\n{result.stderr[-3000:]}")
    install = json.loads(report.read_text(encoding="utf-8"))["install"]
    [entry] = [item for item in install if item["metadata"]["name"].lower() == name]
    return entry["metadata"]


def test_the_gpu_extra_pins_vllm_and_its_transformers_trains(tmp_path: Path):
    dependencies, gpu = project_requirements()
    [vllm] = named(gpu, "vllm")
    pinned = [spec for spec in vllm.specifier if spec.operator == "=="]
    assert pinned, f"pin vLLM in the gpu extra (vllm==X.Y.Z), not {vllm}"
    vllm_metadata = resolved(tmp_path, "vllm", str(vllm))
    vllm_needs = [Requirement(line) for line in vllm_metadata["requires_dist"]]
    bounds = [
        str(r) for r in named(dependencies, "transformers") + named(vllm_needs, "transformers")
    ]
    assert len(bounds) == 2, bounds
    transformers = resolved(tmp_path, "transformers", *bounds)["version"]
    assert all(Version(transformers) in Requirement(b).specifier for b in bounds)

    target = tmp_path / "site"
    installed = pip(
        "install", "--quiet", "--no-deps", "--target", str(target), f"transformers=={transformers}"
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    checked = subprocess.run(
        [sys.executable, "-m", "tests.trainer_under_transformers"],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{REPO}"},
    )
    assert checked.returncode == 0, checked.stderr[-4000:]
    outcome = json.loads(checked.stdout.strip().splitlines()[-1])
    assert outcome["transformers"] == transformers
    assert outcome["transformers_file"].startswith(str(target))
    assert outcome["checkpointing"] and outcome["optim"].endswith("PAGED_ADAMW_8BIT")
    assert outcome["steps"] == 2 and outcome["adapter_saved"]


def test_the_gpu_extra_bounds_what_the_trainer_was_tested_with():
    _, gpu = project_requirements()
    [bitsandbytes] = named(gpu, "bitsandbytes")
    # NF4 QLoRA was measured on CUDA with bitsandbytes 0.50.2 (docs/architecture.md)
    assert Version("0.50.2") in bitsandbytes.specifier
    assert bitsandbytes.specifier != SpecifierSet("")
