"""A method from outside prefbench: `examples/prefbench-retrieval`, installed as its own package.

It registers `retrieval_few_shot` through its `[project.entry-points.prefbench]` only
(`make install` installs it). Added to a finished run folder, only its own stages compute:
every stage of the systems already there is reused, and the new system appears in the
comparisons, the Bradley–Terry ratings and the multi-candidate shares. The fast tests use the
scripted model; the integration test adds it to a copy of the real tiny demo run.
"""

import json
import shutil
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log
from prefbench_retrieval import IntentIndex

from prefbench.harness.pipeline import run_benchmark
from prefbench.solvers import lookup_system
from prefbench.tasks.records import Record, read_records
from tests.conftest import DEMO_SYSTEMS, tiny_demo_profile
from tests.helpers import scripted_profile, scripted_run

SYSTEM = "retrieval_few_shot"
PACKAGE = "prefbench_retrieval"
RETRIEVAL_EMAIL = "RETRIEVAL-MODEL-EMAIL"
STAGE_FIELD = "prefbench_stage"  # every stage log names its stage in the eval metadata


def train_record(record_id: str, intent: str, split: str = "train") -> Record:
    return Record(
        id=record_id,
        dataset="demo",
        user="ava",
        split=split,
        metadata={"subject": record_id},
        content=f"text of {record_id}",
        intent=intent,
        source="test",
    )


def index_of(*records: Record) -> IntentIndex:
    return IntentIndex.from_records(records)


