"""Finished generation logs written in a test, for the judging tasks to join."""

from collections.abc import Mapping
from pathlib import Path

from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import get_model
from inspect_ai.solver import generate


def finished_generation_log(
    log_dir: Path,
    system: str,
    outputs: Mapping[str, str],
    *,
    truth: str = "truth {id}",
    users: Mapping[str, str] | None = None,
    dataset: str = "d",
) -> Path:
    """A finished generation log of `system` in `log_dir`: `outputs[id]` for each record id.

    Record `id` has the input `intent {id}`, the ground truth `truth` with `{id}` filled in,
    and the metadata `user` (from `users`, default "u") and `dataset`.
    """
    samples = [
        Sample(
            id=record_id,
            input=f"intent {record_id}",
            target=truth.format(id=record_id),
            metadata={"user": (users or {}).get(record_id, "u"), "dataset": dataset},
        )
        for record_id in outputs
    ]
    replies = {f"intent {record_id}": text for record_id, text in outputs.items()}
    log = eval(
        Task(dataset=MemoryDataset(samples), solver=generate()),
        model=get_model("prefbench-mock/writer", replies=replies, memoize=False),
        display="none",
        log_dir=str(log_dir),
        metadata={"system": system},
    )[0]
    assert log.status == "success"
    return Path(log.location)
