"""How a vLLM server that serves the small model's adapters starts: flags, slots, memory.

vLLM serves LoRA adapters only when started with `--enable-lora`; it takes an adapter whose
rank is at most `--max-lora-rank` (default 16, one of `VLLM_LORA_RANKS`); and it registers
`/v1/load_lora_adapter`, through which inspect loads each user's adapter at run time, only
when `RUNTIME_LORA_VARIABLE` is set in the server's environment. inspect sets the flags and the
variable only when an adapter model already exists when the server starts, which depends on
the order of the first calls, and never when the server first starts for a role that serves
no adapter (one `vllm/` model as both `small` and `large` starts in the intents stage).
prefbench decides them from the profile instead (`prefbench.harness.serving.models.ModelPool`).

Slots (`plan_lora_slots`): vLLM allocates, when it starts, `max_loras` GPU slots, each
holding an adapter of rank `max_lora_rank` for every linear layer of the model
(`lora_a` of rank × input and `lora_b` of output × rank, in the model's dtype); `max_loras`
is how many adapters one batch may use. `max_cpu_loras` adapters stay in CPU memory; an
adapter beyond them is read from disk again each time a request needs it. One eval uses
every adapter system's adapters of every user at once (the generation stage runs all
systems as one eval), so `max_cpu_loras` is that count; `max_loras` is that count too, at
most `LORA_SLOTS_CAP` and at most what fits in `LORA_SLOTS_BUDGET_GIB` of GPU memory (at
r = 256 one slot of Llama-3-8B takes 1.25 GiB: 75 slots would not fit an 80 GB GPU), or
`UNKNOWN_MEMORY_SLOTS` when the model's config is not on disk. Values the role's
`model_args` state win, except a `max_lora_rank` below the trained rank.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prefbench.core.errors import PrefbenchInputError

VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM accepts for `--max-lora-rank` (`vllm.config.lora.MaxLoRARanks`)."""
RUNTIME_LORA_VARIABLE = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"
"""The server environment variable that makes vLLM register `/v1/load_lora_adapter`."""
LORA_SLOTS_CAP = 64
"""The most adapters one vLLM batch holds by default (`max_loras`), whatever the users."""
UNKNOWN_MEMORY_SLOTS = 8
"""`max_loras` when a slot's memory is unknown (no config.json on disk): 10 GiB at r = 256 on
Llama-3-8B, where 64 slots would not fit an 80 GB GPU."""
LORA_SLOTS_BUDGET_GIB = 16.0
"""The GPU memory the adapter slots may take by default (of the server's
`gpu_memory_utilization` share; the rest holds the weights and the KV cache)."""
GIB = 1024**3
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def vllm_lora_rank(rank: int) -> int:
    """The smallest `--max-lora-rank` vLLM accepts that holds adapters of `rank`.

    Raises `PrefbenchInputError` when `rank` is above vLLM's largest (512).
    """
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise PrefbenchInputError(
        f"LoRA rank {rank} is above the largest rank vLLM serves ({VLLM_LORA_RANKS[-1]}); "
        f"set training.rank to at most {VLLM_LORA_RANKS[-1]}, or serve role small with hf/"
    )


def lora_width(config: Mapping[str, Any]) -> int | None:
    """Σ (input + output) features of a decoder's linear layers: LoRA parameters per rank.

    Read from a Hugging Face `config.json` of a Llama-like model (`hidden_size`,
    `intermediate_size`, `num_attention_heads`, `num_key_value_heads`, `head_dim`,
    `num_hidden_layers`): q, k, v, o, gate, up and down projections of every layer, the
    layers vLLM gives LoRA slots. None when the config lacks these fields.
    """
    try:
        hidden = int(config["hidden_size"])
        intermediate = int(config["intermediate_size"])
        heads = int(config["num_attention_heads"])
        layers = int(config["num_hidden_layers"])
    except (KeyError, TypeError, ValueError):
        return None
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or hidden // heads)
    query, key_value = heads * head_dim, kv_heads * head_dim
    attention = (hidden + query) + 2 * (hidden + key_value) + (query + hidden)
    mlp = 3 * (hidden + intermediate)
    return layers * (attention + mlp)


