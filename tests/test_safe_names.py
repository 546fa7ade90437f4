"""Identifiers that become paths never lead outside the run folder (issue 23, item 1).

Before: a record whose `user` was `../../../victim` trained into, and `install_user_artifacts`
moved aside and deleted, a folder beside the run folder. Now every id becomes a safe name
(`prefbench.core.safe_names`), the folder-replacing helpers refuse a target outside their
root, and a hypothesis property drives the real write/replace/remove helpers with arbitrary
strings next to a sentinel folder.
"""

import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefbench.core.atomic import atomic_version, remove_old_versions
from prefbench.core.safe_names import (
    SAFE_NAME_LIMIT,
    PathOutsideRoot,
    inside,
    is_safe_name,
    safe_child,
    safe_name,
)
from prefbench.solvers.training.manifest import (
    ADAPTER_FOLDER,
    AdapterManifest,
    install_user_artifacts,
    installed_manifests,
    read_manifest,
    tidy_user_artifacts,
    user_artifacts,
    user_checkpoints,
    write_manifest,
)
from prefbench.solvers.training.training import ensure_user_adapter
from prefbench.tasks.corpora.enron_reader import RawMessage, SourceProblem, iter_tar
from tests.helpers import run_cli, scripted_profile
from tests.test_crash_safety import SYSTEM, build_context, examples

HOSTILE = [
    "",
    ".",
    "..",
    "../../../victim",
    "../../../../escaped_user",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "\x00",
    "ava\x00../x",
    ".versions",
    ".checkpoints",
    "CON",
    "nul.txt",
    "Alice",
    "alice",
    "ALICE",
    "\u202eevil",
    "Jane Doe/John Roe",
    "x" * 1000,
    "é" * 300,
    "\ud800",
    "-",
    "~",
    "$HOME",
]
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
IDENTIFIERS = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=80),
    st.text(alphabet=st.sampled_from("./\\\x00aZ-_ é"), max_size=20),
    st.text(min_size=200, max_size=400),
)


def manifest_for(system: str, user: str) -> AdapterManifest:
    return AdapterManifest(
        system=system,
        user=user,
        base_model="fake-base",
        input_hash="0" * 64,
        settings={},
        examples=1,
        losses=[1.0],
        steps=1,
        seconds=0.0,
    )


@pytest.mark.parametrize("name", ["allen-p", "naive_finetune", "demo", "ava", "new_yorker"])
def test_a_safe_id_maps_to_itself_so_existing_run_folders_keep_their_paths(name: str) -> None:
    assert is_safe_name(name) and safe_name(name) == name


def test_an_email_address_is_its_own_name() -> None:
    assert safe_name("phillip.allen@enron.com") == "phillip.allen@enron.com"


@pytest.mark.parametrize("identifier", HOSTILE)
def test_every_other_id_becomes_a_readable_slug_and_a_hash(identifier: str) -> None:
    name = safe_name(identifier)
    assert is_safe_name(name)
    assert name not in ("", ".", "..") and "/" not in name and "\\" not in name
    assert name == name.lower() and len(name) <= SAFE_NAME_LIMIT
    assert safe_name(name) == name


def test_the_slug_stays_readable_and_case_variants_do_not_collide() -> None:
    assert safe_name("Jane Doe").startswith("jane-doe-")
    assert safe_name("../../x").startswith("x-")
    variants = {safe_name(name) for name in ("Alice", "alice", "ALICE", "alice ")}
    assert len(variants) == 4
    assert len({safe_name(name).lower() for name in ("Alice", "ALICE")}) == 2


@FUZZ
@given(IDENTIFIERS)
def test_safe_name_of_any_string_is_safe_idempotent_and_stable(identifier: str) -> None:
    name = safe_name(identifier)
    assert is_safe_name(name), repr(name)
    assert name.isascii() and name == name.lower()
    assert 1 <= len(name) <= SAFE_NAME_LIMIT
    assert safe_name(name) == name and safe_name(identifier) == name
    assert not name.startswith(".") and name not in (".", "..")


def tree(root: Path) -> dict[str, bytes | str]:
    """Every path under `root` with its content (a file), link target or '<dir>'."""
    found: dict[str, bytes | str] = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[key] = "<dir>"
            else:
                found[key] = path.read_bytes()
    return found


def outside(workspace: Path) -> dict[str, bytes | str]:
    """What lies in `workspace` outside its `run/` folder."""
    return {key: value for key, value in tree(workspace).items() if not key.startswith("run")}


def sentinel_workspace(folder: Path) -> Path:
    """`folder` with `run/` and, beside it, `victim/` and `escaped_user/` holding a file."""
    (folder / "run").mkdir()
    for name in ("victim", "escaped_user"):
        (folder / name).mkdir()
        (folder / name / "keep.txt").write_text("sentinel")
    (folder / "victim.txt").write_text("sentinel")
    return folder


def use_every_artifact_helper(run: Path, system: str, user: str) -> None:
    """Write, replace, tidy and remove a user's artifacts the way a build does."""
    for marker in ("first", "second"):  # a second install replaces the first
        with install_user_artifacts(run, system, user) as version:
            (version / ADAPTER_FOLDER).mkdir()
            (version / ADAPTER_FOLDER / "adapter_config.json").write_text(marker)
            write_manifest(version, manifest_for(system, user))
    tidy_user_artifacts(run, system, user)
    checkpoints = user_checkpoints(run, system, user)
    checkpoints.mkdir(parents=True)
    (checkpoints / "step-1").write_text("state")
    assert read_manifest(run, system, user).user == user
    assert (user_artifacts(run, system, user) / ADAPTER_FOLDER / "adapter_config.json").read_text()
    shutil.rmtree(checkpoints)


