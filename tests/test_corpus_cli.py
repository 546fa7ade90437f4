"""`prefbench data prepare enron` / `data stats` on the real sample, and a run on its records."""

import json
from pathlib import Path

from prefbench.harness.pipeline import generate, prepare_records
from tests.helpers import run_cli, scripted_profile, scripted_run


def prepare_enron(monkeypatch, capsys, source: Path, out: Path, *options: str) -> tuple[int, str]:
    """`prefbench data prepare enron --source SOURCE --out OUT OPTIONS`: exit code, output."""
    command = ["data", "prepare", "enron", "--source", str(source), "--out", str(out), *options]
    return run_cli(monkeypatch, capsys, *command)


def test_prepare_and_stats_on_the_real_sample(monkeypatch, capsys, shared_data, tmp_path):
    maildir = shared_data / "enron-sample" / "maildir"
    out = tmp_path / "enron"
    code, output = prepare_enron(monkeypatch, capsys, maildir, out, "--users", "3", "--seed", "1")
    assert code == 0, output
    assert "forward_only" in output and "users kept" in output
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len({r["user"] for r in records}) == 3
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["dropped"]["forward_only"] > 0
    code, output = run_cli(monkeypatch, capsys, "data", "stats", str(out))
    assert code == 0 and "p10/p50/p90" in output and "records per user" in output


def test_prepare_needs_a_source_and_a_known_dataset(monkeypatch, capsys, tmp_path):
    code, output = run_cli(monkeypatch, capsys, "data", "prepare", "enron", "--out", str(tmp_path))
    assert code == 2 and "--source" in output
    code, output = run_cli(monkeypatch, capsys, "data", "prepare", "reddit", "--out", str(tmp_path))
    assert code == 2 and "reddit" in output
    missing = tmp_path / "nowhere"
    code, output = prepare_enron(monkeypatch, capsys, missing, tmp_path / "o")
    assert code == 2 and "nowhere" in output
    assert not (tmp_path / "o" / "records.jsonl").exists()


def test_a_profile_can_point_at_prepared_records(monkeypatch, capsys, shared_data, tmp_path: Path):
    out = tmp_path / "enron"
    maildir = shared_data / "enron-sample" / "maildir"
    code, output = prepare_enron(monkeypatch, capsys, maildir, out, "--users", "2")
    assert code == 0, output
    profile = scripted_profile(dataset={"kind": "records", "path": str(out / "records.jsonl")})
    context = scripted_run(tmp_path / "run", profile)
    records = prepare_records(context)
    assert {r.dataset for r in records} == {"enron"} and all(r.intent for r in records)
    logs = generate(context, records, only="small_zero_shot")
    samples = logs["small_zero_shot"].read().samples
    assert len(samples) == sum(r.split == "test" for r in records)