def dtype_bytes(config: Mapping[str, Any]) -> int:
    """Bytes per parameter of the model's dtype (`dtype` or `torch_dtype`; bf16 if unstated)."""
    dtype = str(config.get("dtype") or config.get("torch_dtype") or "bfloat16")
    return DTYPE_BYTES.get(dtype.removeprefix("torch."), 2)


@dataclass(frozen=True)
class LoraSlots:
    """The LoRA settings of one vLLM server and the memory they take.

    `adapters` is how many adapters one eval uses at once; `slot_bytes` the GPU memory of one
    slot (rank `max_lora_rank`) and `adapter_bytes` of one trained adapter (rank `rank`) in
    CPU memory, None when the model's config is not on disk.
    """

    rank: int
    max_lora_rank: int
    adapters: int
    max_loras: int
    max_cpu_loras: int
    slot_bytes: int | None
    adapter_bytes: int | None

    def server_args(self) -> dict[str, Any]:
        """The `vllm serve` arguments, as inspect's `vllm/` model args."""
        return {
            "enable_lora": True,
            "max_lora_rank": self.max_lora_rank,
            "max_loras": self.max_loras,
            "max_cpu_loras": self.max_cpu_loras,
        }

    @property
    def gpu_bytes(self) -> int | None:
        """GPU memory of all slots (None: unknown)."""
        return None if self.slot_bytes is None else self.slot_bytes * self.max_loras

    @property
    def cpu_bytes(self) -> int | None:
        """CPU memory of the adapters kept there (None: unknown)."""
        return None if self.adapter_bytes is None else self.adapter_bytes * self.max_cpu_loras

    def describe(self) -> str:
        """One line: the flags, the adapters of one eval and the memory they take."""
        gpu, cpu = self.gpu_bytes, self.cpu_bytes
        memory = (
            f"{gpu / GIB:.1f} GiB of GPU memory, {cpu / GIB:.1f} GiB of CPU memory"
            if gpu is not None and cpu is not None
            else "memory unknown (the model's config.json is not on disk)"
        )
        return (
            f"LoRA: {self.adapters} adapters in one eval (r = {self.rank}); "
            f"--max-lora-rank {self.max_lora_rank} --max-loras {self.max_loras} "
            f"--max-cpu-loras {self.max_cpu_loras}: {memory}"
        )


def plan_lora_slots(
    rank: int,
    adapters: int,
    model_config: Mapping[str, Any] | None,
    given: Mapping[str, Any] | None = None,
    budget_gib: float = LORA_SLOTS_BUDGET_GIB,
) -> LoraSlots:
    """The LoRA settings of a server serving `adapters` adapters of `rank` at once.

    `model_config` is the base model's `config.json` (None when not on disk: the memory is
    unknown and `max_loras` at most `UNKNOWN_MEMORY_SLOTS`); `given` the role's model
    args, whose `max_loras`, `max_cpu_loras` and `max_lora_rank` win (a `max_lora_rank` below
    the trained rank is raised to it, and every rank rounded up to one vLLM accepts).
    """
    given = dict(given or {})
    adapters = max(adapters, 1)
    max_lora_rank = vllm_lora_rank(max(rank, int(given.get("max_lora_rank") or 0)))
    width = lora_width(model_config) if model_config is not None else None
    slot_bytes = adapter_bytes = None
    if width is not None and model_config is not None:
        size = dtype_bytes(model_config)
        slot_bytes, adapter_bytes = width * max_lora_rank * size, width * rank * size
    fitting = UNKNOWN_MEMORY_SLOTS
    if slot_bytes is not None:
        fitting = max(1, min(LORA_SLOTS_CAP, int(budget_gib * GIB // slot_bytes)))
    max_loras = int(given.get("max_loras") or min(adapters, fitting))
    max_cpu_loras = int(given.get("max_cpu_loras") or max(adapters, max_loras))
    return LoraSlots(
        rank=rank,
        max_lora_rank=max_lora_rank,
        adapters=adapters,
        max_loras=max_loras,
        max_cpu_loras=max(max_cpu_loras, max_loras),
        slot_bytes=slot_bytes,
        adapter_bytes=adapter_bytes,
    )
