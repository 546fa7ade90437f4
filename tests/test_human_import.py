"""Importing answers (CSV, JSON lines, Label Studio, another database), attaching them to
the judge logs, and the `human import` / `human agreement` commands."""

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import typer
from inspect_ai.log import read_eval_log
from typer.testing import CliRunner

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.cli.human_results import agreement_command, import_answers_command
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.report.judged import read_comparison
from prefbench.human_eval.agreement import agreement_section
from prefbench.human_eval.attach import attach_human_scores, read_judged_items
from prefbench.human_eval.bundle import (
    Annotator,
    BundleComparison,
    BundleItem,
    BundleManifest,
    KeyEntry,
    read_bundle,
    write_bundle,
)
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.importers import import_files
from prefbench.human_eval.store import AnnotationStore
from tests.helpers import scripted_profile, scripted_run
from tests.human_fixtures import write_judge_log

ITEMS = ("item-0001", "item-0002", "item-0003")


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A run folder with a hand-made bundle: 3 items, annotators ann and bob."""
    run_dir = tmp_path / "run"
    manifest = BundleManifest(
        format=1,
        created_at="2024-05-01T00:00:00.000+00:00",
        seed=0,
        item_order="same",
        instructions="Pick the candidate closer to the email.",
        annotators=(Annotator("ann", "token-ann"), Annotator("bob", "token-bob")),
        comparisons=(BundleComparison("pa", "x", "judge.eval", len(ITEMS)),),
    )
    items = [BundleItem(item_id, "truth", "one", "two", None) for item_id in ITEMS]
    key = {
        item_id: KeyEntry("judge.eval", f"s{n}", "pa", "x", "ab"[n % 2], "u1", "demo")  # type: ignore[arg-type]
        for n, item_id in enumerate(ITEMS)
    }
    write_bundle(run_dir, manifest, items, key)
    pairs = [
        {
            "id": f"s{n}",
            "user": "u1",
            "ground_truth": "truth",
            "candidate_a": "one" if "ab"[n % 2] == "a" else "two",
            "candidate_b": "two" if "ab"[n % 2] == "a" else "one",
            "value": "C",
        }
        for n in range(len(ITEMS))
    ]
    (run_dir / "logs" / "judge").mkdir(parents=True)
    write_judge_log(
        run_dir / "logs" / "judge" / "judge.eval", "x", pairs
    )  # what `import` attaches to
    return run_dir


def stored(run_dir: Path) -> list:
    database = HumanFolder(run_dir).database
    if not database.exists():
        return []
    with AnnotationStore(database) as store:
        return store.history()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


CSV = (
    "annotator,item_id,choice,answered_at\n"
    "ann,item-0001,1,2024-05-01T10:00:00Z\n"
    "ann,item-0002,candidate_2,2024-05-01T10:01:00Z\n"
    "ann,item-0002,candidate_2,2024-05-01T10:01:00Z\n"
    "bob,item-0001,,\n"
    "bob,item-0003,2,2024-05-01 12:00:00\n"
)


def test_csv_import_collapses_repeats_and_is_idempotent(study: Path, tmp_path: Path):
    answers = write(tmp_path / "prolific.csv", CSV)
    [first] = import_files(study, [answers])
    assert (first.kind, first.read, first.appended) == ("csv", 4, 3)
    assert first.collapsed == 1 and first.blank == 1 and not first.already_imported
    rows = stored(study)
    assert [(a.annotator, a.item_id, a.choice) for a in rows] == [
        ("ann", "item-0001", 1),
        ("ann", "item-0002", 2),
        ("bob", "item-0003", 2),
    ]
    assert rows[2].answered_at == "2024-05-01T12:00:00.000+00:00"  # no offset: UTC
    assert {a.source for a in rows} == {"import:prolific.csv"}
    [again] = import_files(study, [answers])
    assert again.appended == 0 and again.already_imported
    assert len(stored(study)) == 3
    kept = list(HumanFolder(study).imports_dir.iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == answers.read_bytes()


def test_conflicting_answers_latest_wins_and_history_is_kept(study: Path, tmp_path: Path):
    answers = write(
        tmp_path / "sheet.csv",
        "item_id,annotator,choice,answered_at,comment\n"
        "item-0001,ann,1,2024-05-02T09:00:00+02:00,changed my mind later\n"
        "item-0001,ann,2,2024-05-01T09:00:00Z,\n"
        "item-0002,ann,2,,\n"
        "item-0002,ann,1,2024-05-01T08:00:00Z,\n",
    )
    [result] = import_files(study, [answers])
    assert result.conflicts == 2 and result.appended == 4
    with AnnotationStore(HumanFolder(study).database) as store:
        latest = store.latest()
        history = store.history(annotator="ann", item_id="item-0001")
    assert latest[("ann", "item-0001")].choice == 1  # 07:00 UTC on May 2 is the latest
    assert [a.choice for a in history] == [2, 1]
    assert latest[("ann", "item-0002")].choice == 2  # a row without a time counts as now


def test_re_saved_file_appends_only_what_is_new(study: Path, tmp_path: Path):
    import_files(study, [write(tmp_path / "a.csv", CSV)])
    more = CSV + "bob,item-0002,1,2024-05-03T00:00:00Z\n"
    [result] = import_files(study, [write(tmp_path / "b.csv", more)])
    assert result.appended == 1 and result.already_present == 3
    assert len(stored(study)) == 4


def test_tsv_with_a_quoted_field_over_two_lines(study: Path, tmp_path: Path):
    answers = write(
        tmp_path / "sheet.tsv",
        'annotator\titem_id\tchoice\tnote\nann\titem-0001\t2\t"long\nnote"\nbob\titem-0001\tx\t\n',
    )
    with pytest.raises(PrefbenchInputError, match="row 3"):
        import_files(study, [answers])
    answers.write_text(answers.read_text().replace("\tx\t", "\t1\t"))
    [result] = import_files(study, [answers])
    assert result.appended == 2
    assert [(a.annotator, a.choice) for a in stored(study)] == [("ann", 2), ("bob", 1)]


def test_jsonl_import(study: Path, tmp_path: Path):
    answers = write(
        tmp_path / "forms.jsonl",
        '{"annotator": "bob", "item_id": "item-0002", "choice": 2}\n'
        "\n"
        '{"annotator": "ann", "item_id": "item-0003", "choice": "1", "answered_at": null}\n'
        '{"annotator": "ann", "item_id": "item-0001", "choice": null}\n',
    )
    [result] = import_files(study, [answers])
    assert (result.kind, result.appended, result.blank) == ("jsonl", 2, 1)
    assert [(a.annotator, a.choice) for a in stored(study)] == [("bob", 2), ("ann", 1)]


def label_studio_export() -> list:
    return [
        {
            "id": 11,
            "data": {"item_id": "item-0001"},
            "annotations": [
                {
                    "completed_by": {"id": 3, "email": "ann@lab.example"},
                    "result": [{"from_name": "choice", "value": {"choices": ["2"]}}],
                    "created_at": "2024-05-01T10:00:00.123456Z",
                    "updated_at": "2024-05-01T11:00:00Z",
                },
                {
                    "completed_by": 7,
                    "result": [{"from_name": "choice", "value": {"choices": ["1"]}}],
                    "created_at": "2024-05-01T10:05:00Z",
                },
                {"completed_by": 8, "was_cancelled": True, "result": []},
            ],
        },
        {
            "id": 12,
            "data": {"item_id": "item-0002"},
            "annotations": [{"completed_by": {"email": "bob@lab.example"}, "result": []}],
        },
    ]


def test_label_studio_import_maps_annotators(study: Path, tmp_path: Path):
    export = write(tmp_path / "project-1.json", json.dumps(label_studio_export()))
    with pytest.raises(PrefbenchInputError, match="ls-7") as error:
        import_files(study, [export])
    assert "--add-annotators" in str(error.value) and not stored(study)
    [result] = import_files(study, [export], add_annotators=True)
    assert (result.kind, result.appended, result.blank) == ("label-studio", 2, 1)
    rows = stored(study)
    assert [(a.annotator, a.item_id, a.choice) for a in rows] == [
        ("ls-7", "item-0001", 1),
        ("ann@lab.example", "item-0001", 2),
    ]
    assert rows[1].answered_at == "2024-05-01T11:00:00.000+00:00"  # updated_at wins


def test_label_studio_annotators_with_one_local_part_stay_apart(study: Path, tmp_path: Path):
    def annotation(email: str, choice: str) -> dict:
        return {
            "completed_by": {"email": email},
            "result": [{"from_name": "choice", "value": {"choices": [choice]}}],
            "created_at": "2024-05-01T10:00:00Z",
        }

    tasks = [
        {
            "id": 1,
            "data": {"item_id": "item-0001"},
            "annotations": [annotation("alice@a.example", "1"), annotation("alice@b.example", "2")],
        }
    ]
    export = write(tmp_path / "two-alices.json", json.dumps(tasks))
    import_files(study, [export], add_annotators=True)
    assert sorted((a.annotator, a.choice) for a in stored(study)) == [
        ("alice@a.example", 1),
        ("alice@b.example", 2),
    ]


def other_machine_database(path: Path) -> Path:
    with AnnotationStore(path) as store:
        store.append("ann", "item-0001", 1, answered_at="2024-05-01T10:00:00.000+00:00")
        store.append("bob", "item-0002", 2, answered_at="2024-05-01T10:01:00.000+00:00")
        store.append("ann", "item-0001", 2, answered_at="2024-05-01T10:02:00.000+00:00")
    return path


def test_database_import_keeps_the_whole_history(study: Path, tmp_path: Path):
    source = other_machine_database(tmp_path / "laptop" / "annotations.sqlite")
    before = sorted(p.name for p in source.parent.iterdir())
    [result] = import_files(study, [source])
    assert (result.kind, result.appended) == ("database", 3)
    assert sorted(p.name for p in source.parent.iterdir()) == before  # nothing written beside it
    with AnnotationStore(HumanFolder(study).database) as store:
        assert store.latest()[("ann", "item-0001")].choice == 2
        assert len(store.history(annotator="ann")) == 2
    [again] = import_files(study, [source])
    assert again.appended == 0 and again.already_imported
    kept = next(HumanFolder(study).imports_dir.iterdir())
    with AnnotationStore(kept) as copy:
        assert len(copy.history()) == 3


def truncated_database(path: Path) -> Path:
    with AnnotationStore(path) as store:
        for number in range(1500):
            store.append("ann", ITEMS[number % 3], 1 + number % 2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return path


MALFORMED = {
    "bad header": (
        "answers.csv",
        "annotator,item,choice\nann,item-0001,1\n",
        ["header", "missing ['item_id']", "found columns"],
    ),
    "choice 3": (
        "answers.csv",
        "annotator,item_id,choice\nann,item-0001,1\nann,item-0002,3\n",
        ["row 3", "choice '3'", "1 or 2"],
    ),
    "unknown item": (
        "answers.csv",
        "annotator,item_id,choice\nann,item-0001,1\nann,item-9999,2\n",
        ["item-9999", "not in this run's bundle", "row 3"],
    ),
    "unknown annotator": (
        "answers.jsonl",
        '{"annotator": "zed", "item_id": "item-0001", "choice": 1}\n',
        ["zed", "--add-annotators", "bundle annotators: ann, bob", "line 1"],
    ),
    "bad json line": (
        "answers.jsonl",
        '{"annotator": "ann", "item_id": "item-0001", "choice": 1}\n{"annotator": "ann",\n',
        ["line 2", "not valid JSON"],
    ),
    "missing key": (
        "answers.jsonl",
        '{"annotator": "ann", "choice": 1}\n',
        ["line 1", "missing ['item_id']"],
    ),
    "bad time": (
        "answers.csv",
        "annotator,item_id,choice,answered_at\nann,item-0001,1,5/1/2024 10:00\n",
        ["row 2", "ISO-8601"],
    ),
    "label studio task without item_id": (
        "export.json",
        json.dumps([{"id": 1, "data": {"item_id": "item-0001"}}, {"id": 2, "data": {}}]),
        ["task 2 (id 2)", "data.item_id", "tasks.json"],
    ),
    "label studio two choices": (
        "export.json",
        json.dumps(
            [
                {
                    "data": {"item_id": "item-0001"},
                    "annotations": [
                        {
                            "completed_by": 1,
                            "result": [{"from_name": "choice", "value": {"choices": ["1", "2"]}}],
                        }
                    ],
                }
            ]
        ),
        ["task 1, annotation 1", "exactly one choice"],
    ),
    "not a label studio export": (
        "export.json",
        json.dumps({"annotator": "ann"}),
        ["not a Label Studio export", ".jsonl"],
    ),
    "unknown kind": ("answers.txt", "ann item-0001 1\n", ["unknown kind", ".csv"]),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_are_clear_errors_and_write_nothing(study: Path, tmp_path: Path, case: str):
    name, text, fragments = MALFORMED[case]
    good = write(tmp_path / "good.csv", CSV)
    bad = write(tmp_path / name, text)
    with pytest.raises(PrefbenchInputError) as error:
        import_files(study, [good, bad])  # the good file is not imported either
    message = str(error.value)
    assert str(bad) in message
    for fragment in fragments:
        assert fragment in message
    assert not HumanFolder(study).database.exists()
    assert not HumanFolder(study).imports_dir.exists()


def test_truncated_database_is_a_clear_error(study: Path, tmp_path: Path):
    source = truncated_database(tmp_path / "broken.sqlite")
    with pytest.raises(PrefbenchInputError, match="not a readable SQLite database") as error:
        import_files(study, [source])
    assert str(source) in str(error.value) and "copy the database again" in str(error.value)
    assert not HumanFolder(study).database.exists()


def test_missing_bundle_names_the_export_command(tmp_path: Path):
    answers = write(tmp_path / "answers.csv", CSV)
    with pytest.raises(PrefbenchInputError, match="prefbench human export"):
        import_files(tmp_path / "no-run", [answers])


@pytest.fixture(scope="module")
def scripted_study_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scripted run (2 comparisons × 2 judged pairs) with a bundle for ann and bob."""
    run_dir = tmp_path_factory.mktemp("scripted") / "run"
    run_benchmark(scripted_run(run_dir, scripted_profile()))
    export_bundle(run_dir, annotators=["ann", "bob"], seed=3, announce=lambda note: None)
    return run_dir


