"""A run's forecast and stage timings, kept in its folder, and how they compare with the spend.

`forecast.json` is what the dry run (`prefbench.harness.cost.dry_run.plan_forecast`) said the run
still needed when it started (`prefbench.harness.cost.dry_run.prepare_forecast`; a fresh run's
whole plan, a resumed one keeps it), with what the run folder had spent by then
(`spent_before_by_kind`): calls, tokens, dollars and GPU-hours per stage kind (log
folder: `intents`, `build`, `gen`, `judge`, ...) and per pipeline stage (`records`, `build`,
`generation`, `pairwise_judge`, ...), with the roles each pipeline stage calls. `stage_seconds.json`
holds, per pipeline stage, the wall and CPU seconds the run spent in it (summed over invocations)
and the GPUs held meanwhile (its roles' and every server up, `prefbench.harness.progress`); other
code that measures device time itself (adapter training fanned out over GPUs) adds it with
`add_device_seconds`. report.json's `cost` section reads both
(`forecast_comparison`, `device_hours`).
"""

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prefbench.core.atomic import atomic_write_text
from prefbench.core.bounded_input import loads_json
from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.profile import Profile
from prefbench.harness.serving.placement import TRAINING_DEVICE

FORECAST_FILE = "forecast.json"
STAGE_SECONDS_FILE = "stage_seconds.json"
TOLERANCE = 0.2
"""The forecast aims at the spend within ±20 %."""


def forecast_path(run_root: Path) -> Path:
    """`runs/NAME/forecast.json`."""
    return run_root / FORECAST_FILE


def write_forecast(run_root: Path, forecast: Mapping[str, Any]) -> None:
    """Write `forecast.json` (atomically)."""
    atomic_write_text(forecast_path(run_root), json.dumps(forecast, indent=2) + "\n")


def _read_json(path: Path) -> Any | None:
    if not path.exists():
        return None
    try:
        return loads_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PrefbenchInputError(
            f"{path} cannot be read ({error}): delete it and run again (it is rewritten)"
        ) from error


def read_forecast(run_root: Path) -> dict[str, Any] | None:
    """The run's `forecast.json`, or None when the run has none."""
    forecast = _read_json(forecast_path(run_root))
    return forecast if isinstance(forecast, dict) else None


def stage_forecast(forecast: Mapping[str, Any] | None, stage: str) -> dict[str, Any]:
    """The forecast of one pipeline stage (zeros when it calls no model or none is known)."""
    empty = {"kinds": [], "roles": [], "calls": 0, "input_tokens": 0, "output_tokens": 0}
    if forecast is None:
        return {**empty, "usd": 0.0, "retry_usd": 0.0, "training_jobs": 0}
    found = forecast.get("by_stage", {}).get(stage)
    return found if isinstance(found, dict) else {**empty, "usd": 0.0, "retry_usd": 0.0}


def _ratio(spent: float | None, forecast: float | None) -> float | None:
    if spent is None or forecast is None or forecast == 0:
        return None
    return spent / forecast


def forecast_comparison(
    forecast: Mapping[str, Any], spent_by_kind: Mapping[str, float | None]
) -> dict[str, Any]:
    """Forecast against spend per stage kind: dollars, the ratio spent/forecast, and totals.

    `forecast_usd` leaves judge retries out, `forecast_usd_max` adds their upper bound;
    `within_tolerance` is whether the ratio is within ±`TOLERANCE`. The forecast covers what
    the run still needed when it was made: what its log kinds had spent by then
    (`spent_before_by_kind`) is not part of `spent_usd`.
    """
    rows = []
    by_kind = forecast.get("by_kind", {})
    before = forecast.get("spent_before_by_kind") or {}
    spent_by_kind = {
        kind: None if value is None else value - (before.get(kind) or 0.0)
        for kind, value in spent_by_kind.items()
    }
    for kind in [*by_kind, *(kind for kind in spent_by_kind if kind not in by_kind)]:
        planned = by_kind.get(kind, {})
        expected = planned.get("usd", 0.0) if planned else 0.0
        retries = planned.get("retry_usd", 0.0) if planned else 0.0
        spent = spent_by_kind.get(kind, 0.0)
        if not expected and not spent:
            continue
        ratio = _ratio(spent, expected)
        rows.append(
            {
                "stage": kind,
                "forecast_usd": expected,
                "forecast_usd_max": None
                if expected is None or retries is None
                else expected + retries,
                "spent_usd": spent,
                "ratio": ratio,
                "within_tolerance": None if ratio is None else abs(ratio - 1) <= TOLERANCE,
            }
        )
    spent_values = [row["spent_usd"] for row in rows]
    spent_total = None if any(v is None for v in spent_values) else sum(spent_values)
    total = forecast.get("usd")
    return {
        "forecast_as_of": forecast.get("created"),
        "rows": rows,
        "forecast_usd": total,
        "spent_usd": spent_total,
        "ratio": _ratio(spent_total, total),
        "tolerance": TOLERANCE,
    }


