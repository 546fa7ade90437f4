"""Benchmark of the generation stages against the raw engine (issue 14): tokens/s and ratio.

Runs the demo pipeline (records and intents, build, generation, similarity, cross-user
writing; no judging, no report) in a fresh run folder with a fresh inspect cache, then, in
the same process, raw transformers `generate` of the base model on the very prompts each
stage sent (read back from its logs, attachments resolved), in the very batches the engine
made (calls answered together), with the same `max_tokens` and temperature. Prints a
Markdown table, one row per stage: samples, model calls, largest batch, output tokens, wall
seconds, seconds in model calls, tokens/s, raw tokens/s and their ratio (goal: >= 0.8 for
every stage, adapter stages included); then the memory of the base in the engine and of all
the run's adapters on it.

A stage is one eval, or the evals of one log kind that ran at the same time (all systems'
generation is one eval of concurrent tasks). Its tokens and seconds come from its logs:
output tokens of every model call that was not a cache read (each row counted up to its own
`max_tokens`, at most as long as its batch's longest output, as inspect's `hf/` provider
counts) over the time from its first sample's start to its last sample's end (the eval's own
start and end are logged to the second only; model loading by the harness before the eval
is left out, adapters loaded inside it are in). The raw engine is counted the same way.
Usage (run it on an otherwise idle machine):

    .venv/bin/python tests/benchmarks/bench_engine.py [--out DIR] [--profile demo]
        [--personas N] [--records-per-persona N] [--max-tokens N] [--lora-steps N]

`--personas`, `--records-per-persona`, `--max-tokens` (email, rules and intent budgets) and
`--lora-steps` shrink the profile for a quick smoke run, e.g.
`--personas 2 --records-per-persona 4 --max-tokens 16 --lora-steps 1`.
"""

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_demo import covered_seconds

RATIO_GOAL = 0.8
GENERATION_KINDS = ("intents", "build", "gen", "cross")
"""Run-folder log kinds whose evals generate text."""
LAST_STAGE = "cross_user"
BATCH_GAP_SECONDS = 0.5
"""Calls of one engine batch complete within this of each other (a batch takes seconds)."""
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Call:
    """One model call of an eval: its chat messages and generation settings."""

    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float | None
    completed: float


@dataclass
class StageTiming:
    """A stage's samples, model calls, output tokens, wall seconds and seconds in calls.

    A stage is one eval, or the evals of one kind that ran at the same time (the systems'
    generation is one eval of concurrent tasks, one log per system).
    """

    name: str
    samples: int
    calls: list[Call]
    output_tokens: int
    seconds: float
    call_spans: list[tuple[float, float]]

    @property
    def calling_seconds(self) -> float:
        """Seconds during which at least one model call was waiting for its answer."""
        return covered_seconds(self.call_spans)


def shrunk_profile(name: str, args: argparse.Namespace) -> Any:
    """The profile `name`, with the sizes the command line asks for."""
    from prefbench.harness.profile import load_profile

    profile, _ = load_profile(name)
    dataset = {
        key: value
        for key, value in (
            ("personas", args.personas),
            ("records_per_persona", args.records_per_persona),
        )
        if value is not None
    }
    generation = (
        {
            "max_tokens": args.max_tokens,
            "rules_max_tokens": args.max_tokens,
            "intent_max_tokens": args.max_tokens,
        }
        if args.max_tokens is not None
        else {}
    )
    training = {"max_steps": args.lora_steps} if args.lora_steps is not None else {}
    return profile.model_copy(
        update={
            "dataset": profile.dataset.model_copy(update=dataset),
            "generation": profile.generation.model_copy(update=generation),
            "training": profile.training.model_copy(update=training),
        }
    )


def run_stages(run_dir: Path, profile: Any) -> None:
    """Run the pipeline up to and including the cross-user stage."""
    from rich.console import Console

    from prefbench.harness.pipeline import open_run

    context = open_run(run_dir, profile, Console(stderr=True), display="none")
    for stage in context.stages:
        stage.run(context)
        if stage.name == LAST_STAGE:
            return


