"""Benchmark of the demo: first run in raw-token-equivalents, unchanged re-run, peak memory.

Measures the machine's raw engine speed (`raw_speed.py`: SmolLM2 greedy, batch 16, short
prompts) in a child process, then runs `prefbench run --profile demo` twice in a fresh run
folder, each in its own process, then the raw speed again. It prints wall and CPU times, the
first run's cost in raw-token-equivalents (wall seconds x the mean raw tokens/s of the same
sitting; budget 45,000: issue 14), how busy the two cores were (user + system CPU / wall /
cores), the re-run/first ratio, each run's peak resident memory, and the first run's
seconds inside evals by log kind and outside them (imports, adapter training, report,
figures). Targets: first run
<= 45,000 raw-token-equivalents, re-run <= 5 % of it, peak <= 6 GiB. Usage:

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

RAW_TOKEN_EQUIVALENTS_LIMIT = 45_000
RERUN_RATIO_LIMIT = 0.05
PEAK_LIMIT_GIB = 6.0


def timed_run(out: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (GiB) of one `prefbench run`."""
    command = [sys.executable, "-c", "from prefbench.harness.cli.app import main; main()"]
    command += ["run", "--profile", "demo", "--out", str(out), "--display", "none"]
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"prefbench run failed with status {status}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20


def eval_seconds(out: Path) -> dict[str, float]:
    """Wall seconds of the run's evals by log kind (`logs/<kind>/`), from their headers.

    Evals of one kind that ran together (the systems' generation is one eval of concurrent
    tasks) count once: the seconds during which at least one of them ran.
    """
    from datetime import datetime

    from inspect_ai.log import read_eval_log

    spans: dict[str, list[tuple[float, float]]] = {}
    for path in sorted(out.glob("logs/*/*.eval")):
        stats = read_eval_log(str(path), header_only=True).stats
        started, completed = (
            datetime.fromisoformat(str(stamp)).timestamp()
            for stamp in (stats.started_at, stats.completed_at)
        )
        spans.setdefault(path.parent.name, []).append((started, completed))
    return {kind: covered_seconds(kind_spans) for kind, kind_spans in spans.items()}


def covered_seconds(spans: list[tuple[float, float]]) -> float:
    """Seconds during which at least one of the (start, end) spans was open."""
    total, reached = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reached:
            total += end - max(start, reached)
            reached = end
    return total


def raw_speed(env: dict[str, str]) -> float:
    """The raw engine's tokens/s (`raw_speed.py`), measured in a child process."""
    script = Path(__file__).with_name("raw_speed.py")
    output = subprocess.run(
        [sys.executable, str(script)], env=env, check=True, capture_output=True, text=True
    ).stdout
    return float(output.rsplit(":", 1)[1].split()[0])


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
    raw_before = raw_speed(env)
    first_s, first_cpu, first_peak = timed_run(out, env)
    by_kind = eval_seconds(out)
    rerun_s, _, rerun_peak = timed_run(out, env)
    raw_after = raw_speed(env)
    raw = (raw_before + raw_after) / 2
    equivalents = first_s * raw
    ratio = rerun_s / first_s
    busy = first_cpu / first_s / (os.cpu_count() or 1)
    rows = [
        ("raw engine", f"{raw:.1f} tok/s", f"{raw_before:.1f} / {raw_after:.1f}", True),
        ("first run", f"{first_s:.1f} s", "", True),
        (
            "first run cost",
            f"{equivalents:,.0f} rte",
            f"<= {RAW_TOKEN_EQUIVALENTS_LIMIT:,}",
            equivalents <= RAW_TOKEN_EQUIVALENTS_LIMIT,
        ),
        ("first run CPU", f"{first_cpu:.0f} s", f"busy {busy:.0%}", True),
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
        print(f"{name:<20} {value:>14}  {target:<12} {'ok' if ok else 'OVER TARGET'}")
    print("rte: raw-token-equivalents (first-run wall s x raw tok/s of this sitting)")
    print("first run, evals by log kind (s):")
    for kind, seconds in by_kind.items():
        print(f"  {kind:<18} {seconds:>7.1f}")
    outside = first_s - sum(by_kind.values())
    print(f"  {'outside evals':<18} {outside:>7.1f}  (imports, training, report, figures)")


if __name__ == "__main__":
    main()
