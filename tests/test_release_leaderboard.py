"""A benchmark release, two submissions and a leaderboard on the finished tiny demo run (issue 21).

The release is made from a copy of the finished demo run; two other copies each add one method
and generate only it on SmolLM2 (the plug-in `retrieval_few_shot` from
`examples/prefbench-retrieval`, and the built-in `positive_control`, which the release does not
have), and are submitted. The leaderboard judges exactly the new pairs (each submission against
the reference, both orders; count printed and checked), a second build judges nothing, and bad
input (another split, a changed file, a duplicate, a missing sample, another judge) is refused
with exit 2. The site is checked in Chromium (sorting, links, no request leaving the site).
"""

import io
import json
import shutil
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log
from rich.console import Console

from prefbench.harness.pipeline import generate, prepare_records, run_benchmark
from prefbench.harness.release import make_release, make_submission, read_release
from tests.conftest import DEMO_SYSTEMS, tiny_demo_profile
from tests.helpers import run_cli, scripted_profile, scripted_run

pytestmark = pytest.mark.integration  # the finished tiny demo run (real SmolLM2 and MiniLM)

REFERENCE = "preference_agent"
SUBMITTED = ("retrieval_few_shot", "positive_control")
STAGE_FIELD = "prefbench_stage"


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def file_states(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        path.relative_to(folder).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def stages_in(folder: Path) -> dict[str, str]:
    """Stage name → log file name of every log in a folder."""
    return {
        read_eval_log(str(path), header_only=True).eval.metadata[STAGE_FIELD]: path.name
        for path in folder.glob("*.eval")
    }


def run_with_method(pristine: Path, run_dir: Path, system: str) -> None:
    """A copy of the finished demo run with `system` added and generated (nothing else runs)."""
    shutil.copytree(pristine, run_dir, symlinks=True)
    profile = tiny_demo_profile()
    profile["systems"] = [*DEMO_SYSTEMS, system]
    context = scripted_run(run_dir, profile)
    try:
        generate(context, prepare_records(context), only=system)
        assert context.runner.evals_run == 1  # the new method's generation only
    finally:
        context.runner.close()
        assert context.lock is not None
        context.lock.release()


@pytest.fixture(scope="module")
def published(pristine_demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A release of the demo run and one submission per method of `SUBMITTED`."""
    root = tmp_path_factory.mktemp("published")
    owner = root / "owner"
    shutil.copytree(pristine_demo_run, owner, symlinks=True)
    before = file_states(owner / "logs")
    release = root / "release"
    manifest = make_release(owner, release, quiet())
    assert file_states(owner / "logs") == before  # a release reads the run, changes nothing
    submissions = {}
    for system in SUBMITTED:
        run_dir = root / f"run-{system}"
        run_with_method(pristine_demo_run, run_dir, system)
        submissions[system] = root / f"{system}.json"
        make_submission(release, run_dir, system, submissions[system], quiet())
    return {"root": root, "release": release, "manifest": manifest, "submissions": submissions}


def test_a_release_holds_split_outputs_judge_verdicts_and_report_with_hashes(published):
    release, manifest = published["release"], published["manifest"]
    assert read_release(release) == manifest  # every hash checks
    paths = {entry.path for entry in manifest.files}
    assert {"profile.yaml", "data/records.jsonl", "data/split.json", "judge.json"} <= paths
    assert {"report.json", "report.md"} <= paths
    assert not any(path.startswith(("artifacts/", "cache/")) for path in paths)
    assert not any(path.endswith((".pkl", ".pickle", ".safetensors", ".bin")) for path in paths)
    assert [system.name for system in manifest.systems] == DEMO_SYSTEMS
    assert stages_in(release / "logs" / "gen").keys() == {f"gen-{name}" for name in DEMO_SYSTEMS}
    judged = {f"judge-{REFERENCE}-vs-{name}" for name in DEMO_SYSTEMS if name != REFERENCE}
    assert stages_in(release / "logs" / "judge").keys() == judged
    assert stages_in(release / "logs" / "intents").keys() == {"intents"}
    split = json.loads((release / "data" / "split.json").read_text())
    assert manifest.split.fingerprint == split["fingerprint"]
    assert len(manifest.test_ids) == split["test"] == 2
    assert manifest.judge.name == "similarity" and manifest.judge.tie_policy
    assert manifest.judge.key["judge"] == "similarity"
    print(f"demo release: {sum(entry.bytes for entry in manifest.files):,} bytes")


def test_an_interrupted_release_leaves_nothing(
    published, pristine_demo_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import prefbench.harness.release.release as release_module

    def interrupted(profile):
        raise KeyboardInterrupt

    monkeypatch.setattr(release_module, "judge_spec", interrupted)
    run_dir = tmp_path / "run"
    shutil.copytree(pristine_demo_run, run_dir, symlinks=True)
    out = tmp_path / "releases" / "demo"
    with pytest.raises(KeyboardInterrupt):
        make_release(run_dir, out, quiet())
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no temporary folder left behind either


def test_a_release_or_submission_is_never_overwritten(
    published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    root = published["root"]
    code, output = run_cli(
        monkeypatch,
        capsys,
        "release",
        "--run",
        str(root / "owner"),
        "--out",
        str(published["release"]),
    )
    assert code == 2 and "never overwritten" in output, output
    system = SUBMITTED[0]
    args = ["submit", "--release", str(published["release"]), "--run", str(root / f"run-{system}")]
    code, output = run_cli(
        monkeypatch,
        capsys,
        *args,
        "--system",
        system,
        "--out",
        str(published["submissions"][system]),
    )
    assert code == 2 and "exists" in output, output


def test_a_submission_holds_build_outputs_and_provenance(published):
    manifest = published["manifest"]
    for system, path in published["submissions"].items():
        submission = json.loads(path.read_text())
        assert submission["schema_version"] == 1 and submission["system"] == system
        assert sorted(output["id"] for output in submission["outputs"]) == sorted(manifest.test_ids)
        assert all(output["output"].strip() for output in submission["outputs"])
        assert submission["split_fingerprint"] == manifest.split.fingerprint
        provenance = submission["provenance"]
        assert provenance["split"]["fingerprint"] == manifest.split.fingerprint
        assert provenance["models"]["large"]  # the model's identity (content), not a path
        assert system in submission["profile"]["systems"]
        assert submission["build"] == []  # neither method trains an adapter
    retrieval = json.loads(published["submissions"]["retrieval_few_shot"].read_text())
    assert "prefbench-retrieval" in retrieval["provenance"]["plugins"]


def test_submit_refuses_a_run_on_another_split(
    published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    other = tmp_path / "other-split"
    context = scripted_run(other, scripted_profile())  # the scripted models: another split
    run_benchmark(context)
    assert context.lock is not None
    context.lock.release()
    out = tmp_path / "few_shot.json"
    code, output = run_cli(
        monkeypatch,
        capsys,
        *("submit", "--release", str(published["release"]), "--run", str(other)),
        *("--system", "few_shot", "--out", str(out)),
    )
    assert code == 2, output
    assert "another split" in output and "split.spec.dataset.records_per_persona: 4 → 5" in output
    assert "split.fingerprint" in output and not out.exists()


def test_submit_refuses_an_unknown_system(
    published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
):
    run_dir = published["root"] / f"run-{SUBMITTED[0]}"
    args = ["submit", "--release", str(published["release"]), "--run", str(run_dir)]
    code, output = run_cli(
        monkeypatch, capsys, *args, "--system", "no_such_method", "--out", str(tmp_path / "x.json")
    )
    assert code == 2 and "'no_such_method' is not in" in output, output


def test_the_leaderboard_judges_exactly_the_new_pairs_then_nothing(
    published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    release, manifest = published["release"], published["manifest"]
    submissions = [str(path) for path in published["submissions"].values()]
    site = tmp_path / "site"
    args = ["leaderboard", "--release", str(release), *submissions, "--out", str(site)]
    release_logs = file_states(release)
    code, output = run_cli(monkeypatch, capsys, *args)
    assert code == 0, output
    test_samples = len(manifest.test_ids)
    new = len(SUBMITTED) * test_samples * 2  # each submission vs the reference, both orders
    reused = (len(DEMO_SYSTEMS) - 1) * test_samples * 2
    assert f"new judgments: {new} ({len(SUBMITTED)} pair(s)" in output, output
    assert f"reused: {reused}" in output
    judged = stages_in(site / "work" / "logs" / "judge")
    assert set(judged) == {
        *(f"judge-{REFERENCE}-vs-{name}" for name in DEMO_SYSTEMS if name != REFERENCE),
        *(f"judge-{REFERENCE}-vs-{name}" for name in SUBMITTED),
    }
    for name in DEMO_SYSTEMS[:-1]:  # the release's verdict logs, reused as they are
        if name != REFERENCE:
            assert (release / "logs" / "judge" / judged[f"judge-{REFERENCE}-vs-{name}"]).is_file()
    assert file_states(release) == release_logs  # the release is read, never written

    board = json.loads((site / "leaderboard.json").read_text())
    assert board["schema_version"] == 1 and board["new_judgments"] == new
    (judge,) = board["judges"]
    rows = {row["system"]: row for row in judge["rows"]}
    assert set(rows) == {*DEMO_SYSTEMS, *SUBMITTED}
    for name in SUBMITTED:
        row = rows[name]
        assert row["n"] == test_samples and row["provenance"]["status"] == "submitted"
        assert 0 <= row["ci_low"] <= row["win_rate"] <= row["ci_high"] <= 1
        assert row["rating"] is not None and row["lc_win_rate"] is not None
        assert row["provenance"]["submission_file"] == f"{name}.json"
    assert rows["few_shot"]["provenance"]["status"] == "verified"
    assert rows[REFERENCE]["reference"] and rows[REFERENCE]["win_rate"] is None
    # the release's own numbers are the release report's, seen from each system's side
    report = json.loads((release / "report.json").read_text())
    for comparison in report["comparisons"][manifest.judge.name]:
        row = rows[comparison["system_b"]]
        assert row["win_rate"] == pytest.approx(1 - comparison["win_rate"])
        assert row["n"] == comparison["n"]
    csv_lines = (site / "leaderboard.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(rows) and csv_lines[0].startswith("judge,system")
    markdown = (site / "leaderboard.md").read_text()
    assert all(f"| {name}" in markdown for name in SUBMITTED)
    page = (site / "systems" / "retrieval_few_shot.html").read_text()
    assert "Sampled pairs against preference_agent" in page and "submitted" in page

    before = file_states(site / "work")
    code, output = run_cli(monkeypatch, capsys, *args)
    assert code == 0, output
    assert "new judgments: 0 (0 pair(s)" in output and f"reused: {new + reused}" in output
    assert file_states(site / "work") == before  # nothing judged, generated or rewritten
    again = json.loads((site / "leaderboard.json").read_text())
    assert again["judges"] == board["judges"]


def copied_submission(published, tmp_path: Path, change) -> Path:
    path = published["submissions"][SUBMITTED[0]]
    document = json.loads(path.read_text())
    change(document)
    copy = tmp_path / path.name
    copy.write_text(json.dumps(document))
    return copy


def leaderboard_refusal(published, site: Path, monkeypatch, capsys, *submissions: Path) -> str:
    args = ["leaderboard", "--release", str(published["release"]), "--out", str(site)]
    code, output = run_cli(monkeypatch, capsys, *args, *(str(path) for path in submissions))
    assert code == 2, output
    assert not site.exists()  # refused before anything was written
    return output


def test_the_leaderboard_refuses_a_submission_of_another_split(
    published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    def other_split(document):
        document["split_fingerprint"] = "0" * 64

    copy = copied_submission(published, tmp_path, other_split)
    output = leaderboard_refusal(published, tmp_path / "site", monkeypatch, capsys, copy)
    assert f"submission {copy} was made on another split: split_fingerprint" in output
    assert "0" * 64 in output


def test_the_leaderboard_refuses_missing_samples_duplicates_and_bad_schema(
    published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    missing = copied_submission(published, tmp_path, lambda document: document["outputs"].pop())
    output = leaderboard_refusal(published, tmp_path / "a", monkeypatch, capsys, missing)
    assert "do not match the release's 2 test samples: missing" in output

    original = published["submissions"][SUBMITTED[0]]
    output = leaderboard_refusal(published, tmp_path / "b", monkeypatch, capsys, original, original)
    assert f"system '{SUBMITTED[0]}' is in submission {original} already" in output

    def renamed(document):
        document["system"] = "few_shot"  # a release system's name

    clash = copied_submission(published, tmp_path, renamed)
    output = leaderboard_refusal(published, tmp_path / "c", monkeypatch, capsys, clash)
    assert "system 'few_shot' is in the release already" in output

    def newer(document):
        document["schema_version"] = 2

    future = copied_submission(published, tmp_path, newer)
    output = leaderboard_refusal(published, tmp_path / "d", monkeypatch, capsys, future)
    assert "does not follow its schema: field schema_version" in output


def test_the_leaderboard_refuses_a_changed_release_or_another_judge(
    published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    tampered = tmp_path / "tampered"
    shutil.copytree(published["release"], tampered)
    gen_log = tampered / published["manifest"].systems[0].generation_log
    gen_log.write_bytes(gen_log.read_bytes() + b"\0")
    submission = published["submissions"][SUBMITTED[0]]
    args = ["leaderboard", "--release", str(tampered), str(submission)]
    code, output = run_cli(monkeypatch, capsys, *args, "--out", str(tmp_path / "site"))
    assert code == 2 and f"{gen_log} was changed after the release was made" in output, output

    other_judge = tmp_path / "other-judge"
    shutil.copytree(published["release"], other_judge)
    manifest_path = other_judge / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["judge"]["key"]["judge_prompts"] = [["email:judge", "1" * 64]]
    manifest_path.write_text(json.dumps(manifest))
    args = ["leaderboard", "--release", str(other_judge), str(submission)]
    code, output = run_cli(monkeypatch, capsys, *args, "--out", str(tmp_path / "site2"))
    assert code == 2 and "the judge 'similarity' here is not the release's" in output, output
    assert "judge_prompts" in output