def stage_timings(run_dir: Path) -> list[StageTiming]:
    """Every generating stage of the run, in the order it ran."""
    timings = []
    for kind in GENERATION_KINDS:
        evals = sorted(
            (
                timing
                for path in (run_dir / "logs" / kind).glob("*.eval")
                if (timing := eval_timing(kind, path)) is not None
            ),
            key=lambda pair: pair[1][0],
        )
        for group in _overlapping(evals):
            names = [timing.name for timing, _ in group]
            timings.append(
                StageTiming(
                    names[0] if len(names) == 1 else f"{kind}/{len(names)} evals together",
                    sum(timing.samples for timing, _ in group),
                    [call for timing, _ in group for call in timing.calls],
                    sum(timing.output_tokens for timing, _ in group),
                    max(span[1] for _, span in group) - min(span[0] for _, span in group),
                    [call_span for timing, _ in group for call_span in timing.call_spans],
                )
            )
    return timings


def _overlapping(
    evals: list[tuple[StageTiming, tuple[float, float]]],
) -> list[list[tuple[StageTiming, tuple[float, float]]]]:
    """Evals (sorted by start) grouped into runs of overlapping (start, end) spans."""
    groups: list[list[tuple[StageTiming, tuple[float, float]]]] = []
    reached = float("-inf")
    for timing, span in evals:
        if groups and span[0] < reached:
            groups[-1].append((timing, span))
        else:
            groups.append([(timing, span)])
        reached = max(reached, span[1])
    return groups


def eval_timing(kind: str, path: Path) -> tuple[StageTiming, tuple[float, float]] | None:
    """One eval's timing and its samples' (start, end); None when it made no model call."""
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path), resolve_attachments=True)
    calls, tokens, spans = [], 0, []
    for sample in log.samples or []:
        for event in sample.events:
            if event.event != "model" or event.cache == "read" or event.completed is None:
                continue
            tokens += event.output.usage.output_tokens if event.output.usage else 0
            spans.append((event.timestamp.timestamp(), event.completed.timestamp()))
            calls.append(
                Call(
                    messages=[
                        {"role": message.role, "content": message.text} for message in event.input
                    ],
                    max_tokens=event.config.max_tokens or 2048,
                    temperature=event.config.temperature,
                    completed=event.completed.timestamp(),
                )
            )
    if not calls:
        return None
    samples = log.samples or []
    span = (
        min(_seconds(sample.started_at) for sample in samples),
        max(_seconds(sample.completed_at) for sample in samples),
    )
    name = (log.eval.metadata or {}).get("prefbench_stage", log.eval.task)
    timing = StageTiming(f"{kind}/{name}", len(samples), calls, tokens, span[1] - span[0], spans)
    return timing, span


def _seconds(timestamp: Any) -> float:
    from datetime import datetime

    if isinstance(timestamp, str):
        timestamp = datetime.fromisoformat(timestamp)
    return timestamp.timestamp()


