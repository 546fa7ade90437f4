"""The shared generation task: every system (solver) writes the test split's texts."""

from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset

from prefbench.tasks.records import read_records
from prefbench.tasks.samples import record_to_sample


@task
def personalized_writing(records: str, split: str = "test") -> Task:
    """Write each record's text from its intent and metadata; the target is the real text.

    Args:
        records: a records file (JSON lines, docs/design.md §7) whose records have intents.
        split: which split to generate ("test" for the benchmark, "train" for drafts).

    Run a system with `--solver`, e.g.
    `inspect eval prefbench/personalized_writing -T records=runs/demo/data/records.jsonl
    --solver prefbench/small_zero_shot -S run_dir=runs/demo --model-role small=...`.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got '{split}'")
    selected = [record for record in read_records(Path(records)) if record.split == split]
    samples = [record_to_sample(record) for record in selected]
    return Task(dataset=MemoryDataset(samples, name=f"{Path(records).stem}-{split}"))
