"""Bad input at the command line: exit code 2, a message naming the thing and the fix."""

from pathlib import Path

from tests.helpers import run_cli, scripted_profile


def test_unknown_system_names_it_and_the_known_ones(monkeypatch, capsys, write_profile, tmp_path):
    path = write_profile(scripted_profile(systems=["few_shot", "telepathy"]))
    code, output = run_cli(
        monkeypatch, capsys, "run", "--profile", str(path), "--out", str(tmp_path / "r")
    )
    assert code == 2
    assert "telepathy" in output and "preference_agent" in output and str(path) in output
    assert not (tmp_path / "r").exists()


def test_unknown_role(monkeypatch, capsys, write_profile, tmp_path):
    profile = scripted_profile()
    profile["roles"]["critic"] = {"model": "openai/gpt-4o"}
    code, output = run_cli(
        monkeypatch,
        capsys,
        "run",
        "--profile",
        str(write_profile(profile)),
        "--out",
        str(tmp_path / "r"),
    )
    assert code == 2
    assert "critic" in output and "small" in output


def test_unknown_dataset_kind(monkeypatch, capsys, write_profile, tmp_path):
    profile = scripted_profile(dataset={"kind": "reddit"})
    code, output = run_cli(
        monkeypatch,
        capsys,
        "run",
        "--profile",
        str(write_profile(profile)),
        "--out",
        str(tmp_path / "r"),
    )
    assert code == 2
    assert "dataset.kind" in output and "demo" in output


def test_unknown_profile_name(monkeypatch, capsys):
    code, output = run_cli(monkeypatch, capsys, "run", "--profile", "nonesuch")
    assert code == 2
    assert "nonesuch" in output and "demo" in output


def test_missing_run_folder(monkeypatch, capsys, tmp_path):
    missing = tmp_path / "no-such-run"
    for command in (
        ["generate", "--run", str(missing)],
        ["judge", "--run", str(missing)],
        ["report", "--run", str(missing)],
    ):
        code, output = run_cli(monkeypatch, capsys, *command)
        assert code == 2, command
        assert "no-such-run" in output and "prefbench run" in output
    assert not missing.exists()


def test_llm_judge_without_judge_role(monkeypatch, capsys, write_profile, tmp_path):
    profile = scripted_profile()
    del profile["roles"]["judge"]
    code, output = run_cli(
        monkeypatch,
        capsys,
        "run",
        "--profile",
        str(write_profile(profile)),
        "--out",
        str(tmp_path / "r"),
    )
    assert code == 2
    assert "judge" in output and "similarity" in output


def test_usage_error_is_exit_2(monkeypatch, capsys):
    code, _ = run_cli(monkeypatch, capsys, "run", "--limit", "zero")
    assert code == 2


def test_corrupt_report_json(monkeypatch, capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "profile.yaml").write_text("name: x\n")
    (run / "report.json").write_text("{not json")
    code, output = run_cli(monkeypatch, capsys, "report", "--run", str(run))
    assert code == 2
    assert "report.json" in output and "corrupt" in output


def test_data_prepare_demo_writes_records(monkeypatch, capsys, tmp_path: Path):
    code, output = run_cli(
        monkeypatch,
        capsys,
        "data",
        "prepare",
        "demo",
        "--out",
        str(tmp_path),
        "--users",
        "2",
        "--records-per-user",
        "4",
    )
    assert code == 0
    assert len((tmp_path / "records.jsonl").read_text().splitlines()) == 8
    code, output = run_cli(
        monkeypatch, capsys, "data", "prepare", "demo", "--out", str(tmp_path), "--users", "99"
    )
    assert code == 2 and "99" in output