def file_states(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file under `folder`, by relative path."""
    return {
        path.relative_to(folder).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def stage_of(log_path: Path) -> str:
    return read_eval_log(str(log_path), header_only=True).eval.metadata[STAGE_FIELD]


def model_calls(log_path: Path) -> int:
    """The model calls recorded in a log (cache hits included)."""
    log = read_eval_log(str(log_path))
    return sum(event.event == "model" for sample in log.samples or [] for event in sample.events)


def test_registered_through_its_entry_point_only():
    found = {point.name: point.value for point in entry_points(group="prefbench")}
    assert PACKAGE in found
    system = lookup_system(SYSTEM)
    assert system.solver_factory.__module__ == found[PACKAGE]
    assert system.roles == ("large",) and system.build is None
    module = sys.modules[found[PACKAGE]]
    assert (module.PROMPTS / f"{module.TEMPLATE}.txt").is_file()  # shipped in the package


def test_nearest_ranks_training_records_by_intent_similarity():
    index = index_of(
        train_record("lunch", "- lunch with the team on Thursday"),
        train_record("budget", "- send the quarterly budget review"),
        train_record("offsite", "- book the offsite venue"),
        train_record("budget-friday", "- quarterly budget review moved to Friday"),
    )
    nearest = index.nearest("- budget review on Friday", k=2)
    assert [record.id for record, _ in nearest] == ["budget-friday", "budget"]
    scores = [score for _, score in nearest]
    assert 1 >= scores[0] > scores[1] > 0
    assert len(index.nearest("- anything", k=10)) == 4


def test_equal_or_no_similarity_keeps_record_order():
    index = index_of(train_record("a", "- x"), train_record("b", "- y"), train_record("c", "- z"))
    assert [record.id for record, score in index.nearest("- meet", k=2)] == ["a", "b"]
    with pytest.raises(ValueError, match="k must be at least 1"):
        index.nearest("- meet", k=0)


def test_a_test_record_or_a_missing_intent_is_refused():
    with pytest.raises(ValueError, match="record t1 is in the 'test' split"):
        index_of(train_record("r1", "- a"), train_record("t1", "- b", split="test"))
    with pytest.raises(ValueError, match="record r2 has no intent"):
        index_of(train_record("r2", ""))


def add_to_scripted_run(tmp_path: Path) -> tuple[Path, Path, dict]:
    """A finished scripted run of three systems, then the same run with the new one added.

    Returns the run folder, the model-call log and the report.
    """
    call_log = tmp_path / "calls.tsv"
    profile = scripted_profile(call_log=call_log)
    profile["roles"]["large"]["model_args"]["replies"] = {
        "about similar things": RETRIEVAL_EMAIL,  # a phrase of the package's own template
        **profile["roles"]["large"]["model_args"]["replies"],
    }
    run_dir = tmp_path / "run"
    run_benchmark(scripted_run(run_dir, profile))
    call_log.unlink()
    profile["systems"] = [*profile["systems"], SYSTEM]
    context = scripted_run(run_dir, profile)
    report = run_benchmark(context)
    assert context.runner.evals_run == 3  # its generation, its metrics, its comparison
    return run_dir, call_log, report


def test_added_to_a_scripted_run_only_its_own_calls_are_made(tmp_path: Path):
    run_dir, call_log, report = add_to_scripted_run(tmp_path)
    calls = call_log.read_text(encoding="utf-8").splitlines()
    # two test emails written by M_L, each judged by the scripted judge in both orders
    assert sorted(line.split("\t")[0] for line in calls) == ["judge"] * 4 + ["large"] * 2
    (gen_log,) = [
        path
        for path in (run_dir / "logs" / "gen").glob("*.eval")
        if stage_of(path) == f"gen-{SYSTEM}"
    ]
    records = {record.id: record for record in read_records(run_dir / "data" / "records.jsonl")}
    for sample in read_eval_log(str(gen_log)).samples:
        assert sample.output.completion == RETRIEVAL_EMAIL
        retrieved = [records[record_id] for record_id in sample.metadata["retrieved_ids"]]
        assert len(retrieved) == 3  # the profile's few_shot_k default
        for example in retrieved:
            assert example.split == "train" and example.user == records[str(sample.id)].user
            assert example.content in sample.messages[1].text
    assert [row.system_b for row in report.rows()][-1] == SYSTEM
    assert SYSTEM in {row.system for row in report.ratings[report.judges[0]]}


@pytest.mark.integration
def test_added_to_the_finished_demo_run_only_its_own_stages_compute(
    pristine_demo_run: Path, tmp_path: Path
):
    run_dir = tmp_path / "run"
    # a copy elsewhere (symlinks kept, as `cp -a` does): stage keys hold no absolute path
    shutil.copytree(pristine_demo_run, run_dir, symlinks=True)
    logs_before = file_states(run_dir / "logs")
    artifacts_before = file_states(run_dir / "artifacts")
    records_before = file_states(run_dir / "data")

    profile = tiny_demo_profile()
    profile["systems"] = [*DEMO_SYSTEMS, SYSTEM]
    context = scripted_run(run_dir, profile)
    report = run_benchmark(context)

    logs_after = file_states(run_dir / "logs")
    assert {path: logs_after.get(path) for path in logs_before} == logs_before  # none rewritten
    new_logs = {
        stage_of(run_dir / "logs" / path): path for path in logs_after.keys() - logs_before.keys()
    }
    assert sorted(new_logs) == sorted(
        [
            f"gen-{SYSTEM}",
            f"metrics-{SYSTEM}",
            f"judge-preference_agent-vs-{SYSTEM}",
            "judge-multi-candidate",
        ]
    )  # the multi-candidate judge shows every system at once; the similarity judge calls no model
    assert context.runner.evals_run == len(new_logs) and context.adapters_trained == 0
    assert file_states(run_dir / "artifacts") == artifacts_before
    assert file_states(run_dir / "data") == records_before
    calls = {stage: model_calls(run_dir / "logs" / path) for stage, path in new_logs.items()}
    assert calls.pop(f"gen-{SYSTEM}") == 2  # one email per test sample, by SmolLM2
    assert set(calls.values()) == {0}  # no model call for any of the six systems

    records = {record.id: record for record in read_records(run_dir / "data" / "records.jsonl")}
    for sample in read_eval_log(str(run_dir / "logs" / new_logs[f"gen-{SYSTEM}"])).samples:
        assert sample.output.completion.strip()
        (example_id,) = sample.metadata["retrieved_ids"]  # the profile's few_shot_k: 1
        example = records[example_id]
        assert example.split == "train" and example.user == records[str(sample.id)].user

    saved = json.loads((run_dir / "report.json").read_text())
    assert saved == report.dump()
    assert [row.system_b for row in report.rows()] == [
        *(name for name in DEMO_SYSTEMS if name != "preference_agent"),
        SYSTEM,
    ]
    assert {row.system for row in report.ratings["similarity"]} == {*DEMO_SYSTEMS, SYSTEM}
    assert {row.system for row in report.multi_candidate["similarity"].first_choice} == {
        *DEMO_SYSTEMS,
        SYSTEM,
    }
    assert report.similarity is not None
    assert {row.system for row in report.similarity.rows} == {*DEMO_SYSTEMS, SYSTEM}
    assert SYSTEM in (run_dir / "report.md").read_text()
