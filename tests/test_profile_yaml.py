"""Profile files are read safely: no YAML alias expands, a corrupt run profile is an input error."""

from pathlib import Path

import pytest
import yaml

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.profile import PROFILES_DIR, dump_profile, load_profile, load_yaml_file
from tests.helpers import run_cli, scripted_profile

BILLION_LAUGHS = """\
name: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_profile_is_refused_naming_file_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    with pytest.raises(PrefbenchInputError) as caught:
        load_profile(str(path))
    message = str(caught.value)
    assert str(path) in message and "line 2" in message
    assert "alias *a refused" in message and "write the value out in full" in message


def test_a_merge_key_alias_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "base: &base {model: offline/smollm2}\nroles:\n  small:\n    <<: *base\n", encoding="utf-8"
    )
    with pytest.raises(PrefbenchInputError, match=r"line 4: YAML alias \*base refused"):
        load_yaml_file(path)


def test_anchors_without_aliases_and_built_in_profiles_load(tmp_path: Path) -> None:
    path = tmp_path / "anchor.yaml"
    path.write_text("a: &x 1\nb: 2\n", encoding="utf-8")
    assert load_yaml_file(path) == {"a": 1, "b": 2}
    for builtin in sorted(PROFILES_DIR.glob("*.yaml")):
        profile, _ = load_profile(builtin.stem)
        assert profile.name


def test_a_dumped_profile_never_holds_an_alias(tmp_path: Path) -> None:
    profile, _ = load_profile("demo")
    shared = {"temperature": 0.0}
    profile.roles["small"].config = shared
    profile.roles["large"].config = shared  # the same object twice: safe_dump would alias it
    path = tmp_path / "profile.yaml"
    path.write_text(dump_profile(profile), encoding="utf-8")
    assert "*id" not in path.read_text(encoding="utf-8")
    assert load_yaml_file(path)["roles"]["large"]["config"] == shared


def test_invalid_yaml_and_non_utf8_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(PrefbenchInputError, match=f"profile {broken} is not valid YAML"):
        load_profile(str(broken))
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(PrefbenchInputError, match="is not UTF-8"):
        load_profile(str(binary))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: [unclosed\nroles: {\n", "is not valid YAML"),
        ("a: &x [1]\nb: *x\n", "YAML alias *x refused"),
    ],
)
def test_a_corrupt_run_folder_profile_is_an_input_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    text: str,
    problem: str,
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "profile.yaml").write_text(text, encoding="utf-8")
    for command in (["generate"], ["judge"], ["human", "agreement"]):
        if command == ["human", "agreement"]:
            (run_dir / "report.json").write_text("{}", encoding="utf-8")
        code, output = run_cli(monkeypatch, capsys, *command, "--run", str(run_dir))
        flat = " ".join(output.split())
        assert code == 2, (command, output)
        assert "Traceback" not in output
        assert "profile.yaml" in flat and problem in flat, (command, flat)
        assert "prefbench run --profile PROFILE" in flat


def test_a_valid_run_folder_profile_still_opens(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "profile.yaml").write_text(yaml.safe_dump(scripted_profile()), encoding="utf-8")
    from prefbench.harness.profile import read_run_profile

    profile = read_run_profile(run_dir / "profile.yaml", judge_kind="similarity")
    # the judge is added after the profile's own, which stays the primary one
    assert [judge.kind for judge in profile.judges] == ["llm", "similarity"]
    assert profile.judge.kind == "llm" and profile.name == "scripted"


def test_later_settings_are_dumped_only_when_set(tmp_path: Path) -> None:
    default, _ = load_profile("demo")
    text = dump_profile(default)
    for leaf in ("fanout:", "checkpoint_every:", "batch:"):
        assert leaf not in text
    assert "\nerrors:" not in text

    changed = default.model_copy(
        update={
            "training": default.training.model_copy(update={"checkpoint_every": 5}),
            "errors": default.errors.model_copy(update={"retry_on_error": 3}),
        }
    )
    path = tmp_path / "profile.yaml"
    path.write_text(dump_profile(changed), encoding="utf-8")
    reread, _ = load_profile(str(path))
    assert reread.training.checkpoint_every == 5
    assert reread.errors.retry_on_error == 3
    assert reread.training.fanout == default.training.fanout
