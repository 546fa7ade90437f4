"""How fast the dry run plans, against its 30 s target and against the planning run it replaced.

Prints, in seconds of wall and CPU time (the CPU time is what an idle 2-core machine's wall
time would be): the paper profile on a 10-user Enron sample (`prefbench data prepare enron
--users 10` of `../shared/data/enron-sample`, prepared into a temporary folder; a second
dataset, as the paper profile has, is left out) and its ratio to the 30 s target, and the demo
profile's plan against the planning run (`tests/planning_oracle.py`, the dry run before plans
were arithmetic) with their ratio. Usage:

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.benchmarks.dry_run_speed

Quote its numbers only from an idle machine (other processes slow both sides).
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from prefbench.harness.cost.dry_run import plan_run
from prefbench.harness.profile import PROFILES_DIR, dataset_profiles, load_profile, parse_profile
from prefbench.harness.stages.records import profile_records

TARGET_SECONDS = 30.0
SAMPLE = next(
    (
        folder / "shared" / "data" / "enron-sample" / "maildir"
        for folder in Path(__file__).resolve().parents
        if (folder / "shared" / "data" / "enron-sample").is_dir()
    ),
    Path("../shared/data/enron-sample/maildir"),
)
"""The sample beside the checkout (or beside a folder above it, for a git worktree)."""


def timed(function, *args, **kwargs) -> tuple[object, float, float]:
    """The function's result, its wall seconds and its CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def paper_profile_on_sample(folder: Path):
    """The paper profile's single-dataset profile on the 10-user sample, prepared in `folder`."""
    records = folder / "enron"
    prefbench = [sys.executable, "-c", "from prefbench.harness.cli.app import main; main()"]
    prepare = ["data", "prepare", "enron", "--source", str(SAMPLE), "--out", str(records)]
    subprocess.run([*prefbench, *prepare, "--users", "10"], check=True, capture_output=True)
    raw = yaml.safe_load((PROFILES_DIR / "paper.yaml").read_text(encoding="utf-8"))
    raw["datasets"] = {"enron": {"kind": "records", "path": str(records / "records.jsonl")}}
    profile = parse_profile(raw, Path("paper.yaml"))
    return next(iter(dataset_profiles(profile).values()))


def main() -> None:
    """Print the timings and ratios (see the module docstring)."""
    if not SAMPLE.is_dir():
        sys.exit(f"{SAMPLE} is absent: it exists only beside the developers' checkout")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="prefbench-dry-run-speed-") as folder:
        paper = paper_profile_on_sample(Path(folder))
        plan, wall, cpu = timed(plan_run, paper)
        print(
            f"paper profile, 10-user Enron sample: {plan.total('calls'):,} calls, "
            f"{plan.total('training_jobs')} adapters planned in {wall:.1f} s wall, {cpu:.1f} s "
            f"CPU; CPU / {TARGET_SECONDS:.0f} s target = {cpu / TARGET_SECONDS:.2f}"
        )
    from tests.planning_oracle import planning_run

    demo = load_profile("demo")[0]
    records = profile_records(demo)
    _, wall, cpu = timed(plan_run, demo, records)
    _, oracle_wall, oracle_cpu = timed(planning_run, demo, records)
    print(
        f"demo: plan {wall:.1f} s wall, {cpu:.1f} s CPU; planning run {oracle_wall:.1f} s wall, "
        f"{oracle_cpu:.1f} s CPU; CPU ratio plan / planning run = {cpu / oracle_cpu:.2f}"
    )


if __name__ == "__main__":
    main()
