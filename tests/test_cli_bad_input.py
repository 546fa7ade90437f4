"""Bad input at the command line: exit code 2, a message naming the thing and the fix."""

from pathlib import Path

import pytest

from tests.helpers import run_cli, scripted_profile


def test_unknown_system_names_it_and_the_known_ones(monkeypatch, capsys, write_profile, tmp_path):
    path = write_profile(scripted_profile(systems=["few_shot", "telepathy"]))
    code, output = run_cli(
        monkeypatch, capsys, "run", "--profile", str(path), "--out", str(tmp_path / "r")
    )
    assert code == 2
    assert "telepathy" in output and "preference_agent" in output and str(path) in output
    assert not (tmp_path / "r").exists()


def add_critic_role(profile: dict) -> None:
    profile["roles"]["critic"] = {"model": "openai/gpt-4o"}


def set_dataset_kind_reddit(profile: dict) -> None:
    profile["dataset"] = {"kind": "reddit"}


def remove_judge_role(profile: dict) -> None:
    del profile["roles"]["judge"]


@pytest.mark.parametrize(
    ("break_profile", "named"),
    [
        (add_critic_role, ("critic", "small")),
        (set_dataset_kind_reddit, ("dataset.kind", "demo")),
        (remove_judge_role, ("judge", "similarity")),  # the llm judge needs the role
    ],
    ids=["unknown_role", "unknown_dataset_kind", "llm_judge_without_judge_role"],
)
def test_bad_profile_names_the_problem(
    monkeypatch, capsys, write_profile, tmp_path, break_profile, named
):
    profile = scripted_profile()
    break_profile(profile)
    path = write_profile(profile)
    code, output = run_cli(
        monkeypatch, capsys, "run", "--profile", str(path), "--out", str(tmp_path / "r")
    )
    assert code == 2
    assert all(word in output for word in named), output


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
