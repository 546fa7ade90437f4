"""Benchmark of the demo: first run, unchanged re-run, peak memory (issue 2 targets).

Runs `prefbench run --profile demo` twice in a fresh run folder, each in its own process,
and prints wall times, the re-run/first ratio and each run's peak resident memory, against
the targets: first run <= 10 min, re-run <= 5 % of it, peak <= 6 GiB. Usage:

    .venv/bin/python tests/benchmarks/bench_demo.py [--out DIR] [--fresh-model-cache]

`--fresh-model-cache` also times the one-off SmolLM2 conversion (a new PREFBENCH_CACHE_DIR).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_RUN_LIMIT_S = 600  # seconds
RERUN_RATIO_LIMIT = 0.05
PEAK_LIMIT_GIB = 6.0


def timed_run(out: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of one `prefbench run` in a child process."""
    command = [sys.executable, "-c", "from harness.cli import main; main()"]
    command += ["run", "--profile", "demo", "--out", str(out), "--display", "none"]
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"prefbench run failed with status {status}")
    return seconds, usage.ru_maxrss / 2**20


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--fresh-model-cache", action="store_true")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="prefbench-bench-")) / "demo"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if args.fresh_model_cache:
        env["PREFBENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="prefbench-cache-")
    first_s, first_peak = timed_run(out, env)
    rerun_s, rerun_peak = timed_run(out, env)
    ratio = rerun_s / first_s
    rows = [
        (
            "first run",
            f"{first_s:.1f} s",
            f"<= {FIRST_RUN_LIMIT_S} s",
            first_s <= FIRST_RUN_LIMIT_S,
        ),
        ("unchanged re-run", f"{rerun_s:.1f} s", "", True),
        ("re-run / first", f"{ratio:.3f}", f"<= {RERUN_RATIO_LIMIT}", ratio <= RERUN_RATIO_LIMIT),
        (
            "peak RSS (first)",
            f"{first_peak:.2f} GiB",
            f"<= {PEAK_LIMIT_GIB}",
            first_peak <= PEAK_LIMIT_GIB,
        ),
        ("peak RSS (re-run)", f"{rerun_peak:.2f} GiB", "", True),
    ]
    print(f"run folder: {out}")
    for name, value, target, ok in rows:
        print(f"{name:<20} {value:>12}  {target:<10} {'ok' if ok else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