def stage_seconds_path(run_root: Path) -> Path:
    """`runs/NAME/stage_seconds.json`."""
    return run_root / STAGE_SECONDS_FILE


def read_stage_seconds(run_root: Path) -> dict[str, dict[str, Any]]:
    """Per pipeline stage: wall and CPU seconds, GPUs, measured device seconds ({} if none)."""
    found = _read_json(stage_seconds_path(run_root))
    return found if isinstance(found, dict) else {}


def _update_stage(run_root: Path, stage: str, gpus: int | None = None, **added: float) -> None:
    """Add seconds to a stage's entry of `stage_seconds.json` (and set its GPUs)."""
    timings = read_stage_seconds(run_root)
    entry = timings.setdefault(stage, {})
    for name, value in added.items():
        entry[name] = entry.get(name, 0.0) + value
    if gpus is not None:
        entry["gpus"] = gpus
    atomic_write_text(stage_seconds_path(run_root), json.dumps(timings, indent=2) + "\n")


def record_stage_seconds(
    run_root: Path, stage: str, wall_seconds: float, cpu_seconds: float, gpus: int
) -> None:
    """Add one invocation's time in `stage` (summed over invocations) and its GPU count."""
    _update_stage(run_root, stage, gpus, wall_seconds=wall_seconds, cpu_seconds=cpu_seconds)


def add_device_seconds(run_root: Path, stage: str, device_seconds: float) -> None:
    """Add GPU-seconds measured by the code that used the devices (e.g. training tasks).

    The hook for work whose device time is not wall time × GPUs: adapter training fanned out
    over several GPUs or nodes reports each task's device seconds here (`stage` is the
    pipeline stage, `build`). When a stage has measured device seconds, the report's
    `device_hours` uses them instead of its wall seconds × GPUs.
    """
    _update_stage(run_root, stage, measured_device_seconds=device_seconds)


def stage_devices(profile: Profile, roles: Iterable[str], trains: bool) -> set[int]:
    """The GPUs the named roles own (`devices`), plus the training GPU when `trains`."""
    devices: set[int] = set()
    for role in roles:
        spec = profile.roles.get(role)
        if spec is not None and spec.devices:
            devices.update(spec.devices)
    if trains and any(spec.devices for spec in profile.roles.values()):
        devices.add(TRAINING_DEVICE)
    return devices


def device_hours(run_root: Path, profile: Profile) -> list[dict[str, Any]]:
    """Per pipeline stage: wall and CPU seconds, GPUs, and GPU-hours (0 on a CPU-only run).

    GPU-hours are the measured device seconds when some were added (`add_device_seconds`),
    else wall seconds × the GPUs the stage's roles own.
    """
    rows = []
    for stage, entry in read_stage_seconds(run_root).items():
        wall = float(entry.get("wall_seconds", 0.0))
        gpus = int(entry.get("gpus", 0))
        measured = entry.get("measured_device_seconds")
        gpu_seconds = float(measured) if measured is not None else wall * gpus
        rows.append(
            {
                "stage": stage,
                "wall_seconds": round(wall, 3),
                "cpu_seconds": round(float(entry.get("cpu_seconds", 0.0)), 3),
                "gpus": gpus,
                "gpu_hours": round(gpu_seconds / 3600, 6),
                "gpu_seconds_measured": measured is not None,
            }
        )
    return rows
