"""Joining two generation logs by sample id for pairwise judging."""

from pathlib import Path

import pytest

from prefbench.core.errors import PrefbenchInputError
from prefbench.tasks.pairwise import join_generations, pairwise_comparison, read_generation_log
from tests.generation_logs import finished_generation_log


def generation_log(tmp_path: Path, system: str, ids: list[str]) -> Path:
    """A finished generation log of `system` whose every output is `SYSTEM output`."""
    outputs = {record_id: f"{system} output" for record_id in ids}
    return finished_generation_log(tmp_path / system, system, outputs)


def test_join_pairs_outputs_by_id(tmp_path):
    a = read_generation_log(generation_log(tmp_path, "alpha", ["1", "2", "3"]))
    b = read_generation_log(generation_log(tmp_path, "beta", ["3", "1", "2"]))
    joined = join_generations(a, b)
    assert [s.id for s in joined] == ["1", "2", "3"]
    assert joined[0].metadata["candidate_a"] == "alpha output"
    assert joined[0].metadata["candidate_b"] == "beta output"
    assert joined[0].target == "truth 1"
    assert joined[0].metadata["system_a"] == "alpha" and joined[0].metadata["system_b"] == "beta"


def test_missing_and_extra_ids_are_named(tmp_path):
    a = read_generation_log(generation_log(tmp_path, "alpha", ["1", "2", "3"]))
    b = read_generation_log(generation_log(tmp_path, "beta", ["2", "3", "4"]))
    with pytest.raises(PrefbenchInputError) as error:
        join_generations(a, b)
    message = str(error.value)
    assert "only in alpha: ['1']" in message and "only in beta: ['4']" in message
    assert [s.id for s in join_generations(a, b, on_mismatch="intersect")] == ["2", "3"]


def test_unreadable_or_missing_log_is_an_input_error(tmp_path):
    with pytest.raises(PrefbenchInputError, match="does not exist"):
        read_generation_log(tmp_path / "nope.eval")
    broken = tmp_path / "broken.eval"
    broken.write_bytes(b"\x00garbage")
    with pytest.raises(PrefbenchInputError, match="cannot be read"):
        read_generation_log(broken)


def test_pairwise_task_builds_from_log_paths(tmp_path):
    a = generation_log(tmp_path, "alpha", ["1", "2"])
    b = generation_log(tmp_path, "beta", ["1", "2"])
    task = pairwise_comparison(generations_a=str(a), generations_b=str(b), judge="similarity")
    assert len(task.dataset) == 2
    with pytest.raises(PrefbenchInputError, match="unknown judge 'oracle'"):
        pairwise_comparison(generations_a=str(a), generations_b=str(b), judge="oracle")
