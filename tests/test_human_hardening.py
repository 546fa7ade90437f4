"""The human commands against a corrupt log, hostile input files and a misbehaving clock
(issue 23, items 2, 3, 4, 6, 7 and 8).

Each test failed on 9f50137: `human export|import|agreement` crashed on a truncated judge log
(`import` after committing its answers), an answer imported 4 minutes in the future beat a
later answer given on the page, deep JSON raised `RecursionError`, a recursive view hung the
import, a FIFO was "missing", a `.csv` link was followed and echoed, the token files were
0644, a re-export needed a restart, and a full disk answered a bare 500.
"""

import os
import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from inspect_ai.log import read_eval_log

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.harness.report.file import read_report
from prefbench.human_eval import importers
from prefbench.human_eval.agreement import agreement_section
from prefbench.human_eval.attach import attach_human_scores
from prefbench.human_eval.bundle import Bundle, item_order_for, read_bundle
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.importers import import_files, read_answers_file
from prefbench.human_eval.server import create_app
from prefbench.human_eval.store import AnnotationStore
from tests.helpers import run_cli
from tests.human_fixtures import judged_run

DEEP = "[" * 100_000


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, Bundle]:
    run = judged_run(tmp_path / "run", {"naive_finetune": 3, "few_shot": 2})
    return run, export_bundle(run, annotators=["alice", "bob"], seed=1, announce=lambda _: None)


def rows(run: Path) -> int:
    database = HumanFolder(run).database
    if not database.exists():
        return 0
    with AnnotationStore(database) as store:
        return store.count()


def answers_csv(path: Path, bundle: Bundle, when: str = "2026-01-02T00:00:00Z") -> Path:
    lines = ["annotator,item_id,choice,answered_at"]
    lines += [f"alice,{item_id},1,{when}" for item_id in bundle.key]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def judge_logs(run: Path) -> list[Path]:
    return sorted((run / "logs" / "judge").glob("*.eval"))


def truncate(path: Path) -> bytes:
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return content


@pytest.fixture
def cli(monkeypatch, capsys):
    """`prefbench ARGS` in-process: (exit code, everything it printed, on one line)."""

    def invoke(*arguments: object) -> tuple[int, str]:
        code, output = run_cli(monkeypatch, capsys, *(str(argument) for argument in arguments))
        return code, " ".join(output.split())

    return invoke


def human_values(run: Path) -> list[dict]:
    return [
        sample.scores["human"].value
        for path in judge_logs(run)
        for sample in read_eval_log(str(path)).samples or []
        if sample.scores and "human" in sample.scores
    ]


# item 2: one truncated judge log


def test_export_moves_a_truncated_judge_log_aside_and_uses_the_others(tmp_path: Path, cli) -> None:
    run = judged_run(tmp_path / "run", {"naive_finetune": 3, "few_shot": 2})
    victim = judge_logs(run)[0]
    truncate(victim)
    code, output = cli("human", "export", "--run", run, "--annotator", "alice")
    assert code == 0, output
    moved = run / "corrupt" / "logs" / "judge" / victim.name
    assert moved.exists() and not victim.exists()
    assert "is corrupt" in output
    assert {entry.judge_log for entry in read_bundle(run).key.values()} == {judge_logs(run)[0].name}


def test_import_with_a_corrupt_judge_log_writes_nothing_then_follows_the_redone_log(
    study, tmp_path: Path, cli
) -> None:
    run, bundle = study
    answers = answers_csv(tmp_path / "answers.csv", bundle)
    victim = judge_logs(run)[0]
    content = truncate(victim)
    code, output = cli("human", "import", "--run", run, answers)
    assert code == 2, output
    assert (run / "corrupt" / "logs" / "judge" / victim.name).exists()
    assert rows(run) == 0 and not list(HumanFolder(run).imports_dir.glob("*"))
    assert "nothing was imported" in output

    # `prefbench run` redoes the judge stage from the cache: the same pairs, a new log name
    redone = victim.with_name("2026-02-01T00-00-00-00-00_pairwise-comparison_redone.eval")
    redone.write_bytes(content)
    code, output = cli("human", "import", "--run", run, answers)
    assert code == 0, output
    assert rows(run) == len(bundle.key)
    relinked = read_bundle(run)
    assert victim.name not in {entry.judge_log for entry in relinked.key.values()}
    assert redone.name in {entry.judge_log for entry in relinked.key.values()}
    assert all(value == {"alice": value["alice"]} for value in human_values(run))
    assert len(human_values(run)) == len(bundle.key)


def test_a_replacement_log_with_other_texts_is_not_taken(study, tmp_path: Path) -> None:
    run, bundle = study
    victim = judge_logs(run)[0]
    truncate(victim)
    other = judged_run(tmp_path / "other", {"naive_finetune": 3}, candidate_b="changed text")
    [changed] = judge_logs(other)
    changed.rename(run / "logs" / "judge" / "2026-03-01_pairwise-comparison_changed.eval")
    with pytest.raises(PrefbenchInputError, match="is missing or was corrupt"):
        import_files(run, [answers_csv(tmp_path / "answers.csv", bundle)])
    assert rows(run) == 0


