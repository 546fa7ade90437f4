"""Which GPUs each role's model runs on, and whether the roles fit together.

A role owns GPUs through its `devices` (physical CUDA indices). Roles with the same model,
weights and model args share one server; every other pair of servers is up at the same time
(the rule-following stages call `small` and `large` together, and a run keeps each server
from the first stage that needs it to its end). So on one GPU:

- `vllm/` servers take `gpu_memory_utilization` of it (vLLM's default 0.9): the servers on
  a GPU must sum to at most 1.0;
- an `hf/` model loads into prefbench's own process for one stage at a time: it cannot share
  a GPU with a `vllm/` server, but can with other `hf/` roles;
- adapter training (QLoRA/LoRA of the small model) runs in prefbench's process on the first
  GPU it sees (`TRAINING_DEVICE`) while the `large` server serves the rule distillation: no
  `vllm/` server may own that GPU when the profile trains adapters.

`gpu_plan` lists the owners GPU by GPU (what `prefbench run --dry-run` prints);
`check_placement` raises `PrefbenchInputError` for a profile that cannot fit, naming the GPU,
the roles and the fix. Roles without `devices` are placed by their provider (a `vllm/`
server started without them sees every GPU): once any role says `devices`, every `vllm/`
role must.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prefbench.core.errors import PrefbenchInputError


class PlacedModel(Protocol):
    """What placement reads of a role's spec (`prefbench.harness.profile.ModelSpec` has it)."""

    model: str
    model_args: dict[str, Any]
    weights: str | None
    devices: list[int] | None
    base_url: str | None


Roles = Mapping[str, PlacedModel]

VLLM_DEFAULT_SHARE = 0.9
"""vLLM's default `gpu_memory_utilization`."""
TRAINING_DEVICE = 0
"""The GPU adapter training runs on: the first one prefbench's process sees."""
TRAINING = "adapter training"


@dataclass(frozen=True)
class GpuUse:
    """One user of one GPU: a role's server or in-process model, or adapter training."""

    device: int
    owner: str
    """`role <name>` (several roles sharing one server are listed together) or TRAINING."""
    model: str
    share: float | None
    """The fraction of GPU memory it takes (`vllm/`); None when it has no fixed share."""
    provider: str


def _server_key(spec: PlacedModel) -> str:
    parts = [spec.model, spec.weights, spec.model_args, spec.devices]
    return json.dumps(parts, sort_keys=True, default=str)


def gpu_plan(roles: Roles, trains_adapters: bool) -> list[GpuUse]:
    """Every GPU use of the roles (`harness.profile.ModelSpec` by role), by GPU then owner.

    `trains_adapters`: the profile has systems that train adapters on the GPU.
    """
    servers: dict[str, list[str]] = {}
    for role, spec in roles.items():
        if spec.devices is not None:
            servers.setdefault(_server_key(spec), []).append(role)
    uses = []
    for names in servers.values():
        spec = roles[names[0]]
        provider = spec.model.split("/", 1)[0]
        share = None
        if provider == "vllm":
            share = float(spec.model_args.get("gpu_memory_utilization", VLLM_DEFAULT_SHARE))
        owner = "role " + " + ".join(names)
        for device in spec.devices or []:
            uses.append(GpuUse(device, owner, spec.model, share, provider))
    if trains_adapters and uses:
        small = roles.get("small")
        uses.append(GpuUse(TRAINING_DEVICE, TRAINING, small.model if small else "", None, "hf"))
    return sorted(uses, key=lambda use: (use.device, use.owner))


def check_placement(roles: Roles, trains_adapters: bool, source: object) -> None:
    """Refuse roles whose GPUs cannot hold them together (see the module docstring)."""
    placed = [role for role, spec in roles.items() if spec.devices is not None]
    if placed:
        unplaced = [
            role
            for role, spec in roles.items()
            if spec.devices is None and spec.base_url is None and spec.model.startswith("vllm/")
        ]
        if unplaced:
            raise PrefbenchInputError(
                f"profile {source}: roles {placed} say which GPUs they own but vllm/ role(s) "
                f"{unplaced} do not (their server would see every GPU); set "
                f"roles.{unplaced[0]}.devices"
            )
    by_device: dict[int, list[GpuUse]] = {}
    for use in gpu_plan(roles, trains_adapters):
        by_device.setdefault(use.device, []).append(use)
    for device, uses in sorted(by_device.items()):
        servers = [use for use in uses if use.provider == "vllm"]
        others = [use for use in uses if use.provider != "vllm"]
        if servers and others:
            raise PrefbenchInputError(
                f"profile {source}: GPU {device} is owned by the vLLM server of "
                f"{servers[0].owner} and by {others[0].owner}, which loads into prefbench's "
                f"process while the server holds the GPU; give them different devices"
                + (
                    f" (adapter training uses GPU {TRAINING_DEVICE}: keep vllm/ roles off it)"
                    if others[0].owner == TRAINING
                    else ""
                )
            )
        total = sum(use.share or 0.0 for use in servers)
        if len(servers) > 1 and total > 1.0:
            owners = ", ".join(f"{use.owner} ({use.share:g})" for use in servers)
            raise PrefbenchInputError(
                f"profile {source}: GPU {device} is shared by vLLM servers {owners}, which "
                f"together ask for {total:g} of its memory; give them different devices, or "
                "set model_args.gpu_memory_utilization so that they sum to at most 1"
            )


def plan_lines(roles: Roles, trains_adapters: bool) -> list[str]:
    """The GPU plan as text lines, one per GPU (or one line saying no role owns a GPU)."""
    uses = gpu_plan(roles, trains_adapters)
    if not uses:
        return ["GPU plan: no role says `devices`; each provider places its own model."]
    lines = ["GPU plan (physical CUDA indices):"]
    by_device: dict[int, list[GpuUse]] = {}
    for use in uses:
        by_device.setdefault(use.device, []).append(use)
    for device, device_uses in sorted(by_device.items()):
        owners = "; ".join(
            f"{use.owner}: {use.model}"
            + (f" (gpu_memory_utilization {use.share:g})" if use.share is not None else "")
            for use in device_uses
        )
        lines.append(f"  GPU {device}: {owners}")
    return lines
