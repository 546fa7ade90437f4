"""The dry run's GPU-hours forecast: how long each stage would hold how many GPUs.

It turns a plan (`prefbench.harness.cost.plan.PlanRow`s) into time with the profile's
`throughput` assumption (`prefbench.harness.profile.ThroughputSettings`, whose defaults and
their sources are documented there and in docs/cost.md):

- a stage's time: for each role it calls, its output tokens at the role's output rate plus its
  input tokens at its input rate (retries included: the upper bound), summed over the roles
  (calls of different roles are taken to run one after another, the cautious choice); a
  hosted role (no `devices`) at `hosted_output_tokens_per_second`; plus, in the build stage,
  the adapters' optimizer steps at `training_seconds_per_step`. A model of P billion
  parameters on G GPUs runs at the reference rate × reference size / P × G;
- the GPUs it holds: a `vllm/` server (roles with `devices`, one server per distinct model)
  from the first stage that calls one of its roles to the end of the run, since servers stay
  up; an `hf/` model on a GPU in the stages that call it; adapter training's GPU
  (`TRAINING_DEVICE`) in the stage that trains.

Local work (similarity metrics, the report) has no estimate and counts 0 s, although the
servers are held meanwhile. A profile whose roles own no GPU gets no forecast.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from prefbench.harness.cost.plan import PlanRow
from prefbench.harness.profile import Profile, trains_adapters
from prefbench.harness.serving.placement import TRAINING, gpu_plan

HOSTED_OUTPUT_TOKENS_PER_SECOND = 2000.0
"""A hosted model's output rate: about 64 concurrent calls at ~30 tokens/s (an assumption)."""
_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", re.IGNORECASE)


def model_billions(profile: Profile, role: str) -> float | None:
    """A role's model size in billions of parameters, None when unknown.

    `throughput.model_billions` of the role, else the size its name states
    (`Meta-Llama-3-8B-Instruct` → 8, `SmolLM2-135M` → 0.135).
    """
    stated = profile.throughput.model_billions.get(role)
    if stated is not None:
        return stated
    name = profile.roles[role].model.rsplit("/", 1)[-1]
    found = _SIZE.findall(name)
    if not found:
        return None
    number, unit = found[-1]
    return float(number) / (1000 if unit.lower() == "m" else 1)


@dataclass(frozen=True)
class StageGpuForecast:
    """One pipeline stage: its estimated seconds, the GPUs held meanwhile and GPU-hours.

    `held` names who holds them: the roles of a server or GPU model (`large`, `small+large`
    for roles sharing one), and `training` (adapter training's GPU).
    """

    stage: str
    seconds: float
    gpus: int
    gpu_hours: float
    held: tuple[str, ...]


@dataclass(frozen=True)
class _Holder:
    name: str
    roles: tuple[str, ...]
    devices: frozenset[int]
    server: bool


def _holders(profile: Profile) -> list[_Holder]:
    """Who owns GPUs: each server or GPU model (with its roles), and adapter training."""
    devices: dict[str, set[int]] = {}
    providers: dict[str, str] = {}
    for use in gpu_plan(profile.roles, trains_adapters(profile)):
        devices.setdefault(use.owner, set()).add(use.device)
        providers[use.owner] = use.provider
    holders = []
    for owner, owned in devices.items():
        roles = () if owner == TRAINING else tuple(owner.removeprefix("role ").split(" + "))
        name = "training" if not roles else "+".join(roles)
        holders.append(_Holder(name, roles, frozenset(owned), providers[owner] == "vllm"))
    return holders


def _role_seconds(profile: Profile, role: str, rows: Sequence[PlanRow]) -> float:
    """Seconds the role's calls of some rows take at the assumed rates."""
    mine = [row for row in rows if row.role == role]
    output = sum(row.output_tokens + row.retry_output_tokens for row in mine)
    inputs = sum(row.input_tokens + row.retry_input_tokens for row in mine)
    settings = profile.throughput
    devices = profile.roles[role].devices
    if not devices:
        return output / HOSTED_OUTPUT_TOKENS_PER_SECOND
    size = model_billions(profile, role) or settings.reference_billions
    scale = settings.reference_billions / size * len(devices)

    return output / (settings.output_tokens_per_second * scale) + inputs / (
        settings.input_tokens_per_second * scale
    )


def gpu_forecast(
    rows: Sequence[PlanRow], profile: Profile, stages: Sequence[str]
) -> list[StageGpuForecast]:
    """The forecast per pipeline stage, in `stages`' order (see the module docstring)."""
    holders = _holders(profile)
    if not holders:
        return []
    small = model_billions(profile, "small") or profile.throughput.reference_billions
    step_seconds = (
        profile.throughput.training_seconds_per_step * small / profile.throughput.reference_billions
    )
    started: set[str] = set()
    forecasts = []
    for stage in stages:
        stage_rows = [row for row in rows if (row.pipeline_stage or row.stage) == stage]
        called = {str(row.role) for row in stage_rows if row.calls or row.retry_calls}
        steps = sum(row.training_steps for row in stage_rows if row.training_jobs)
        seconds = sum(_role_seconds(profile, role, stage_rows) for role in sorted(called))
        seconds += steps * step_seconds
        held = []
        for holder in holders:
            uses = bool(called & set(holder.roles)) if holder.roles else steps > 0
            if holder.server and uses:
                started.add(holder.name)
            if uses or holder.name in started:
                held.append(holder)
        gpus = len(set().union(*(holder.devices for holder in held))) if held else 0
        forecasts.append(
            StageGpuForecast(
                stage=stage,
                seconds=seconds,
                gpus=gpus,
                gpu_hours=seconds * gpus / 3600,
                held=tuple(holder.name for holder in held),
            )
        )
    return forecasts