def test_a_failing_attach_step_commits_no_answer(study, tmp_path: Path, monkeypatch) -> None:
    run, bundle = study
    answers = answers_csv(tmp_path / "answers.csv", bundle)
    before = [path.read_bytes() for path in judge_logs(run)]

    def disk_full(*args, **kwargs) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("prefbench.human_eval.attach.write_eval_log", disk_full)
    with pytest.raises(OSError):
        importers.import_answers(run, [answers])
    assert rows(run) == 0
    assert [path.read_bytes() for path in judge_logs(run)] == before
    assert not list(HumanFolder(run).imports_dir.glob("*"))
    assert not [p for p in (run / "logs" / "judge").iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    outcome = importers.import_answers(run, [answers])
    assert outcome.files[0].appended == rows(run) == len(bundle.key)
    assert outcome.attached.answers == len(bundle.key)


def test_agreement_moves_a_corrupt_log_aside_instead_of_crashing(study) -> None:
    run, _ = study
    attach_human_scores(run)
    victim = judge_logs(run)[0]
    truncate(victim)
    warnings: list[str] = []
    assert agreement_section(run, [victim], seed=0, announce=warnings.append) == {}
    assert (run / "corrupt" / "logs" / "judge" / victim.name).exists()
    assert warnings and "is corrupt" in warnings[0]


# item 3: the clock


def test_an_answer_imported_minutes_ahead_does_not_beat_a_later_answer_on_the_page(
    study, tmp_path: Path
) -> None:
    run, bundle = study
    ahead = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    first = item_order_for(bundle, "alice")[0]
    answers = tmp_path / "ahead.csv"
    answers.write_text(f"annotator,item_id,choice,answered_at\nalice,{first},1,{ahead}\n")
    import_files(run, [answers])
    client = TestClient(create_app(run))
    token = next(a.token for a in bundle.manifest.annotators if a.name == "alice")
    assert client.get(f"/?token={token}").status_code == 200
    assert "Your answer: candidate 1" in client.get("/item/1").text
    response = client.post("/item/1", data={"item_id": first, "choice": "2"})
    assert response.status_code == 200
    assert "Your answer: candidate 2" in client.get("/item/1").text  # the page ...
    attach_human_scores(run)
    entry = read_bundle(run).key[first]
    expected = "win" if entry.preferred_side(2) == "a" else "loss"
    scored = [
        sample.scores["human"]
        for path in judge_logs(run)
        for sample in read_eval_log(str(path)).samples or []
        if sample.scores and sample.scores.get("human") and sample.scores["human"].value
    ]
    assert [score.value for score in scored] == [{"alice": expected}]  # ... and the statistics


def test_an_answer_further_ahead_than_the_skew_is_refused_naming_row_and_time(
    study, tmp_path: Path, cli
) -> None:
    run, bundle = study
    ahead = (datetime.now(UTC) + timedelta(minutes=6)).isoformat()
    first = next(iter(bundle.key))
    answers = tmp_path / "ahead.csv"
    answers.write_text(f"annotator,item_id,choice,answered_at\nalice,{first},1,{ahead}\n")
    code, message = cli("human", "import", "--run", run, answers)
    assert code == 2, message
    assert "row 2" in message and ahead[:16] in message and "in the future" in message
    assert rows(run) == 0


# item 4: bounded parsing


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("deep.jsonl", DEEP + "\n", "line 1"),
        ("deep.json", DEEP, "nested deeper than"),
        ("deep-object.jsonl", '{"a":' * 100_000 + "\n", "line 1"),
    ],
)
def test_deep_json_in_an_answer_file_is_an_input_error(
    study, tmp_path: Path, cli, name: str, content: str, where: str
) -> None:
    run, _ = study
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code, output = cli("human", "import", "--run", run, path)
    assert code == 2, output
    assert where in output and rows(run) == 0


