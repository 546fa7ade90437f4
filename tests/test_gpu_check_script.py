"""The GPU check script's CPU-side parts: it skips cleanly without CUDA, and its bundle survives
being carried to the device part by part (`tests/benchmarks/gpu_check.py`)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "benchmarks" / "gpu_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_the_check_says_so_and_exits_0():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the check would run")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "check"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "GPU check skipped: no CUDA device here" in result.stdout


def test_a_bundle_carried_part_by_part_reassembles(tmp_path: Path):
    gpu_check = load_script()
    files = []
    for name, size in (("big.whl", 2500), ("mid.whl", 900), ("small.whl", 30)):
        path = tmp_path / "wheels" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(os.urandom(size))
        files.append(path)
    bundle, stash = tmp_path / "bundle", tmp_path / "stash"
    manifest = gpu_check.split_into_parts(files, bundle, part_bytes=1000)
    parts = sorted(bundle.glob("part-*"))
    assert manifest["parts"] == len(parts) == 4
    for part in parts:
        assert sum(p.stat().st_size for p in part.iterdir() if p.suffix != ".json") <= 1000

    carried = tmp_path / "carried"  # the device's checkout: one part per call
    with pytest.raises(FileNotFoundError):
        gpu_check.stash_parts(carried, stash)
    missing = None
    for part in parts:
        (carried / part.name).mkdir(parents=True)
        for item in part.iterdir():
            (carried / part.name / item.name).write_bytes(item.read_bytes())
        missing = gpu_check.stash_parts(carried, stash)
        if part != parts[-1]:
            assert missing
    assert missing == []
    joined = gpu_check.assemble(stash, tmp_path / "joined")
    assert {path.name: path.read_bytes() for path in joined} == {
        path.name: path.read_bytes() for path in files
    }
    (stash / "big.whl.1").write_bytes(b"corrupt")
    with pytest.raises(ValueError, match="sha256"):
        gpu_check.assemble(stash, tmp_path / "again")


def test_the_check_profile_is_valid_and_runs_every_stage_on_the_gpu():
    from prefbench.harness.profile import parse_profile

    gpu_check = load_script()
    profile = parse_profile(gpu_check.check_profile("cuda:0", nf4=True), Path("<gpu check>"))
    assert profile.training.quantization == "nf4"
    assert {spec.model_args["device"] for spec in profile.roles.values()} == {"cuda:0"}
    assert profile.judge.kind == "llm" and profile.judge.multi_candidate
    assert profile.metrics.personalization_system  # the cross-user stage runs
