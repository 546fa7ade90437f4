"""Train one LoRA adapter on a tiny random Llama with whatever transformers is importable.

`tests/test_gpu_extra.py` runs this module in a subprocess whose `sys.path` starts with a
folder holding the `gpu` extra's transformers, so the trainer
(`prefbench.solvers.training.lora`) is exercised against the version a GPU user installs: its
`TrainingArguments` for QLoRA on CUDA are built, and an adapter is trained (2 steps, CPU) and
saved. Prints one JSON line: the transformers version and what was checked.
"""

import json
import sys
import tempfile
from pathlib import Path

WORDS = ["<pad>", "<eos>", "<unk>", "system", "user", "assistant", ":", "write", "an", "email"]
WORDS += ["hello", "team", "lunch", "is", "at", "noon", "cheers", "ava"]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)


def tiny_model(folder: Path) -> None:
    """A one-layer random Llama and a word-level tokenizer with a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocabulary = {word: index for index, word in enumerate(WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(WORDS),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        pad_token_id=0,
        eos_token_id=1,
    )
    LlamaForCausalLM(config).save_pretrained(folder)


def main() -> None:
    """Build QLoRA's CUDA arguments, train and save one adapter; print what was checked."""
    import transformers

    from prefbench.solvers.training.lora import (
        LoraSettings,
        TrainingExample,
        train_lora_adapter,
        training_arguments,
    )

    qlora = LoraSettings(rank=256, alpha=256, batch_size=1, max_steps=200, quantization="nf4")
    with tempfile.TemporaryDirectory() as work:
        arguments = training_arguments(qlora, cuda=True, saving={"output_dir": work})
        checkpointing = bool(
            getattr(arguments, "activation_checkpointing", None)
            or getattr(arguments, "gradient_checkpointing", None)
        )
        base = Path(work) / "base"
        tiny_model(base)
        example = TrainingExample(
            prompt=[{"role": "user", "content": "write an email"}],
            target="hello team lunch is at noon cheers ava",
        )
        settings = LoraSettings(rank=4, alpha=8, max_steps=2, batch_size=1, max_seq_len=32)
        result = train_lora_adapter(base, [example], settings, Path(work) / "adapter")
        saved = (Path(work) / "adapter" / "adapter_config.json").is_file()
    print(
        json.dumps(
            {
                "transformers": transformers.__version__,
                "transformers_file": transformers.__file__,
                "optim": str(arguments.optim),
                "checkpointing": checkpointing,
                "steps": result.steps,
                "adapter_saved": saved,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