RECORD_IDS = IDENTIFIERS.filter(lambda text: "\ud800" not in text)
"""Ids a records file can hold (its reader refuses lone surrogates)."""


@settings(FUZZ, max_examples=40)
@given(system=RECORD_IDS, user=RECORD_IDS)
def test_nothing_is_created_or_removed_outside_the_run_folder(system: str, user: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workspace = sentinel_workspace(Path(folder))
        before = outside(workspace)
        use_every_artifact_helper(workspace / "run", system, user)
        assert outside(workspace) == before
        manifests = installed_manifests(workspace / "run")
        assert [(m.system, m.user) for m in manifests] == [(system, user)]


def test_install_user_artifacts_of_a_traversing_user_leaves_the_victim_folder(
    tmp_path: Path,
) -> None:
    """The issue's reproduction: before, `victim/` was moved aside and deleted."""
    workspace = sentinel_workspace(tmp_path)
    run = workspace / "run"
    (run / "artifacts" / "naive_finetune").mkdir(parents=True)
    with install_user_artifacts(run, "naive_finetune", "../../../victim") as version:
        (version / "adapter").mkdir()
    assert (workspace / "victim" / "keep.txt").read_text() == "sentinel"
    [installed] = (run / "artifacts" / "naive_finetune").glob("victim-*")
    assert installed.is_symlink() and installed.resolve().is_relative_to(run.resolve())


def test_a_record_user_that_climbs_out_trains_into_the_run_folder(tmp_path: Path) -> None:
    """A build of a user `../../../../escaped_user` writes its adapter inside the run."""
    workspace = sentinel_workspace(tmp_path)
    run = workspace / "run" / "a" / "b"
    run.mkdir(parents=True)
    user = "../../../../escaped_user"
    manifest, trained = ensure_user_adapter(build_context(run), SYSTEM, user, examples("new"))
    assert trained and manifest.user == user
    assert outside(workspace) == {
        "victim": "<dir>",
        "victim/keep.txt": b"sentinel",
        "escaped_user": "<dir>",
        "escaped_user/keep.txt": b"sentinel",
        "victim.txt": b"sentinel",
    }
    adapter = user_artifacts(run, SYSTEM, user) / ADAPTER_FOLDER / "adapter_config.json"
    assert json.loads(adapter.read_text())["marker"] == "new"
    assert adapter.resolve().is_relative_to(run.resolve())


def test_the_folder_replacing_helpers_refuse_a_target_outside_their_root(tmp_path: Path) -> None:
    workspace = sentinel_workspace(tmp_path)
    run = workspace / "run"
    with pytest.raises(PathOutsideRoot, match="outside"):
        with atomic_version(workspace / "victim", run / ".versions", root=run):
            pass
    with pytest.raises(PathOutsideRoot):
        remove_old_versions(run / "link", workspace / "victim", root=run)
    assert (workspace / "victim" / "keep.txt").read_text() == "sentinel"
    assert not (run / ".versions").exists()


def test_a_versions_folder_linked_out_of_the_run_folder_is_refused(tmp_path: Path) -> None:
    """A planted link inside the run folder must not lead a removal outside it."""
    workspace = sentinel_workspace(tmp_path)
    run = workspace / "run"
    (run / "artifacts").mkdir()
    (run / "artifacts" / ".versions").symlink_to(workspace / "victim")
    with pytest.raises(PathOutsideRoot, match="link"):
        remove_old_versions(
            run / "artifacts" / "user", run / "artifacts" / ".versions", root=run / "artifacts"
        )
    assert (workspace / "victim" / "keep.txt").read_text() == "sentinel"


def test_inside_and_safe_child(tmp_path: Path) -> None:
    assert inside(tmp_path, tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert inside(tmp_path, tmp_path) == tmp_path
    for escape in (tmp_path / ".." / "x", Path("/etc/passwd"), tmp_path / "a\x00b" / ".." / ".."):
        with pytest.raises(PathOutsideRoot):
            inside(tmp_path, escape)
    assert safe_child(tmp_path, "..", "/etc").parent.parent == tmp_path


def test_an_enron_archive_member_with_a_dotdot_part_is_refused_not_made_a_user(
    tmp_path: Path,
) -> None:
    """`maildir/../_sent_mail/1.` made `..` a mailbox, and so a user id."""
    archive = tmp_path / "enron.tar.gz"
    message = b"From: a@enron.com\nTo: b@enron.com\nSubject: s\n\nhello\n"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("maildir/../_sent_mail/1.", "maildir/allen-p/_sent_mail/1."):
            info = tarfile.TarInfo(name)
            info.size = len(message)
            tar.addfile(info, io.BytesIO(message))
    items = list(iter_tar(archive))
    problems = [item for item in items if isinstance(item, SourceProblem)]
    assert [problem.reason for problem in problems] == ["unsafe_path"]
    assert "maildir/../_sent_mail/1." in problems[0].source
    assert {item.mailbox for item in items if isinstance(item, RawMessage)} == {"allen-p"}


def test_the_default_run_folder_of_a_climbing_profile_name_stays_under_runs(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    profile = scripted_profile(dataset={"kind": "demo", "personas": 2, "records_per_persona": 3})
    profile["systems"] = ["small_zero_shot", "few_shot"]
    profile["reference_system"] = "few_shot"
    profile["name"] = "../../escaped"
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    code, output = run_cli(monkeypatch, capsys, "run", "--profile", "profile.yaml")
    assert code == 0, output
    [made] = (tmp_path / "runs").iterdir()
    assert made.name.startswith("escaped-") and (made / "profile.yaml").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["profile.yaml", "runs"]
