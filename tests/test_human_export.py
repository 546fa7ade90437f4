"""`prefbench human export`: sampling, blinding, item order, re-export and Label Studio files.

Most tests use judge logs written here with inspect's own log types (many pairs, distinct
texts); one runs the scripted pipeline end to end and exports its real judge logs.
"""

import json
import re
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

import pytest
from inspect_ai.log import (
    read_eval_log,
)
from scipy.stats import binomtest
from typer.testing import CliRunner

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.cli.human import human_app, parse_counts
from prefbench.harness.pipeline import build_systems, generate, judge, prepare_records
from prefbench.human_eval.bundle import item_order_for, read_bundle
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.store import AnnotationStore
from prefbench.tasks.records import read_records
from tests.helpers import scripted_profile, scripted_run
from tests.human_fixtures import REFERENCE, USERS, judged_run, write_judge_log


def items_by_system(bundle) -> Counter:
    return Counter(entry.system_b for entry in bundle.key.values())


def test_counts_per_system_default_count_and_fewer_pairs_than_asked(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 40, "small_zero_shot": 30, "large": 5})
    notes: list[str] = []
    bundle = export_bundle(
        run,
        counts={"naive_finetune": 20},
        default_count=10,
        annotators=["alice"],
        announce=notes.append,
    )
    assert items_by_system(bundle) == {"naive_finetune": 20, "small_zero_shot": 10, "large": 5}
    assert notes == ["large: 10 items asked, only 5 judged pairs: using all"]
    assert {c.system_b: c.items for c in bundle.manifest.comparisons} == {
        "naive_finetune": 20,
        "small_zero_shot": 10,
        "large": 5,
    }
    assert all(c.system_a == REFERENCE for c in bundle.manifest.comparisons)
    assert [item.item_id for item in bundle.items] == [f"item-{n:04d}" for n in range(1, 36)]


def test_no_default_count_takes_every_pair_and_zero_leaves_a_system_out(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 12, "small_zero_shot": 7})
    bundle = export_bundle(run, counts={"naive_finetune": 0}, annotators=["alice"])
    assert items_by_system(bundle) == {"small_zero_shot": 7}
    assert [c.system_b for c in bundle.manifest.comparisons] == ["small_zero_shot"]


def test_parse_failures_are_eligible(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 9}, parse_failures=9)
    bundle = export_bundle(run, annotators=["alice"])
    assert len(bundle.items) == 9


def test_sampling_is_stratified_by_user_and_seeded(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 40})
    bundle = export_bundle(run, counts={"naive_finetune": 20}, annotators=["alice"], seed=3)
    assert Counter(entry.user for entry in bundle.key.values()) == {u: 5 for u in USERS}
    again = judged_run(tmp_path / "again", {"naive_finetune": 40})
    same = export_bundle(again, counts={"naive_finetune": 20}, annotators=["alice"], seed=3)
    assert same.items == bundle.items and same.key == bundle.key
    other = judged_run(tmp_path / "other", {"naive_finetune": 40})
    different = export_bundle(other, counts={"naive_finetune": 20}, annotators=["alice"], seed=4)
    assert different.key != bundle.key


def test_items_are_blinded_and_the_key_unblinds_them(tmp_path: Path):
    systems = {"naive_finetune": 120, "small_zero_shot": 80}
    run = judged_run(tmp_path / "run", systems)
    bundle = export_bundle(run, annotators=["alice", "bob"], seed=11)
    folder = HumanFolder(run)
    items_text = folder.items_jsonl.read_text(encoding="utf-8")
    for name in (REFERENCE, *systems, "system_a", "system_b", "rec-0"):
        assert name not in items_text
    rows = [json.loads(line) for line in items_text.splitlines()]
    assert {tuple(sorted(row)) for row in rows} == {
        ("candidate_1", "candidate_2", "ground_truth", "item_id", "subject")
    }
    # un-blind against the judge logs themselves
    samples = {}
    for path in (run / "logs" / "judge").glob("*.eval"):
        for sample in read_eval_log(str(path)).samples:
            samples[(path.name, str(sample.id))] = sample
    for row in rows:
        entry = bundle.key[row["item_id"]]
        sample = samples[(entry.judge_log, entry.sample_id)]
        meta = sample.metadata
        assert (entry.system_a, entry.system_b, entry.user) == (
            meta["system_a"],
            meta["system_b"],
            meta["user"],
        )
        assert row["ground_truth"] == sample.target
        shown_a = row["candidate_1"] if entry.candidate_1_is == "a" else row["candidate_2"]
        shown_b = row["candidate_2"] if entry.candidate_1_is == "a" else row["candidate_1"]
        assert (shown_a, shown_b) == (meta["candidate_a"], meta["candidate_b"])
        assert entry.preferred_side(1) == entry.candidate_1_is
        assert entry.preferred_side(2) != entry.candidate_1_is
    # the A/B order is random: 200 fair coin flips with this seed
    firsts = Counter(entry.candidate_1_is for entry in bundle.key.values())
    assert firsts["a"] + firsts["b"] == 200
    assert 80 <= firsts["a"] <= 120
    assert binomtest(firsts["a"], 200).pvalue > 0.01
    # both comparisons are interleaved, not in blocks
    kinds = [bundle.key[row["item_id"]].system_b for row in rows[:20]]
    assert len(set(kinds)) == 2


