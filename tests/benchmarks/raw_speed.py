"""The machine's raw engine speed: SmolLM2 greedy `generate` at batch 16 on short prompts.

This is the unit of the demo's budget (issue 14): a run's cost in *raw-token-equivalents* is
its wall seconds times this speed, measured in the same sitting, so machines of different
speed can be compared. Usage (prints tokens/s):

    .venv/bin/python tests/benchmarks/raw_speed.py [--repeats 3]

The measurement loads the converted SmolLM2 folder with transformers (the same fp32 weights
the demo's `hf/` provider loads), warms up once, then times `--repeats` batches of 16 short
chat prompts, 64 new tokens each (forced: no early stop), and reports the best batch.
"""

import argparse
import os
import time

BATCH_SIZE = 16
NEW_TOKENS = 64
TOPICS = [
    "the quarterly budget",
    "a team lunch",
    "the server migration",
    "a client visit",
    "the holiday schedule",
    "a missing invoice",
    "the new hire",
    "a delayed shipment",
    "the board meeting",
    "a contract renewal",
    "the office move",
    "a product launch",
    "the audit",
    "a training session",
    "the parking policy",
    "a vendor dispute",
]


def raw_tokens_per_second(repeats: int = 3) -> float:
    """Best-of-`repeats` generated tokens per second of SmolLM2 at batch 16, greedy, on CPU."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prefbench.core.offline_models import smollm2_dir

    folder = smollm2_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    chats = [[{"role": "user", "content": f"Write a short email about {t}."}] for t in TOPICS]
    texts = [
        tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats
    ]
    inputs = tokenizer(texts, return_tensors="pt", padding=True)
    settings = dict(
        max_new_tokens=NEW_TOKENS,
        min_new_tokens=NEW_TOKENS,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )
    best = 0.0
    with torch.inference_mode():
        model.generate(**inputs, **{**settings, "max_new_tokens": 8, "min_new_tokens": 8})
        for _ in range(repeats):
            start = time.perf_counter()
            output = model.generate(**inputs, **settings)
            seconds = time.perf_counter() - start
            generated = (output.shape[1] - inputs["input_ids"].shape[1]) * BATCH_SIZE
            best = max(best, generated / seconds)
    return best


def main() -> None:
    """Print the raw speed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"raw SmolLM2 batch-{BATCH_SIZE} greedy: {raw_tokens_per_second(args.repeats):.1f} tokens/s"
    )


if __name__ == "__main__":
    main()