@pytest.fixture
def scripted_study(scripted_study_template: Path, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(scripted_study_template, run_dir)
    return run_dir


def expected_outcome(entry: KeyEntry, choice: int) -> str:
    return "win" if (choice == 1) == (entry.candidate_1_is == "a") else "loss"


def test_attach_round_trip_on_judge_logs(scripted_study: Path):
    run_dir = scripted_study
    bundle = read_bundle(run_dir)
    logs = sorted((run_dir / "logs" / "judge").glob("*.eval"))
    before = {path.name: read_eval_log(str(path)) for path in logs}
    choices = {}
    with AnnotationStore(HumanFolder(run_dir).database) as store:
        for number, item in enumerate(bundle.items):
            store.append("ann", item.item_id, 1)
            store.append("bob", item.item_id, 1 + number % 2)
            choices[item.item_id] = {"ann": 1, "bob": 1 + number % 2}
        changed = bundle.items[0].item_id
        store.append("ann", changed, 2)
        choices[changed]["ann"] = 2

    summary = attach_human_scores(run_dir)
    assert (summary.items, summary.answers, summary.missing) == (4, 8, 0)
    assert summary.changes == 1 and summary.logs_written == 2

    for path in logs:
        log, old = read_eval_log(str(path)), before[path.name]
        assert log.status == "success" and log.eval.metadata == old.eval.metadata
        for sample, old_sample in zip(log.samples, old.samples, strict=True):
            assert list(sample.scores)[0] == "llm_judge"
            assert sample.scores["llm_judge"] == old_sample.scores["llm_judge"]
            human = sample.scores["human"]
            item_id = human.metadata["item_id"]
            entry = bundle.key[item_id]
            assert (entry.judge_log, entry.sample_id) == (path.name, str(sample.id))
            assert human.value == {
                name: expected_outcome(entry, choice) for name, choice in choices[item_id].items()
            }
            history = human.metadata["history"]
            assert len(history) == (3 if item_id == changed else 2)
            assert all(row["outcome"] == expected_outcome(entry, row["choice"]) for row in history)
        policy = "inconsistent_is_tie"
        assert read_comparison(log, policy).outcomes() == read_comparison(old, policy).outcomes()

    digests = [hashlib.sha256(path.read_bytes()).hexdigest() for path in logs]
    assert attach_human_scores(run_dir).logs_written == 0
    assert [hashlib.sha256(path.read_bytes()).hexdigest() for path in logs] == digests

    # the pipeline still recognizes the judge logs by their key and reuses them
    for path in logs:
        header = read_eval_log(str(path), header_only=True)
        assert header.eval.metadata == before[path.name].eval.metadata
    again = scripted_run(run_dir, scripted_profile())
    run_benchmark(again)
    assert again.recomputed_nothing
    assert [hashlib.sha256(path.read_bytes()).hexdigest() for path in logs] == digests

    study = read_judged_items(run_dir, logs)
    assert study is not None and len(study.items) == 4
    assert study.annotators == ["ann", "bob"] and study.judge == "prefbench-mock/judge"
    section = agreement_section(run_dir, logs, seed=0)
    # the scripted judge always answers "1": each pair is a tie, never agreeing with a human
    assert section["items"] == 4 and section["answers"] == 8
    per_annotator = section["human_llm"]["per_annotator"]
    assert all(row["raw_agreement"] == 0.0 and row["llm_ties"] == 4 for row in per_annotator)
    assert all(row["llm_win_rate"] == 0.5 for row in section["comparisons"])


def test_agreement_is_empty_before_any_answer(scripted_study: Path):
    logs = sorted((scripted_study / "logs" / "judge").glob("*.eval"))
    assert agreement_section(scripted_study, logs, seed=0) == {}
    attach_human_scores(scripted_study)
    assert agreement_section(scripted_study, logs, seed=0) == {}


def test_missing_judge_log_names_the_fix(scripted_study: Path):
    entry = next(iter(read_bundle(scripted_study).key.values()))
    (scripted_study / "logs" / "judge" / entry.judge_log).unlink()
    with pytest.raises(PrefbenchInputError, match="is missing") as error:
        attach_human_scores(scripted_study)
    assert "prefbench human export" in str(error.value)


def test_import_and_agreement_commands(scripted_study: Path, tmp_path: Path):
    app = typer.Typer()
    app.command("import")(import_answers_command)
    app.command("agreement")(agreement_command)
    bundle = read_bundle(scripted_study)
    lines = ["annotator,item_id,choice"]
    for number, item in enumerate(bundle.items):
        lines += [f"ann,{item.item_id},1", f"cy,{item.item_id},{1 + number % 2}"]
    answers = write(tmp_path / "study.csv", "\n".join(lines) + "\n")
    runner = CliRunner()

    refused = runner.invoke(app, ["import", "--run", str(scripted_study), str(answers)])
    assert isinstance(refused.exception, PrefbenchInputError) and "cy" in str(refused.exception)
    imported = runner.invoke(
        app, ["import", "--run", str(scripted_study), str(answers), "--add-annotators"]
    )
    assert imported.exit_code == 0, imported.output
    assert re.search(r"bob\s+4\s", imported.output)  # missing answers per annotator

    result = runner.invoke(app, ["agreement", "--run", str(scripted_study), "--format", "json"])
    assert result.exit_code == 0, result.output
    section = json.loads((scripted_study / "report.json").read_text())["agreement"]
    assert json.loads(result.output) == section
    assert "Human evaluation" in (scripted_study / "report.md").read_text()
    assert section["annotators"] == ["ann", "bob", "cy"]
    assert section["answers"] == 8 and section["missing"] == 4  # bob never answered
    pair = section["human_human"]["pairs"][1]
    assert (pair["annotator_1"], pair["annotator_2"], pair["n"]) == ("ann", "cy", 4)
    assert pair["raw_agreement"] == pytest.approx(0.5)
