"""QLoRA on the paper's M_S architecture: memory and speed of `train_lora_adapter` on a GPU.

Builds a random-weight model of Llama-3-8B-Instruct's architecture (no weights are
downloaded: the config's dimensions are written below), trains the paper's adapter (NF4
base, LoRA r = alpha = 256 on all linear layers, batch 1) for a few steps of full-length
examples through prefbench's own `train_lora_adapter`, then loads base + adapter the way
inspect's `hf/` provider does (`from_pretrained(adapter_dir)`) and generates a few tokens.

Prints peak GPU memory against the bf16 weights' size (a ratio measured in this run),
seconds per step and trainable parameters. Needs CUDA, bitsandbytes and a tokenizer folder
(any chat tokenizer; its ids must be < the vocabulary size):

    python tests/benchmarks/bench_qlora_gpu.py --tokenizer DIR [--steps 8] [--seq-len 2048]

`--tiny` runs a 2-layer model of the same shape family (CPU or GPU) to check the plumbing.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Llama-3-8B-Instruct's config.json (architecture only).
LLAMA3_8B = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 8192,
    "rope_theta": 500000.0,
    "rms_norm_eps": 1e-5,
}
TINY = {**LLAMA3_8B, "num_hidden_layers": 2, "hidden_size": 256, "intermediate_size": 512}


def import_trainer() -> types.ModuleType:
    """`prefbench.solvers.training.lora` without `prefbench.solvers`' __init__ (inspect-ai)."""
    folders = {"prefbench": "prefbench", "prefbench.solvers": "solvers"}
    folders["prefbench.solvers.training"] = "solvers/training"
    for package, folder in folders.items():
        module = types.ModuleType(package)
        module.__path__ = [str(REPO / folder)]
        sys.modules[package] = module
    import prefbench.solvers.training.lora as lora

    return lora


def write_random_model(folder: Path, dims: dict, tokenizer_dir: Path, cuda: bool) -> float:
    """Save a random-weight Llama model (bf16) with the tokenizer; returns its size in GiB."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**dims, torch_dtype="bfloat16")
    torch.manual_seed(0)
    with torch.device("cuda" if cuda else "cpu"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    size = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30
    model.save_pretrained(folder)
    del model
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (tokenizer_dir / name).exists():
            shutil.copy(tokenizer_dir / name, folder / name)
    return size


def examples(lora: types.ModuleType, seq_len: int, count: int) -> list:
    """Full-length chat examples (about `seq_len` tokens each)."""
    words = " ".join(f"word{i % 97}" for i in range(seq_len))
    return [
        lora.TrainingExample(
            prompt=[{"role": "user", "content": f"Write rules for email {n}: {words}"}],
            target=f"<rules>- rule {n}: be brief</rules>",
        )
        for n in range(count)
    ]


def _adapter_summary(adapter_dir: Path) -> list:
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    return [config["r"], config["lora_alpha"], len(config["target_modules"])]


def main() -> None:
    """Train, reload, generate; print one JSON line of measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--quantization", default="nf4", choices=["nf4", "none"])
    args = parser.parse_args()

    import torch

    lora = import_trainer()
    cuda = torch.cuda.is_available()
    dims = TINY if args.tiny else LLAMA3_8B
    work = Path(tempfile.mkdtemp(prefix="bench-qlora-"))
    started = time.perf_counter()
    weights_gib = write_random_model(work / "base", dims, args.tokenizer, cuda)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    write_seconds = time.perf_counter() - started

    settings = lora.LoraSettings(
        rank=256,
        alpha=256,
        dropout=0.05,
        learning_rate=2e-4,
        max_steps=args.steps,
        batch_size=1,
        max_seq_len=args.seq_len,
        quantization=args.quantization,
    )
    step_times: list[float] = []

    def on_step(step: int, total: int, loss: float) -> None:
        step_times.append(time.perf_counter())
        print(f"step {step}/{total} loss {loss:.3f}", flush=True)

    trained = lora.train_lora_adapter(
        work / "base", examples(lora, args.seq_len, 4), settings, work / "adapter", on_step
    )
    train_peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    # the first step includes warm-up; later steps give the steady rate
    steady = (
        (step_times[-1] - step_times[0]) / (len(step_times) - 1) if len(step_times) > 1 else None
    )

    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(
        work / "adapter", dtype=torch.bfloat16, device_map={"": 0} if cuda else None
    )
    tokenizer = AutoTokenizer.from_pretrained(work / "base")
    prompt = tokenizer("Write an email about Friday's meeting.", return_tensors="pt").to(
        model.device
    )
    output = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    reload_seconds = time.perf_counter() - started
    adapter_mib = sum(f.stat().st_size for f in (work / "adapter").iterdir()) / 2**20
    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name(0) if cuda else "cpu",
                "architecture": "llama3-8b" if not args.tiny else "tiny",
                "quantization": args.quantization,
                "bf16_weights_gib": round(weights_gib, 2),
                "train_peak_gib": None if train_peak is None else round(train_peak, 2),
                "peak_over_bf16_weights": None
                if train_peak is None
                else round(train_peak / weights_gib, 3),
                "steps": trained.steps,
                "seq_len": args.seq_len,
                "seconds_per_step_steady": None if steady is None else round(steady, 3),
                "train_seconds": round(trained.seconds, 1),
                "trainable_parameters": trained.trainable_parameters,
                "losses": [round(loss, 3) for loss in trained.losses],
                "adapter_mib": round(adapter_mib, 1),
                "write_base_seconds": round(write_seconds, 1),
                "reload_and_generate_seconds": round(reload_seconds, 1),
                "generated_tokens": int(output.shape[-1] - prompt["input_ids"].shape[-1]),
                "adapter_r_alpha_modules": _adapter_summary(work / "adapter"),
            }
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
