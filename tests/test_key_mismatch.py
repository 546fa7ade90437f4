"""A log written under other inputs is kept and named, with what differs, when a stage reruns.

A log copied from another contributor's run folder, or one written before an input changed,
is not reused; the warning says which log and which named inputs of its key differ (each
log's metadata holds them: `prefbench_key_parts`). On the offline scripted model.
"""

import shutil
from pathlib import Path

import pytest

from prefbench.harness.log_reads import log_header
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.stage_runner import KEY_PARTS_FIELD, STAGE_FIELD
from tests.helpers import scripted_profile, scripted_run


def stage_logs(run_dir: Path, kind: str) -> dict[str, Path]:
    """The logs of `logs/<kind>/` by stage name."""
    return {
        (log_header(path).eval.metadata or {})[STAGE_FIELD]: path
        for path in (run_dir / "logs" / kind).glob("*.eval")
    }


def printed(context) -> str:
    return " ".join(context.console.file.getvalue().split())


@pytest.fixture(scope="module")
def contributor_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another contributor's finished run folder (few-shot with k = 1)."""
    profile = scripted_profile()
    profile["generation"] = {"few_shot_k": 1}
    run_dir = tmp_path_factory.mktemp("contributor") / "run"
    run_benchmark(scripted_run(run_dir, profile))
    return run_dir


def test_every_log_names_the_inputs_of_its_key(contributor_run: Path):
    metadata = log_header(stage_logs(contributor_run, "gen")["gen-few_shot"]).eval.metadata
    parts = metadata[KEY_PARTS_FIELD]
    assert parts["options.k"] == 1 and parts["system"] == "few_shot"
    assert parts["role large.model"] == "prefbench-mock/large"
    assert len(parts["split"]) == 16 and len(parts["records"]) == 16


def test_a_copied_log_of_other_inputs_is_named_and_kept(contributor_run: Path, tmp_path: Path):
    run_dir = tmp_path / "mine"
    context = scripted_run(run_dir, scripted_profile())  # few-shot with the default k = 3
    foreign = stage_logs(contributor_run, "gen")["gen-few_shot"]
    (run_dir / "logs" / "gen").mkdir(parents=True)
    copied = run_dir / "logs" / "gen" / foreign.name
    shutil.copy2(foreign, copied)

    run_benchmark(context)
    output = printed(context)
    warning = f"warning: gen-few_shot: {copied} was written under other inputs"
    assert output.count(warning) == 1, output
    assert "options.k: 1 → 3" in output
    few_shot_logs = [
        path
        for path in (run_dir / "logs" / "gen").glob("*.eval")
        if (log_header(path).eval.metadata or {})[STAGE_FIELD] == "gen-few_shot"
    ]
    assert copied in few_shot_logs and len(few_shot_logs) == 2  # kept, beside its own

    again = scripted_run(run_dir, scripted_profile())
    run_benchmark(again)
    assert "written under other inputs" not in printed(again)  # its own log matches now


def test_a_log_of_another_split_says_so(contributor_run: Path, tmp_path: Path):
    run_dir = tmp_path / "other-split"
    profile = scripted_profile(generation={"few_shot_k": 1})
    profile["dataset"] = {**profile["dataset"], "test_fraction": 0.4}
    shutil.copytree(contributor_run / "logs" / "gen", run_dir / "logs" / "gen")
    context = scripted_run(run_dir, profile)
    run_benchmark(context)
    output = printed(context)
    for system in profile["systems"]:
        assert output.count(f"warning: gen-{system}: ") == 1, output
    assert "split: " in output and "records: " in output
    assert "options.k" not in output  # the same k: only what differs is named
