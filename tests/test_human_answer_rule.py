"""One rule for an annotator's current answer (human_eval/store.py `current_answers`),
the import refusals that protect it, and the import graph of human_eval."""

import ast
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from prefbench.core.errors import PrefbenchInputError
from prefbench.human_eval.agreement import agreement_section
from prefbench.human_eval.attach import attach_human_scores, read_judged_items, unblinded_outcome
from prefbench.human_eval.bundle import item_order_for, read_bundle
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.importers import import_files, read_csv_answers
from prefbench.human_eval.server import create_app
from prefbench.human_eval.store import AnnotationStore, Answer, current_answers
from tests.human_fixtures import judged_run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = judged_run(tmp_path / "run", {"naive_finetune": 2})
    export_bundle(run, annotators=["alice"], seed=3)
    return run


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_the_rule_is_latest_time_then_append_order():
    def answer(answer_id: int, choice: int, at: str) -> Answer:
        return Answer(answer_id, "alice", "item-0001", choice, at, "app")

    rows = [
        answer(1, 2, "2026-05-02T10:00:00.000+00:00"),
        answer(2, 1, "2026-05-01T10:00:00.000+00:00"),  # appended later, answered earlier
        answer(3, 1, "2026-05-02T12:00:00+02:00"),  # the same moment as row 1, written otherwise
    ]
    assert current_answers(rows)[("alice", "item-0001")].answer_id == 3
    assert current_answers(rows[:2])[("alice", "item-0001")].answer_id == 1


def test_an_older_import_after_a_newer_app_answer_page_attach_and_agreement_agree(
    run: Path, tmp_path: Path
):
    bundle = read_bundle(run)
    item_id = item_order_for(bundle, "alice")[0]
    token = bundle.manifest.annotators[0].token
    app = TestClient(create_app(run))
    app.get(f"/?token={token}")
    app.post("/item/1", data={"item_id": item_id, "choice": "2"})
    older = write_csv(
        tmp_path / "older.csv",
        [
            ["annotator", "item_id", "choice", "answered_at"],
            ["alice", item_id, "1", "2024-01-01T00:00:00Z"],
        ],
    )
    import_files(run, [older])
    with AnnotationStore(HumanFolder(run).database) as store:
        assert [a.choice for a in store.history()] == [2, 1]  # the import appended last

    assert "Your answer: candidate 2" in app.get("/item/1").text
    attach_human_scores(run)
    logs = sorted((run / "logs" / "judge").glob("*.eval"))
    study = read_judged_items(run, logs)
    expected = unblinded_outcome(bundle.key[item_id], 2)
    [answered] = [item for item in study.items if item.human]
    assert answered.item_id == item_id and answered.human == {"alice": expected}
    section = agreement_section(run, logs, seed=0)
    assert section["answers"] == 1
    [comparison] = section["comparisons"]
    assert comparison["human_win_rate"] == (1.0 if expected == "win" else 0.0)


def test_answers_dated_in_the_future_are_refused_at_import(run: Path, tmp_path: Path):
    item_id = read_bundle(run).items[0].item_id
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    future = write_csv(
        tmp_path / "future.csv",
        [
            ["annotator", "item_id", "choice", "answered_at"],
            ["alice", item_id, "1", "2024-01-01T00:00:00Z"],
            ["alice", item_id, "2", tomorrow],
        ],
    )
    with pytest.raises(PrefbenchInputError) as error:
        import_files(run, [future])
    message = str(error.value)
    assert f"{future}, row 3" in message and "in the future" in message
    assert "leave answered_at empty" in message
    with AnnotationStore(HumanFolder(run).database) as store:
        assert store.count() == 0


@pytest.mark.parametrize(
    ("rows", "where", "problem"),
    [
        (
            [["annotator", "item_id", "choice", "Choice"], ["alice", "item-0001", "1", "2"]],
            "header",
            "appear more than once",
        ),
        (
            [["annotator", "item_id", "choice", "answered_at"], ["alice", "item-0001"]],
            "row 2",
            "2 fields but the header has 4",
        ),
        (
            [["annotator", "item_id", "choice"], ["alice", "item-0001", "1"], ["bob", "x"]],
            "row 3",
            "2 fields but the header has 3",
        ),
    ],
)
def test_csv_shape_errors_name_file_row_and_fix(tmp_path: Path, rows, where, problem):
    path = write_csv(tmp_path / "answers.csv", rows)
    with pytest.raises(PrefbenchInputError) as error:
        read_csv_answers(path)
    message = str(error.value)
    assert f"{path}, {where}" in message and problem in message and "; " in message


def test_a_csv_field_over_128_kib_is_a_clear_error(tmp_path: Path):
    path = write_csv(
        tmp_path / "huge.csv",
        [
            ["annotator", "item_id", "choice"],
            ["alice", "item-0001", "1"],
            ["x" * 140_000, "i", "1"],
        ],
    )
    limit_before = csv.field_size_limit()  # other readers (the corpora) may have raised it
    with pytest.raises(PrefbenchInputError) as error:
        read_csv_answers(path)
    message = str(error.value)
    assert (
        f"{path}, row 3 (line 3)" in message and "131072" in message and "fields short" in message
    )
    assert csv.field_size_limit() == limit_before  # the reader leaves the global limit as it was


def _imports_of(path: Path) -> set[str]:
    """human_eval modules that a module imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("human_eval.")}


def test_human_eval_modules_import_each_other_without_a_circle():
    modules = {
        f"human_eval.{path.stem}": _imports_of(path)
        for path in (REPO / "human_eval").glob("*.py")
        if path.stem != "__init__"
    }
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, " -> ".join([*visiting, module])
        visiting.append(module)
        for imported in modules.get(module, ()):
            visit(imported)
        visiting.pop()
        done.add(module)

    for module in modules:
        visit(module)