def test_a_tampered_deep_report_json_is_an_input_error(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    run.report_json.write_text(DEEP, encoding="utf-8")
    with pytest.raises(PrefbenchInputError, match="is corrupt .*nested deeper"):
        read_report(run)


def test_deep_bundle_files_are_input_errors(study) -> None:
    run, _ = study
    HumanFolder(run).key_json.write_text(DEEP, encoding="utf-8")
    with pytest.raises(PrefbenchInputError, match="key.json is not valid JSON"):
        read_bundle(run)


# item 6: SQLite imports read tables only, in bounded time


def test_a_database_whose_answers_is_a_recursive_view_is_refused(study, tmp_path: Path) -> None:
    run, _ = study
    path = tmp_path / "view.sqlite"
    connection = sqlite3.connect(path)
    connection.executescript(
        "CREATE VIEW answers(answer_id, annotator, item_id, choice, answered_at) AS "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
        "SELECT i, 'alice', 'item-0001', 1, NULL FROM n;"
    )
    connection.close()
    finished = []

    def attempt() -> None:
        try:
            read_answers_file(path)
        except PrefbenchInputError as error:
            finished.append(str(error))

    reader = threading.Thread(target=attempt, daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert finished, "the import hung on the view"
    assert "'answers' is a view" in finished[0]


def test_reading_a_database_is_given_up_after_the_time_limit(
    study, tmp_path: Path, monkeypatch
) -> None:
    run, bundle = study
    path = tmp_path / "big.sqlite"
    with AnnotationStore(path) as store:
        for number in range(3000):
            store.append("alice", next(iter(bundle.key)), 1 + number % 2)
    monkeypatch.setattr(importers, "SQLITE_SECONDS", 0.0)
    with pytest.raises(PrefbenchInputError, match="took over 0 seconds to read; given up"):
        read_answers_file(path)


# item 7: token files, re-export, a full disk


def test_token_files_are_readable_by_their_owner_only(study) -> None:
    run, _ = study
    previous = os.umask(0o022)
    try:
        export_bundle(run, annotators=["alice", "bob", "carol"], seed=1, announce=lambda _: None)
    finally:
        os.umask(previous)
    for path in (HumanFolder(run).bundle_json, HumanFolder(run).key_json):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_annotator_added_by_re_exporting_signs_in_without_a_restart(study) -> None:
    run, _ = study
    client = TestClient(create_app(run))
    bundle = export_bundle(
        run, annotators=["alice", "bob", "carol"], seed=1, announce=lambda _: None
    )
    token = next(a.token for a in bundle.manifest.annotators if a.name == "carol")
    response = client.get(f"/?token={token}")
    assert response.status_code == 200 and "set-cookie" in response.headers
    assert client.get("/start", follow_redirects=False).headers["location"] == "/instructions"


@pytest.mark.parametrize(
    ("message", "status", "said"),
    [("database or disk is full", 507, "disk is full"), ("database is locked", 503, "right now")],
)
def test_an_answer_that_cannot_be_stored_gets_a_clear_status(
    study, monkeypatch, message: str, status: int, said: str
) -> None:
    run, bundle = study

    def refuse(*args, **kwargs) -> int:
        raise sqlite3.OperationalError(message)

    client = TestClient(create_app(run))
    token = next(a.token for a in bundle.manifest.annotators if a.name == "alice")
    client.get(f"/?token={token}")
    monkeypatch.setattr(AnnotationStore, "append", refuse)
    first = item_order_for(bundle, "alice")[0]
    response = client.post("/item/1", data={"item_id": first, "choice": "1"})
    assert response.status_code == status
    assert "NOT saved" in response.text and said in response.text


# item 8: the smaller ones


def test_a_nul_byte_in_an_item_id_is_shown_in_the_error(study, tmp_path: Path) -> None:
    run, _ = study
    path = tmp_path / "nul.jsonl"
    path.write_text('{"annotator": "alice", "item_id": "item-\\u0000x", "choice": 1}\n')
    with pytest.raises(PrefbenchInputError) as error:
        import_files(run, [path])
    assert "item-\\x00x" in str(error.value)


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_fifo_or_a_folder_given_to_import_is_named_as_such(
    study, tmp_path: Path, kind: str
) -> None:
    run, _ = study
    path = tmp_path / "answers.csv"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    with pytest.raises(PrefbenchInputError) as error:
        read_answers_file(path)
    expected = "a FIFO (named pipe)" if kind == "fifo" else "a folder"
    assert f"is {expected}, not a regular file" in str(error.value)


def test_a_csv_link_is_refused_without_reading_its_target(study, tmp_path: Path, cli) -> None:
    run, _ = study
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:the secret first line\n")
    link = tmp_path / "answers.csv"
    link.symlink_to(secret)
    code, output = cli("human", "import", "--run", run, link)
    assert code == 2, output
    assert "symbolic link" in output and "secret first line" not in output


def test_right_to_left_overrides_are_isolated_on_the_page(tmp_path: Path) -> None:
    evil = "\u202egnp.exe"
    run = judged_run(tmp_path / "run", {"naive_finetune": 2}, candidate_b=evil)
    bundle = export_bundle(run, annotators=["mallory"], seed=1, announce=lambda _: None)
    client = TestClient(create_app(run))
    client.get(f"/?token={bundle.manifest.annotators[0].token}")
    page = client.get("/item/1").text
    assert '<b id="annotator"><bdi>mallory</bdi></b>' in page
    for text_id in ("ground-truth", "candidate-1", "candidate-2"):
        assert f'id="{text_id}" dir="auto"' in page
    assert evil in page  # shown as it is, inside an isolated element
