"""LoRA / QLoRA fine-tuning of the small model on chat examples (docs/design.md §1, §2, §5).

One function, :func:`train_lora_adapter`, trains an adapter with peft + `transformers.Trainer`
and saves it atomically. The saved adapter folder names the base model by its absolute path,
so `AutoModelForCausalLM.from_pretrained(adapter_dir)` (what inspect's `hf/` provider does with
`model_path=<adapter dir>` and `tokenizer_path=<base dir>`) loads base + adapter offline.

Each example is a chat prompt (system/user messages) and the assistant reply to learn. The
prompt is rendered with the base tokenizer's chat template (with the assistant header), the
target and an end-of-sequence token follow; the loss covers only the target tokens.
"""

import gc
import importlib.util
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from prefbench.core.atomic import atomic_directory
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.quiet import quiet_transformers

IGNORE_INDEX = -100
"""Label of tokens that carry no loss (prompt and padding); the value torch's loss skips."""

QUANTIZATIONS = ("none", "nf4")
CHAT_ROLES = ("system", "user", "assistant")
GPU_EXTRA_INSTALL = "pip install 'prefbench[gpu]'"

_INT_RANGES: dict[str, tuple[int, int]] = {
    "rank": (1, 4096),
    "alpha": (1, 16384),
    "max_steps": (1, 1_000_000),
    "batch_size": (1, 4096),
    "max_seq_len": (16, 1_048_576),
    "seed": (0, 2**32 - 1),
}