def test_same_order_for_everyone_or_a_seeded_shuffle_per_annotator(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 30})
    names = ["alice", "bob", "carol"]
    same = export_bundle(run, annotators=names, item_order="same")
    file_order = [item.item_id for item in same.items]
    assert all(item_order_for(same, name) == file_order for name in names)
    shuffled = export_bundle(run, annotators=names, item_order="shuffled")
    assert shuffled.items == same.items  # only the order changed: items kept
    orders = {name: item_order_for(shuffled, name) for name in names}
    assert all(sorted(order) == file_order for order in orders.values())
    assert len({tuple(order) for order in orders.values()}) == 3
    assert orders == {name: item_order_for(read_bundle(run), name) for name in names}
    with pytest.raises(PrefbenchInputError, match="not an annotator"):
        item_order_for(shuffled, "mallory")


def test_reexport_with_identical_options_is_a_no_op(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 10})
    first = export_bundle(run, annotators=["alice", "bob"], default_count=6, seed=1)
    folder = HumanFolder(run)
    before = {p: p.read_bytes() for p in folder.root.rglob("*") if p.is_file()}
    mtimes = {p: p.stat().st_mtime_ns for p in before}
    notes: list[str] = []
    again = export_bundle(
        run, annotators=["alice", "bob"], default_count=6, seed=1, announce=notes.append
    )
    assert again == first
    assert {p: p.read_bytes() for p in before} == before
    assert {p: p.stat().st_mtime_ns for p in before} == mtimes
    assert any("unchanged" in note for note in notes)


def test_adding_an_annotator_keeps_items_and_existing_tokens(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 10})
    first = export_bundle(run, annotators=["alice"], seed=1)
    with AnnotationStore(HumanFolder(run).database) as store:
        store.append("alice", "item-0001", 1)
    more = export_bundle(run, annotators=["alice", "bob"], seed=1)
    assert more.items == first.items and more.key == first.key
    assert more.token_to_annotator[first.manifest.annotators[0].token] == "alice"
    assert more.annotator_names == ["alice", "bob"]
    assert len(set(more.token_to_annotator)) == 2
    with pytest.raises(PrefbenchInputError, match=r"answers of \['alice'\]"):
        export_bundle(run, annotators=["bob"], seed=1)


def test_a_different_bundle_is_refused_while_answers_exist(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 10})
    export_bundle(run, annotators=["alice"], seed=1)
    with pytest.raises(PrefbenchInputError, match="--overwrite"):
        export_bundle(run, annotators=["alice"], seed=2)
    replaced = export_bundle(run, annotators=["alice"], seed=2, overwrite=True)
    assert read_bundle(run).key == replaced.key
    database = HumanFolder(run).database
    with AnnotationStore(database) as store:
        store.append("alice", "item-0003", 2)
    for overwrite in (False, True):
        with pytest.raises(PrefbenchInputError) as error:
            export_bundle(run, annotators=["alice"], seed=3, overwrite=overwrite)
        assert str(database) in str(error.value) and "orphan" in str(error.value)
    assert read_bundle(run).key == replaced.key


def test_label_studio_files(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 6})
    bundle = export_bundle(run, annotators=["alice"])
    folder = HumanFolder(run).label_studio_dir
    tasks = json.loads((folder / "tasks.json").read_text(encoding="utf-8"))
    assert [task["data"]["item_id"] for task in tasks] == [i.item_id for i in bundle.items]
    for task, item in zip(tasks, bundle.items, strict=True):
        data = task["data"]
        assert (data["ground_truth"], data["candidate_1"], data["candidate_2"]) == (
            item.ground_truth,
            item.candidate_1,
            item.candidate_2,
        )
    config = ElementTree.parse(folder / "config.xml").getroot()
    (choices,) = config.iter("Choices")
    assert choices.get("name") == "choice"
    assert [choice.get("value") for choice in choices.iter("Choice")] == ["1", "2"]
    text_names = {text.get("name") for text in config.iter("Text")}
    assert choices.get("toName") in text_names
    variables = {text.get("value") for text in config.iter("Text")}
    assert {"$ground_truth", "$candidate_1", "$candidate_2"} <= variables


