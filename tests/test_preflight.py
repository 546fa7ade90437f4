"""Every input is checked before anything runs or is planned, and every problem is reported.

Issue 25: the paper dry run planned for 30 minutes before it said that the New Yorker records
file did not exist. Now a run and a dry run list all their problems at once (exit 2): records
files, roles, devices, API keys named by `api_key_env` (named, never printed), system options.
"""

from pathlib import Path

import pytest

from prefbench.harness.preflight import check_inputs, visible_gpus
from prefbench.harness.profile import parse_profile
from tests.helpers import run_cli, scripted_profile

SECRET = "sk-test-never-printed-1234"


def broken_profile(tmp_path: Path) -> dict:
    """Four problems: a missing records file, an unset key, a GPU the machine lacks, an
    unknown system option; and a set key whose value must not show."""
    profile = scripted_profile(
        systems=["small_zero_shot", "few_shot"],
        system_options={"few_shot": {"shots": 4}},
    )
    del profile["dataset"]
    profile["datasets"] = {
        "demo": {"kind": "demo", "personas": 2, "records_per_persona": 5},
        "news": {"kind": "records", "path": str(tmp_path / "news" / "records.jsonl")},
    }
    profile["roles"]["large"] = {"model": "vllm/org/large-model", "devices": [3]}
    profile["roles"]["judge"] = {"model": "openai/gpt-4o", "api_key_env": "PREFBENCH_NO_KEY"}
    profile["roles"]["small"]["api_key_env"] = "PREFBENCH_SET_KEY"
    return profile


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.delenv("PREFBENCH_NO_KEY", raising=False)
    monkeypatch.setenv("PREFBENCH_SET_KEY", SECRET)


@pytest.mark.parametrize("dry_run", [True, False])
def test_every_problem_is_reported_at_once_before_anything_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    write_profile,
    two_gpus: None,
    dry_run: bool,
) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("nothing is planned before the inputs are checked")

    monkeypatch.setattr("prefbench.harness.cost.plan_tables.plan_run", refuse)
    monkeypatch.setattr("prefbench.harness.pipeline.open_run", refuse)
    path = write_profile(broken_profile(tmp_path))
    out = tmp_path / "run"
    args = ["run", "--profile", str(path), "--out", str(out)]
    code, output = run_cli(monkeypatch, capsys, *args, *(["--dry-run"] if dry_run else []))
    text = " ".join(output.split())
    assert code == 2, output
    assert "4 problem(s)" in text
    assert str(tmp_path / "news" / "records.jsonl") in text and "prefbench data prepare" in text
    assert "$PREFBENCH_NO_KEY" in text and "export PREFBENCH_NO_KEY=" in text
    assert "roles.large.devices names GPU(s) [3]" in text and "shows 2" in text
    assert "['shots'] not accepted" in text
    assert SECRET not in output
    assert not out.exists()


def test_a_machine_without_gpus_gets_a_note_not_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    profile = scripted_profile()
    profile["roles"]["large"] = {"model": "vllm/org/large-model", "devices": [3]}
    found = check_inputs(parse_profile(profile, Path("<test profile>")), "<test profile>")
    assert not found.problems
    assert any("shows no GPU" in note for note in found.notes)


def test_visible_gpus_reads_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5,7")
    assert visible_gpus() == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == 0


def test_adapter_systems_need_train_records_of_every_test_user(tmp_path: Path) -> None:
    from prefbench.harness.stages.records import profile_records
    from prefbench.tasks.records import write_records

    profile = scripted_profile(
        systems=["small_zero_shot", "naive_finetune"], reference_system="naive_finetune"
    )
    records = profile_records(parse_profile(profile, Path("<test profile>")))
    lonely = records[0].user
    kept = [r for r in records if not (r.user == lonely and r.split == "train")]
    write_records(tmp_path / "records.jsonl", kept)
    profile["dataset"] = {"kind": "records", "path": str(tmp_path / "records.jsonl")}
    found = check_inputs(parse_profile(profile, Path("<test profile>")), "<test profile>")
    assert any(lonely in problem and "no train records" in problem for problem in found.problems)
