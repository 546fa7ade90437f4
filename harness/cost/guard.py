"""The cost ceiling: a run does not start above it, and no stage starts that could cross it.

The forecast is what the run still needs when it starts (`forecast.json`,
`prefbench.harness.cost.dry_run.prepare_forecast`: only the stages that are not finished; judge
retries left out). `refuse_above_ceiling` is the check at the start: what the run folder (and
earlier datasets of the run) spent plus that forecast, above the ceiling, is an input error
(exit 2) naming both; a run with nothing left to do is never refused. `CostGuard.before_stage`
is the check before every pipeline stage: the dollars the run's finished logs spent
(`prefbench.harness.cost.spend.usd_by_kind`) plus the most the stage can still spend (its
forecast with the judge-retry bound, less what its log kinds spent since the forecast) must stay
within the ceiling, else the run stops with `CeilingReached` (exit 3) before the stage sends a
call. The stop is written to `ceiling_stop.json` in the run folder: the ceiling, what was spent,
the stage that was not started and what each stage left is forecast to cost. Finished calls are in
the run's cache, so running again with a higher ceiling repeats none of them.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefbench.core.atomic import atomic_write_text
from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.cost.forecast import stage_forecast
from prefbench.harness.cost.spend import usd_by_kind
from prefbench.harness.stages import PipelineContext, Stage

CEILING_STOP_FILE = "ceiling_stop.json"
CEILING_EXIT_CODE = 3
"""`prefbench run`'s exit code when the ceiling stopped a run (resume with a higher one)."""


class ForecastAboveCeiling(PrefbenchInputError):
    """The forecast of the run is above its cost ceiling (or unknown): it does not start."""


class CeilingReached(Exception):
    """A stage could take the spend over the ceiling: the run stopped before it."""


def dollars(value: float | None) -> str:
    """`$1.23` (four decimals below a cent), or `unknown`."""
    if value is None:
        return "unknown"
    return f"${value:,.4f}" if 0 < abs(value) < 0.01 else f"${value:,.2f}"


def refuse_above_ceiling(
    forecast: dict[str, Any], ceiling: float, run_root: Path, spent: float = 0.0
) -> None:
    """Raise `ForecastAboveCeiling` when `spent` plus the forecast is above `ceiling`.

    A forecast with calls to a model without a price is refused too; a forecast of nothing
    (every stage finished) never is.
    """
    expected = forecast.get("usd")
    if expected is None:
        raise ForecastAboveCeiling(
            f"the run in {run_root} has a cost ceiling of {dollars(ceiling)} but its forecast "
            f"has no price for {', '.join(forecast.get('unpriced_models', []))}: add them to "
            "the profile's `prices:` or run without --max-cost"
        )
    if expected > 0 and spent + expected > ceiling:
        already = f"{dollars(spent)} spent and " if spent else ""
        raise ForecastAboveCeiling(
            f"the run in {run_root} would cost {already}{dollars(expected)} more (forecast), "
            f"above the cost ceiling of {dollars(ceiling)}: raise --max-cost (or the profile's "
            "max_cost), or make the run smaller (--limit, fewer systems)"
        )


@dataclass
class CostGuard:
    """Stops a run before a stage that could take its spend over `ceiling` (US dollars).

    `forecast` is what the run still needed when it started (`plan_forecast` of the run
    folder); `spent_at_start` the dollars its log kinds had spent then; `spent_elsewhere` what
    other parts of the same run spent (earlier datasets of a several-dataset run).
    """

    ceiling: float
    forecast: dict[str, Any]
    spent_elsewhere: float = 0.0
    spent_at_start: dict[str, float | None] = field(default_factory=dict)

    def stage_bound(self, stage: str, spent_by_kind: dict[str, float | None]) -> float:
        """The most `stage` can still spend.

        Its forecast with the retry bound, less what its log kinds spent since the forecast.
        """
        planned = stage_forecast(self.forecast, stage)
        bound = (planned.get("usd") or 0.0) + (planned.get("retry_usd") or 0.0)
        already = sum(
            (spent_by_kind.get(kind) or 0.0) - (self.spent_at_start.get(kind) or 0.0)
            for kind in planned["kinds"]
        )
        return max(0.0, bound - already)

    def before_stage(self, context: PipelineContext, stage: Stage) -> None:
        """Raise `CeilingReached` (and write `ceiling_stop.json`) if `stage` could cross."""
        by_kind = usd_by_kind(context.run, context.profile)
        spent = self.spent_elsewhere + sum(value or 0.0 for value in by_kind.values())
        bound = self.stage_bound(stage.name, by_kind)
        if bound == 0.0 or spent + bound <= self.ceiling:
            return
        names = [each.name for each in context.stages]
        left = {name: self.stage_bound(name, by_kind) for name in names[names.index(stage.name) :]}
        stop = {
            "ceiling_usd": self.ceiling,
            "spent_usd": spent,
            "stopped_before": stage.name,
            "stage_bound_usd": bound,
            "left_usd_by_stage": left,
            "left_usd": sum(left.values()),
        }
        path = context.run.root / CEILING_STOP_FILE
        atomic_write_text(path, json.dumps(stop, indent=2) + "\n")
        todo = ", ".join(f"{name} ≤ {dollars(value)}" for name, value in left.items() if value)
        raise CeilingReached(
            f"cost ceiling {dollars(self.ceiling)}: spent {dollars(spent)}; stage {stage.name} "
            f"could spend up to {dollars(bound)} more, so it was not started. Left to do: "
            f"{todo} (in {path}). Run again with a higher --max-cost to resume: finished calls "
            "are cached and not paid again."
        )

    def finished(self, context: PipelineContext) -> None:
        """Remove a `ceiling_stop.json` left by an earlier stop once the run has finished."""
        (context.run.root / CEILING_STOP_FILE).unlink(missing_ok=True)