class RawEngine:
    """The base model in plain transformers: batched `generate`, counted like `hf/`."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, device_map="cpu")

    def tokens_per_second(self, calls: list[Call]) -> tuple[float, int]:
        """Output tokens per second over `calls` in the engine's own batches, and the largest.

        The engine answers a batch's calls together, so calls that completed within
        `BATCH_GAP_SECONDS` of each other (and share their decoding) were one batch; each is
        generated again here as one batch, up to its largest `max_tokens`, each row counted
        up to its own, as the engine counts.
        """
        tokens, seconds, largest = 0, 0.0, 0
        for batch in engine_batches(calls):
            largest = max(largest, len(batch))
            started = time.perf_counter()
            tokens += self._generate(batch)
            seconds += time.perf_counter() - started
        return tokens / seconds, largest

    def _generate(self, batch: list[Call]) -> int:
        prompts = [
            self.tokenizer.apply_chat_template(
                call.messages, add_generation_prompt=True, tokenize=False
            )
            for call in batch
        ]
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True)
        temperature = batch[0].temperature
        sampling = {"do_sample": True, "temperature": temperature} if temperature else {}
        with self.torch.inference_mode():
            sequences = self.model.generate(
                **encoded,
                max_new_tokens=max(call.max_tokens for call in batch),
                **({"do_sample": False} | sampling),
            )
        generated = sequences.size(1) - encoded["input_ids"].size(1)
        return sum(min(generated, call.max_tokens) for call in batch)


def engine_batches(calls: list[Call]) -> list[list[Call]]:
    """The batches the engine made: calls of one decoding that completed together."""
    batches: list[list[Call]] = []
    last: dict[float | None, float] = {}
    current: dict[float | None, list[Call]] = {}
    for call in sorted(calls, key=lambda call: call.completed):
        decoding = call.temperature or None
        if decoding in current and call.completed - last[decoding] <= BATCH_GAP_SECONDS:
            current[decoding].append(call)
        else:
            current[decoding] = [call]
            batches.append(current[decoding])
        last[decoding] = call.completed
    return batches


def print_table(rows: list[tuple[StageTiming, float, int]]) -> None:
    """One Markdown row per eval: samples, calls, batch, tokens, seconds, speeds, ratio.

    `in calls` is the time at least one model call was waiting for its answer (batching
    windows included); the rest of `s` is the eval's own work (setup, solvers, log writing).
    """
    columns = (
        *("stage", "samples", "calls", "batch", "tokens"),
        *("s", "in calls", "tok/s", "raw tok/s"),
    )
    print("| " + " | ".join((*columns, "ratio")) + " |")
    print("|---|" + "---:|" * len(columns))
    for timing, raw, batch in rows:
        speed = timing.output_tokens / timing.seconds
        ratio = speed / raw
        mark = "" if ratio >= RATIO_GOAL else f" (< {RATIO_GOAL})"
        cells = (
            timing.name,
            str(timing.samples),
            str(len(timing.calls)),
            str(batch),
            str(timing.output_tokens),
            f"{timing.seconds:.1f}",
            f"{timing.calling_seconds:.1f}",
            f"{speed:.1f}",
            f"{raw:.1f}",
            f"{ratio:.2f}{mark}",
        )
        print("| " + " | ".join(cells) + " |")


def adapter_memory(run_dir: Path) -> str:
    """Resident memory of the base model in the engine, then of every adapter of the run.

    The base is loaded as the harness loads it and generates once (its weights are mapped
    lazily); then the engine loads each adapter the run trained. Per-user copies would add
    one base per adapter; the engine adds the adapters' own weights only.
    """
    import asyncio

    import psutil
    from inspect_ai.model import GenerateConfig, get_model

    from prefbench.harness.profile import ModelSpec
    from prefbench.harness.serving.models import SMOLLM2, resolved_spec
    from prefbench.solvers.lora_engine import release_engines, serve_with_engine, shared_engine

    process = psutil.Process()
    before = process.memory_info().rss
    spec = resolved_spec(ModelSpec(model=SMOLLM2))
    base = serve_with_engine(
        get_model(
            spec.model, config=GenerateConfig(**spec.config), memoize=False, **spec.model_args
        )
    )
    asyncio.run(base.generate("Hello", config=GenerateConfig(max_tokens=4)))
    loaded = process.memory_info().rss
    adapters = sorted(run_dir.glob("artifacts/*/*/adapter/adapter_config.json"))
    engine = shared_engine(base)
    for config in adapters:
        engine.add_adapter(config.parent)
    with_adapters = process.memory_info().rss
    release_engines()
    mib = 2**20
    return (
        f"memory: base in the engine {(loaded - before) / mib:.0f} MiB; "
        f"{len(adapters)} adapters on it +{(with_adapters - loaded) / mib:.0f} MiB "
        f"(one copy per adapter would add {len(adapters)} x the base)"
    )


def main() -> None:
    """Run the stages, then the raw engine on their prompts, and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=None, help="run folder (new); a temp one")
    parser.add_argument("--profile", default="demo", help="profile name or file (demo)")
    parser.add_argument("--personas", type=int, default=None)
    parser.add_argument("--records-per-persona", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument("--lora-steps", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    scratch = Path(tempfile.mkdtemp(prefix="prefbench-bench-engine-"))
    os.environ["INSPECT_CACHE_DIR"] = str(scratch / "inspect-cache")
    sys.path.insert(0, str(REPO_ROOT))  # benchmark this checkout, not an installed copy
    run_dir = args.out or scratch / "run"
    if run_dir.exists() and any(run_dir.iterdir()):
        sys.exit(f"{run_dir} is not empty: the benchmark needs a fresh run folder")

    from prefbench.core.offline_models import smollm2_dir

    started = time.perf_counter()
    run_stages(run_dir, shrunk_profile(args.profile, args))
    print(f"pipeline up to {LAST_STAGE}: {time.perf_counter() - started:.1f} s ({run_dir})")
    engine = RawEngine(smollm2_dir())
    rows = [(timing, *engine.tokens_per_second(timing.calls)) for timing in stage_timings(run_dir)]
    print_table(rows)
    print(adapter_memory(run_dir))


if __name__ == "__main__":
    main()
