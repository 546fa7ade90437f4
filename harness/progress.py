"""One progress line per pipeline stage: stage i/N, time elapsed and an ETA; and its timings.

`StageProgress` is told when each stage of a run starts and ends (`prefbench.harness.pipeline.
run_benchmark`). At each start it prints `stage 3/8 generation · elapsed 1:02 · ETA 4:10`.
The ETA comes from the run's forecast (`forecast.json`) when there is one: the tokens the
stages left will send, at the tokens per second of the stages done (each stage weighs at
least one token, so stages without model calls count too); without a forecast, from the
stages done: their mean time × the stages left. At each end it adds the stage's wall and CPU
seconds and its GPUs to `stage_seconds.json`
(`prefbench.harness.cost.forecast.record_stage_seconds`).
"""

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefbench.harness.cost.forecast import record_stage_seconds, stage_devices, stage_forecast
from prefbench.harness.profile import Profile, trains_adapters


def clock(seconds: float) -> str:
    """`h:mm:ss` or `m:ss`."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass
class StageProgress:
    """Progress and timings of one invocation of a run over `stages` (names, in order)."""

    run_root: Path
    profile: Profile
    stages: Sequence[str]
    forecast: dict[str, Any] | None
    announce: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    done_seconds: list[float] = field(default_factory=list)
    _stage_started: float = 0.0
    _cpu_started: float = 0.0

    def weight(self, stage: str) -> int:
        """A stage's share of the work: its forecast tokens (at least 1)."""
        planned = stage_forecast(self.forecast, stage)
        return max(1, int(planned["input_tokens"]) + int(planned["output_tokens"]))

    def eta_seconds(self, index: int) -> float | None:
        """Seconds left before stage `index` (0-based) starts; None before any stage ended."""
        elapsed = sum(self.done_seconds)
        if not self.done_seconds or elapsed <= 0:
            return None
        if self.forecast is None:
            return elapsed / len(self.done_seconds) * (len(self.stages) - index)
        done = sum(self.weight(stage) for stage in self.stages[:index])
        left = sum(self.weight(stage) for stage in self.stages[index:])
        return left * elapsed / done

    def line(self, index: int) -> str:
        """The progress line printed when stage `index` starts."""
        eta = self.eta_seconds(index)
        basis = "forecast tokens" if self.forecast is not None else "stages done"
        eta_text = "ETA –" if eta is None else f"ETA {clock(eta)} (from {basis})"
        return (
            f"[bold]stage {index + 1}/{len(self.stages)} {self.stages[index]}[/bold] · "
            f"elapsed {clock(time.monotonic() - self.started)} · {eta_text}"
        )

    def stage_started(self, index: int) -> None:
        """Print the progress line and start the stage's clocks."""
        self.announce(self.line(index))
        self._stage_started = time.monotonic()
        self._cpu_started = _cpu_seconds()

    def stage_ended(self, index: int, held_devices: set[int] | None = None) -> None:
        """Add the stage's seconds and GPUs to `stage_seconds.json`.

        The GPUs are those the stage's own roles own (the forecast's roles of the stage, else
        every role: an upper bound) and whatever the run's models hold at its end
        (`held_devices`: servers stay up from the stage that started them to the end of the run,
        so they count in every later stage too).
        """
        stage = self.stages[index]
        wall = time.monotonic() - self._stage_started
        self.done_seconds.append(wall)
        if self.forecast is not None:  # the roles the stage calls, and whether it trains
            planned = stage_forecast(self.forecast, stage)
            roles, trains = planned["roles"], bool(planned.get("training_jobs"))
        else:  # every role's GPUs: an upper bound
            roles, trains = list(self.profile.roles), trains_adapters(self.profile)
        gpus = stage_devices(self.profile, roles, trains) | (held_devices or set())
        cpu = _cpu_seconds() - self._cpu_started
        record_stage_seconds(self.run_root, stage, wall, cpu, len(gpus))
