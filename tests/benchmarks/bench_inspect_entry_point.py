"""What prefbench costs every other `inspect` process: the time to import inspect's entry points.

inspect imports every module named under its `inspect_ai` entry points before it makes a
model, in every process of the environment. Each run is a fresh child process that imports
inspect, then times `ensure_entry_points()` and counts the prefbench modules it imported.
With `--baseline DIR` (a checkout of an older commit, e.g. `git worktree add /tmp/base
8e325ae`) the same is measured with that checkout first on the import path, and the ratio
printed. Run it on an idle machine: it quotes times. Usage:

    .venv/bin/python tests/benchmarks/bench_inspect_entry_point.py [--runs 5] [--baseline DIR]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys, time
import inspect_ai
from inspect_ai._util.entrypoints import ensure_entry_points
start = time.perf_counter()
ensure_entry_points()
seconds = time.perf_counter() - start
print(json.dumps([seconds, sum(name.startswith("prefbench") for name in sys.modules)]))
"""


def measure(runs: int, checkout: Path | None) -> tuple[float, int]:
    """Median seconds of `ensure_entry_points()` and the prefbench modules it imported."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if checkout is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(checkout), os.environ.get("PYTHONPATH")])
        )
    results = []
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", CHILD],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
            cwd=Path.home(),
        ).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    return statistics.median(seconds for seconds, _ in results), results[-1][1]


def main() -> None:
    """Print the median time and module count, and the ratio to a baseline checkout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, default=None)
    arguments = parser.parse_args()
    now, modules = measure(arguments.runs, None)
    print(f"this install: {now:.3f} s, {modules} prefbench modules imported")
    if arguments.baseline is not None:
        before, before_modules = measure(arguments.runs, arguments.baseline.resolve())
        print(f"baseline:     {before:.3f} s, {before_modules} prefbench modules imported")
        print(f"ratio this/baseline: {now / before:.3f}")


if __name__ == "__main__":
    main()
