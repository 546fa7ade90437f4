"""A corpus from another package, found through its entry point and prepared by the CLI.

The plug-in is the example package `examples/prefbench-jsonl-corpus` (`make install` installs
it), named by no prefbench file.
"""

import json
import sys
from pathlib import Path

import pytest

from prefbench.core import plugins
from prefbench.scorers.judge_prompts import judge_template_for
from prefbench.tasks.corpora import registry
from prefbench.tasks.records import read_records
from prefbench.tasks.samples import record_to_sample
from tests.helpers import run_cli

PLUGIN_MODULE = "prefbench_jsonl_corpus.jsonl_articles"


@pytest.fixture
def plugin_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example corpus package, installed but not imported yet (undone afterwards)."""
    monkeypatch.setattr(registry, "_CORPORA", dict(registry._CORPORA))
    monkeypatch.setattr(plugins, "_loaded", set())
    registry._CORPORA.pop("jsonl_articles", None)
    monkeypatch.delitem(sys.modules, PLUGIN_MODULE, raising=False)


def write_articles(path: Path, *, bad_line: bool = False) -> Path:
    rows = [
        {"id": f"{author[0]}{n}", "date": f"2020-01-{n + 1:02d}", "text": f"{author} {n}"}
        | {"author": author, "title": f"T{n}"}
        for author in ("ann", "bob")
        for n in range(4)
    ]
    lines = [json.dumps(row) for row in rows]
    lines.insert(2, json.dumps({"id": "x", "date": "2020-02-01", "text": "nobody wrote this"}))
    if bad_line:
        lines.insert(5, "{not json")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_plugin_corpus_is_prepared_and_its_samples_are_articles(
    plugin_installed, monkeypatch, capsys, tmp_path: Path
):
    assert PLUGIN_MODULE not in sys.modules  # nothing but the entry point imports it
    source, out = write_articles(tmp_path / "articles.jsonl"), tmp_path / "out"
    code, output = run_cli(
        monkeypatch,
        capsys,
        *("data", "prepare", "jsonl_articles", "--source", str(source), "--out", str(out)),
        *("--min-records", "2", "--option", "user_key=author"),
    )
    assert code == 0, output
    assert "prepared jsonl_articles" in output and "dropped: no_user" in output
    records = read_records(out / "records.jsonl")
    assert {record.dataset for record in records} == {"jsonl_articles"}
    assert {record.user for record in records} == {"ann", "bob"}
    assert [record.split for record in records if record.user == "ann"].count("test") == 1
    assert records[0].id == "jsonl-a0" and records[0].metadata == {
        "title": "T0",
        "date": "2020-01-01T00:00:00+00:00",
    }
    report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
    assert report["dropped"] == {"no_user": 1}
    assert report["settings"]["user_key"] == "author"

    sample = record_to_sample(records[0].model_copy(update={"intent": "an article"}))
    assert sample.metadata["text_kind"] == "article"
    assert judge_template_for(sample.metadata["text_kind"]) == "article:judge"

    code, output = run_cli(monkeypatch, capsys, "data", "corpora")
    assert code == 0 and "jsonl_articles" in output and "user_key" in output


def test_plugin_options_and_strict_mode_are_checked(
    plugin_installed, monkeypatch, capsys, tmp_path: Path
):
    source = write_articles(tmp_path / "articles.jsonl", bad_line=True)
    common = ("data", "prepare", "jsonl_articles", "--source", str(source), "--min-records", "2")
    code, output = run_cli(
        monkeypatch, capsys, *common, "--out", str(tmp_path / "a"), "--option", "colour=red"
    )
    assert code == 2 and "colour" in output and "user_key" in output
    code, output = run_cli(
        monkeypatch, capsys, *common, "--out", str(tmp_path / "b"), "-o", "user_key=author"
    )
    assert code == 0 and "dropped: bad_row" in output
    code, output = run_cli(
        monkeypatch,
        capsys,
        *common,
        *("--out", str(tmp_path / "c"), "-o", "user_key=author", "--strict"),
    )
    assert code == 2 and "line 6" in output and "--strict" in output
    assert not (tmp_path / "c").exists()