@dataclass(frozen=True)
class LoraSettings:
    """Hyperparameters of one LoRA training run; validated on creation.

    `target_modules` is peft's `"all-linear"` (every linear layer but the output head) or a
    tuple of module names such as `("q_proj", "v_proj")`. `quantization="nf4"` is QLoRA: the
    base is loaded in 4-bit NF4 through bitsandbytes (install `prefbench[gpu]`), with gradient
    checkpointing and, on CUDA, a paged 8-bit AdamW. The defaults suit the CPU demo.
    """

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"
    learning_rate: float = 3e-4
    max_steps: int = 4
    batch_size: int = 4
    max_seq_len: int = 384
    seed: int = 0
    quantization: Literal["none", "nf4"] = "none"

    def __post_init__(self) -> None:
        for name, (low, high) in _INT_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"LoRA {name}={value!r}: must be an integer in [{low}, {high}]")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float):
            raise ValueError(f"LoRA dropout={self.dropout!r}: must be a number in [0, 1)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout={self.dropout!r}: must be in [0, 1)")
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not 0.0 < lr <= 1.0:
            raise ValueError(f"LoRA learning_rate={lr!r}: must be a number in (0, 1]")
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(
                f"LoRA quantization={self.quantization!r}: "
                f"must be one of {', '.join(QUANTIZATIONS)}"
            )
        modules = self.target_modules
        if isinstance(modules, list):  # e.g. from YAML; keep the dataclass hashable
            modules = tuple(modules)
            object.__setattr__(self, "target_modules", modules)
        if isinstance(modules, str):
            if modules != "all-linear":
                raise ValueError(
                    f"LoRA target_modules={modules!r}: must be 'all-linear' or a list of "
                    "module names such as ['q_proj', 'v_proj']"
                )
        elif not (
            isinstance(modules, tuple)
            and modules
            and all(isinstance(name, str) and name for name in modules)
        ):
            raise ValueError(
                f"LoRA target_modules={modules!r}: must be 'all-linear' or a non-empty list of "
                "module names such as ['q_proj', 'v_proj']"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON-ready values (module names as a list)."""
        values = asdict(self)
        if isinstance(self.target_modules, tuple):
            values["target_modules"] = list(self.target_modules)
        return values


@dataclass(frozen=True)
class TrainingExample:
    """One chat example: the prompt messages and the assistant reply the adapter should learn.

    `prompt` is a list of `{"role": "system" | "user" | "assistant", "content": str}` messages
    (the model's chat template renders them); `target` must not be empty.
    """

    prompt: list[dict[str, str]]
    target: str

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, list) or not self.prompt:
            raise ValueError("TrainingExample.prompt must be a non-empty list of chat messages")
        for index, message in enumerate(self.prompt):
            if (
                not isinstance(message, dict)
                or message.get("role") not in CHAT_ROLES
                or not isinstance(message.get("content"), str)
            ):
                raise ValueError(
                    f"TrainingExample.prompt[{index}]={message!r}: must be "
                    f"{{'role': one of {', '.join(CHAT_ROLES)}, 'content': str}}"
                )
        if not isinstance(self.target, str) or not self.target.strip():
            raise ValueError("TrainingExample.target must be a non-empty string")


StepCallback = Callable[[int, int, float], None]
"""`on_step(step, max_steps, loss)`, called after each optimizer step."""


@dataclass(frozen=True)
class Checkpointing:
    """Save the training state every `every` steps into `folder`, and resume from there.

    Each save is a `checkpoint-STEP` folder written by `transformers.Trainer` (adapter weights,
    optimizer, scheduler, RNG states, trainer state with the losses so far). A run that finds a
    complete one resumes from the latest: its steps, losses and final adapter equal an
    uninterrupted run's (up to floating-point noise).
    """

    folder: Path
    every: int

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"checkpoint every={self.every!r}: must be an integer >= 1")


@dataclass(frozen=True)
class TrainingResult:
    """What a training run did: per-step losses, steps, wall seconds, trainable parameters.

    `resumed_from_step` is the checkpoint step it started from (0: from scratch), so this run
    trained `steps - resumed_from_step` steps; `device` is "cuda" or "cpu".
    """

    losses: list[float]
    steps: int
    seconds: float
    trainable_parameters: int
    resumed_from_step: int = 0
    device: str = "cpu"


def nf4_quantization_config(cuda: bool) -> Any:
    """Return the `BitsAndBytesConfig` for QLoRA: 4-bit NF4 weights, double quantization.

    Compute runs in bfloat16 on CUDA and in float32 on CPU (bf16 compute is unusably slow
    there). Building the config does not need bitsandbytes; loading a model with it does.
    """
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.bfloat16 if cuda else torch.float32,
        bnb_4bit_use_double_quant=True,
    )


def checkpointing_arguments(enabled: bool) -> dict[str, Any]:
    """Activation checkpointing arguments, named as the installed `TrainingArguments` names them.

    Newer transformers renamed `gradient_checkpointing` / `gradient_checkpointing_kwargs` to
    `activation_checkpointing` / `activation_checkpointing_kwargs` (the old names stay as
    deprecated aliases until 6); vLLM's pins put transformers 5.20 into the `gpu` extra, which
    knows only the old names. The names are read from the installed `TrainingArguments`, so
    both work (`tests/test_gpu_extra.py` builds the arguments under the extra's version).
    Checkpointing is non-reentrant, as QLoRA's base is prepared
    (`prepare_model_for_kbit_training`).
    """
    from transformers import TrainingArguments

    known = {field.name for field in fields(TrainingArguments)}
    name = "activation_checkpointing"
    if name not in known:
        name = "gradient_checkpointing"
    return {name: enabled, f"{name}_kwargs": {"use_reentrant": False} if enabled else None}


def training_arguments(settings: LoraSettings, cuda: bool, saving: dict[str, Any]) -> Any:
    """The `transformers.TrainingArguments` of one adapter's training run.

    `saving` holds the output folder and save strategy (`output_dir`, `save_strategy`, ...).
    QLoRA (`quantization="nf4"`) checkpoints activations and, on CUDA, uses bitsandbytes'
    paged 8-bit AdamW; NF4 on a CPU (bitsandbytes runs there) uses plain AdamW. Works with
    every transformers the project installs, the `gpu` extra's included
    (`checkpointing_arguments`).
    """
    from transformers import TrainingArguments

    nf4 = settings.quantization == "nf4"
    return TrainingArguments(
        **saving,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        logging_steps=1,
        report_to="none",
        use_cpu=not cuda,
        bf16=False,
        seed=settings.seed,
        data_seed=settings.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
        disable_tqdm=True,
        remove_unused_columns=False,
        optim="paged_adamw_8bit" if nf4 and cuda else "adamw_torch",
        **checkpointing_arguments(nf4),
    )


def tokenize_example(
    tokenizer: Any, example: TrainingExample, max_seq_len: int
) -> dict[str, list[int]]:
    """Tokenize one example into `input_ids`, `attention_mask` and `labels`.

    The prompt part is the chat template with the assistant header; the target and the
    tokenizer's end-of-sequence token follow. Labels are `IGNORE_INDEX` on the prompt. When
    the whole is longer than `max_seq_len`, the target keeps its start (its end is cut only
    if it alone is longer than half the budget and the prompt does not leave room) and the
    prompt loses its oldest tokens, so the assistant header right before the target stays.
    """
    prompt_ids = _as_ids(
        tokenizer.apply_chat_template(example.prompt, add_generation_prompt=True, tokenize=True)
    )
    target_ids = list(tokenizer(example.target, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        target_ids.append(tokenizer.eos_token_id)
    overflow = len(prompt_ids) + len(target_ids) - max_seq_len
    if overflow > 0:
        target_budget = max(max_seq_len - len(prompt_ids), min(len(target_ids), max_seq_len // 2))
        target_ids = target_ids[:target_budget]
        prompt_ids = prompt_ids[len(prompt_ids) - (max_seq_len - len(target_ids)) :]
    input_ids = prompt_ids + target_ids
    return {
        "input_ids": input_ids,
        "attention_mask": [1] * len(input_ids),
        "labels": [IGNORE_INDEX] * len(prompt_ids) + target_ids,
    }


@dataclass
class LoadedBase:
    """A base model loaded for training and its tokenizer, reused for adapter after adapter.

    `model` is the plain transformers model (prepared for k-bit training when `quantization`
    is "nf4"); each training run wraps it with a fresh LoRA and unwraps it afterwards.
    """

    directory: Path
    quantization: str
    tokenizer: Any
    model: Any
    cuda: bool


def load_training_base(base_model_dir: Path, quantization: str = "none") -> LoadedBase:
    """Load the base model and tokenizer of `base_model_dir` for LoRA training.

    Raises `PrefbenchInputError` when `base_model_dir` is no model folder or NF4 is asked for
    without bitsandbytes.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_model_dir = Path(base_model_dir).expanduser().resolve()
    if not (base_model_dir / "config.json").is_file():
        raise PrefbenchInputError(
            f"{base_model_dir} is not a Hugging Face model folder (no config.json). Pass the "
            "base model's local folder, e.g. the one "
            "prefbench.core.offline_models.smollm2_dir() returns."
        )
    nf4 = quantization == "nf4"
    if nf4 and importlib.util.find_spec("bitsandbytes") is None:
        raise PrefbenchInputError(
            "LoRA quantization 'nf4' (QLoRA) needs bitsandbytes, which is not installed. "
            f"Install the GPU extra with `{GPU_EXTRA_INSTALL}`, or set quantization: none."
        )
    cuda = torch.cuda.is_available()
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if nf4:
            from peft import prepare_model_for_kbit_training

            model = AutoModelForCausalLM.from_pretrained(
                base_model_dir,
                quantization_config=nf4_quantization_config(cuda),
                dtype=torch.bfloat16 if cuda else torch.float32,
                device_map={"": 0} if cuda else {"": "cpu"},
            )
            model = prepare_model_for_kbit_training(
                model,
                use_gradient_checkpointing=True,
                gradient_checkpointing_kwargs={"use_reentrant": False},
            )
        else:
            model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=torch.float32)
    model.config.use_cache = False
    return LoadedBase(base_model_dir, quantization, tokenizer, model, cuda)


def adapter_save_dtype(base: LoadedBase) -> Any:
    """The dtype adapters are saved in: the training compute dtype.

    bfloat16 for QLoRA on CUDA (its compute dtype); otherwise float32, which is what the
    CPU trains and generates in (saving bf16 there would change the adapters' outputs).
    """
    import torch

    return torch.bfloat16 if base.quantization == "nf4" and base.cuda else torch.float32


class SharedBaseTrainer:
    """An `AdapterTrainer` that loads a base model once and trains adapter after adapter on it.

    Call it like `train_lora_adapter`; a different base folder or quantization replaces the
    loaded base. `close()` frees it. Each adapter equals the one a fresh load would train.
    """

    def __init__(self) -> None:
        self._loaded: LoadedBase | None = None

    def __call__(
        self,
        base_model_dir: Path,
        examples: Sequence[TrainingExample],
        settings: LoraSettings,
        adapter_dir: Path,
        on_step: StepCallback | None = None,
        checkpoints: Checkpointing | None = None,
    ) -> TrainingResult:
        """Train one adapter on the loaded base (loading it first if needed)."""
        directory = Path(base_model_dir).expanduser().resolve()
        loaded = self._loaded
        if loaded is None or (loaded.directory, loaded.quantization) != (
            directory,
            settings.quantization,
        ):
            self.close()
            self._loaded = load_training_base(directory, settings.quantization)
        try:
            return train_lora_adapter(
                directory,
                examples,
                settings,
                adapter_dir,
                on_step,
                base=self._loaded,
                checkpoints=checkpoints,
            )
        except BaseException:
            self.close()  # a failed run may leave the base wrapped: load it afresh next time
            raise

    def close(self) -> None:
        """Free the loaded base model (nothing to do when none is loaded)."""
        if self._loaded is None:
            return
        self._loaded = None
        _free_memory()


def train_lora_adapter(
    base_model_dir: Path,
    examples: Sequence[TrainingExample],
    settings: LoraSettings,
    adapter_dir: Path,
    on_step: StepCallback | None = None,
    base: LoadedBase | None = None,
    checkpoints: Checkpointing | None = None,
) -> TrainingResult:
    """Train a LoRA adapter of `base_model_dir` on `examples` and save it to `adapter_dir`.

    `base_model_dir` is a local Hugging Face folder (config, weights, tokenizer with a chat
    template), e.g. `prefbench.core.offline_models.smollm2_dir()`. Training runs
    `settings.max_steps` optimizer steps of `settings.batch_size` examples (cycling over the
    examples as needed) in a seeded, reproducible order, on CUDA when available, else on the CPU.
    `on_step(step, max_steps, loss)` is called after every step (e.g. to drive a progress bar); an
    exception it raises, Ctrl-C included, stops training.

    `base`, when given, is that folder already loaded (`load_training_base`, as
    `SharedBaseTrainer` keeps it): the run wraps it with a fresh LoRA, seeded as a fresh load
    would be, and unwraps it afterwards, so the adapter is the same either way.

    The adapter (`adapter_config.json`, `adapter_model.safetensors` in the training compute
    dtype (`adapter_save_dtype`), with `base_model_name_or_path` = the absolute
    `base_model_dir`) is written atomically: a failed or interrupted run leaves `adapter_dir`
    as it was (absent if it was absent); an existing adapter is replaced only by a complete
    new one.

    `checkpoints`, when given, saves the training state every `checkpoints.every` steps into
    `checkpoints.folder` and first resumes from the latest complete checkpoint there (a killed
    run loses at most that many steps); the caller removes the folder once the adapter is
    installed. The checkpoints never change the adapter.

    Raises `PrefbenchInputError` when `base_model_dir` is no model folder or NF4 is asked for
    without bitsandbytes; `ValueError` when `examples` is empty.
    """
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    if not examples:
        raise ValueError("train_lora_adapter needs at least one TrainingExample")
    adapter_dir = Path(adapter_dir)
    owned = base is None
    if base is None:
        base = load_training_base(base_model_dir, settings.quantization)
    elif base.quantization != settings.quantization:
        raise ValueError(
            f"the loaded base is quantized '{base.quantization}', the settings ask for "
            f"'{settings.quantization}'; load the base with the settings' quantization"
        )
    cuda = base.cuda

    model: Any = None
    trainer: Any = None
    try:
        with quiet_transformers(), tempfile.TemporaryDirectory(prefix="prefbench-lora-") as work:
            resume_from = None
            if checkpoints is not None:
                Path(checkpoints.folder).mkdir(parents=True, exist_ok=True)
                resume_from = last_complete_checkpoint(checkpoints.folder)
            features = [
                tokenize_example(base.tokenizer, ex, settings.max_seq_len) for ex in examples
            ]
            transformers.set_seed(settings.seed)
            target_modules = settings.target_modules
            model = get_peft_model(
                base.model,
                LoraConfig(
                    r=settings.rank,
                    lora_alpha=settings.alpha,
                    lora_dropout=settings.dropout,
                    target_modules=(
                        target_modules if isinstance(target_modules, str) else list(target_modules)
                    ),
                    task_type="CAUSAL_LM",
                ),
            )
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

            saving: dict[str, Any] = {"output_dir": work, "save_strategy": "no"}
            if checkpoints is not None:
                saving = {
                    "output_dir": str(checkpoints.folder),
                    "save_strategy": "steps",
                    "save_steps": checkpoints.every,
                    "save_total_limit": 1,
                }
            args = training_arguments(settings, cuda=cuda, saving=saving)
            trainer = Trainer(
                model=model,
                args=args,
                train_dataset=features,
                data_collator=DataCollatorForSeq2Seq(
                    base.tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX
                ),
                callbacks=[_step_callback(settings.max_steps, on_step)],
            )
            for noisy in (PrinterCallback, ProgressCallback):
                trainer.remove_callback(noisy)

            started = time.perf_counter()
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
            seconds = time.perf_counter() - started
            losses = [
                float(entry["loss"]) for entry in trainer.state.log_history if "loss" in entry
            ]
            steps = int(trainer.state.global_step)

            for config in model.peft_config.values():
                config.base_model_name_or_path = str(base.directory)
            save_dtype = adapter_save_dtype(base)
            for parameter in model.parameters():
                if parameter.requires_grad:
                    parameter.data = parameter.data.to(save_dtype)
            with atomic_directory(adapter_dir) as staging:
                model.save_pretrained(staging)
                # peft's model card is an empty template; the run's manifest is the record.
                (staging / "README.md").unlink(missing_ok=True)
    finally:
        if model is not None and not owned:
            with quiet_transformers():
                model.unload()  # the loaded base is the plain model again, for the next adapter
        del trainer, model
        if owned:
            del base
        if owned or cuda:  # a shared CPU base: the caller collects once per adapter
            _free_memory()
    return TrainingResult(
        losses=losses,
        steps=steps,
        seconds=seconds,
        trainable_parameters=trainable,
        resumed_from_step=checkpoint_step(resume_from) if resume_from else 0,
        device="cuda" if cuda else "cpu",
    )


CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE_FILE = "trainer_state.json"
"""Written last into a checkpoint by `transformers.Trainer`: a checkpoint without a readable
one was cut off by a kill and is skipped."""


def checkpoint_step(checkpoint: Path) -> int:
    """The training step a `checkpoint-STEP` folder was saved at."""
    return int(Path(checkpoint).name.removeprefix(CHECKPOINT_PREFIX))


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The latest `checkpoint-STEP` in `folder` whose trainer state reads back, or None.

    A checkpoint cut off by a kill (no or a truncated `trainer_state.json`) is removed, so
    that the Trainer's rotation of old checkpoints never counts it.
    """
    candidates = [
        path
        for path in Path(folder).glob(f"{CHECKPOINT_PREFIX}*")
        if path.is_dir() and path.name.removeprefix(CHECKPOINT_PREFIX).isdigit()
    ]
    for checkpoint in sorted(candidates, key=checkpoint_step, reverse=True):
        try:
            json.loads((checkpoint / TRAINER_STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            shutil.rmtree(checkpoint, ignore_errors=True)
            continue
        return checkpoint
    return None


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _as_ids(encoded: Any) -> list[int]:
    """Token ids from `apply_chat_template`, which returns a list or a BatchEncoding."""
    if hasattr(encoded, "keys") and "input_ids" in encoded:
        encoded = encoded["input_ids"]
    return [int(token) for token in encoded]


def _step_callback(max_steps: int, on_step: StepCallback | None) -> Any:
    """A `TrainerCallback` reporting `(step, max_steps, loss)` after each logged step."""
    from transformers import TrainerCallback

    class StepCallback(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if on_step is not None and logs and "loss" in logs:
                on_step(int(state.global_step), max_steps, float(logs["loss"]))

    return StepCallback()