def test_bad_options_are_input_errors(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 4})
    cases = [
        ({"counts": {"nope": 3}}, "nope"),
        ({"annotators": []}, "--annotator"),
        ({"annotators": ["alice", "alice"]}, "unique"),
        ({"item_order": "random"}, "item order"),
        ({"counts": {"naive_finetune": 0}}, "nothing to export"),
        ({"judge": "similarity"}, "similarity judge"),
    ]
    for options, message in cases:
        arguments = {"annotators": ["alice"], **options}
        with pytest.raises(PrefbenchInputError, match=message):
            export_bundle(run, **arguments)
    with pytest.raises(PrefbenchInputError, match="not a prefbench run folder"):
        export_bundle(tmp_path / "nowhere", annotators=["alice"])
    assert not HumanFolder(run).root.exists()


def test_only_finished_and_newest_judge_logs_are_used(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 4})
    log_dir = run / "logs" / "judge"
    newer = [
        {
            "id": f"new-{i}",
            "user": "ava",
            "ground_truth": "g",
            "candidate_a": "a",
            "candidate_b": "b",
            "value": "C",
        }
        for i in range(3)
    ]
    write_judge_log(
        log_dir / "newer.eval", "naive_finetune", newer, created="2026-02-01T00:00:00+00:00"
    )
    write_judge_log(
        log_dir / "unfinished.eval",
        "naive_finetune",
        newer * 2,
        created="2026-03-01T00:00:00+00:00",
        status="started",
    )
    bundle = export_bundle(run, annotators=["alice"])
    assert {entry.judge_log for entry in bundle.key.values()} == {"newer.eval"}


def test_read_bundle_names_a_missing_or_corrupt_file_and_the_fix(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 4})
    with pytest.raises(PrefbenchInputError, match="prefbench human export --run"):
        read_bundle(run)
    export_bundle(run, annotators=["alice"])
    items = HumanFolder(run).items_jsonl
    items.write_text(items.read_text() + "{not json\n", encoding="utf-8")
    with pytest.raises(PrefbenchInputError, match=r"items.jsonl, line 5"):
        read_bundle(run)


def test_cli_export_parses_counts_and_reports_the_bundle(tmp_path: Path):
    run = judged_run(tmp_path / "run", {"naive_finetune": 8, "small_zero_shot": 8})
    result = CliRunner().invoke(
        human_app,
        [
            "export",
            "--run",
            str(run),
            "--annotator",
            "alice",
            "--annotator",
            "bob",
            "--count",
            "naive_finetune=5",
            "--default-count",
            "2",
            "--item-order",
            "shuffled",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "7 items for alice, bob" in re.sub(r"\s+", " ", result.output)
    bundle = read_bundle(run)
    assert bundle.manifest.item_order == "shuffled"
    assert items_by_system(bundle) == {"naive_finetune": 5, "small_zero_shot": 2}
    bad = CliRunner().invoke(
        human_app, ["export", "--run", str(run), "--annotator", "a", "--count", "naive=x"]
    )
    assert isinstance(bad.exception, PrefbenchInputError)
    assert parse_counts(["a=1", "b = 2"]) == {"a": 1, "b": 2}
    with pytest.raises(PrefbenchInputError, match="twice"):
        parse_counts(["a=1", "a=2"])


def test_export_of_a_real_scripted_run(tmp_path: Path):
    """The pipeline's own judge logs: ground truth and subject come from the records."""
    context = scripted_run(tmp_path / "run", scripted_profile())
    records = prepare_records(context)
    build_systems(context, records)
    generate(context, records)
    judge(context)
    bundle = export_bundle(tmp_path / "run", annotators=["alice", "bob"], seed=5)
    by_id = {
        record.id: record for record in read_records(tmp_path / "run" / "data" / "records.jsonl")
    }
    compared = {"small_zero_shot", "large_zero_shot"}
    assert set(items_by_system(bundle)) == compared
    assert len(bundle.items) == sum(len(r.read().samples) for r in context.judge_logs.values())
    for item in bundle.items:
        entry = bundle.key[item.item_id]
        record = by_id[entry.sample_id]
        assert (entry.system_a, entry.user) == ("few_shot", record.user)
        assert item.ground_truth == record.content
        assert item.subject == record.metadata["subject"]
