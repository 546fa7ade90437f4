"""Forecast versus real spend of a run's priced model calls, per stage kind.

Runs a profile (default: the offline demo) with a made-up price for its models (the demo's
models are free), so the dry-run forecast (`forecast.json`, written at the run's start) and
the spend read from the run's logs (report.json `cost`) are both in dollars, then prints per
stage kind the forecast (without and with the judge-retry bound), the spend and the ratio
spent/forecast (the goal: within ±20 %). The price is the same for input and output tokens
unless given twice, so the ratio is also a token ratio. Usage:

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.benchmarks.forecast_vs_spend \\
        [--profile demo] [--out runs/forecast-bench] [--limit N] [--price 1.0 2.0]

An existing `--out` folder is reused (its finished stages are not spent again): give a new
one for a fresh measurement.
"""

import argparse
import io
import json
import time
from pathlib import Path

from rich.console import Console

from prefbench.harness.cost.dry_run import prepare_forecast
from prefbench.harness.pipeline import open_run, run_benchmark
from prefbench.harness.profile import ModelPrice, load_profile
from prefbench.harness.serving.models import serving_spec


def main() -> None:
    """Run the profile with prices, then print the forecast against the spend."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--out", type=Path, default=Path("runs/forecast-bench"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--price", type=float, nargs="+", default=[1.0, 1.0])
    args = parser.parse_args()
    profile, _ = load_profile(args.profile)
    price = ModelPrice(input_per_million=args.price[0], output_per_million=args.price[-1])
    # price each role under its profile name (the forecast's) and the name its logs carry
    # (an offline model is served as `hf/<folder>`)
    served = {serving_spec(profile, role).model for role in profile.roles}
    prices = {name: price for name in {*(s.model for s in profile.roles.values()), *served}}
    profile = profile.model_copy(update={"prices": {**prices, **profile.prices}})
    console = Console(file=io.StringIO(), width=200)
    context = open_run(args.out, profile, console, display="none", limit=args.limit)
    started = time.monotonic()
    prepare_forecast(context, limit=args.limit, forecast_wanted=True)
    forecast_seconds = time.monotonic() - started
    report = run_benchmark(context)
    run_seconds = time.monotonic() - started - forecast_seconds
    assert report is not None and report.cost is not None
    comparison = report.cost.forecast_vs_spend
    assert comparison is not None
    print(f"profile {profile.name}, price {args.price} USD per million tokens")
    print(f"forecast (dry run) took {forecast_seconds:.0f} s, the run {run_seconds:.0f} s")
    print(f"{'stage':10} {'forecast $':>12} {'with retries':>13} {'spent $':>12} {'ratio':>7}")
    for row in comparison.rows:
        print_row(row.stage, row.forecast_usd, row.forecast_usd_max, row.spent_usd, row.ratio)
    print_row("total", comparison.forecast_usd, None, comparison.spent_usd, comparison.ratio)
    print(json.dumps([row.model_dump() for row in report.cost.device_hours], indent=1))


def print_row(stage: str, *values: float | None) -> None:
    """One row of the comparison: forecast, forecast with retries, spent, ratio ("–": none)."""
    shown = ["–" if value is None else f"{value:.6f}" for value in values]
    print(f"{stage:10} {shown[0]:>12} {shown[1]:>13} {shown[2]:>12} {shown[3]:>9}")


if __name__ == "__main__":
    main()
