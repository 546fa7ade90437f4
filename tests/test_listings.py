"""`prefbench systems|judges|corpora`: every registration, prefbench's and the example plug-ins'."""

from prefbench.harness.cli.listings import (
    corpora_table,
    judges_table,
    systems_table,
    text_kinds_table,
)
from tests.helpers import run_cli


def rows_by_name(table) -> dict[str, list[str]]:
    """Each row's cell texts, by the first line of its first cell."""
    return {row[0].text.splitlines()[0]: [cell.text for cell in row] for row in table.rows}


def test_systems_list_package_roles_options_build_and_control():
    rows = rows_by_name(systems_table())
    assert rows["retrieval_few_shot"][:4] == [
        "retrieval_few_shot",
        "prefbench-retrieval",
        "large",
        "k=3, max_tokens=128",
    ]
    assert rows["cross_family_agent"][2] == "small, large (optional: rule_writer)"
    assert rows["negative_control"][4] == "adapters (of preference_agent)"
    assert rows["positive_control"][5] == "positive: positive_control beats large_zero_shot"
    assert rows["few_shot"][1] == "prefbench" and rows["few_shot"][5] == ""


def test_judges_list_package_roles_settings_and_forms():
    rows = rows_by_name(judges_table())
    assert rows["length_ratio"][1:5] == [
        "prefbench-length-judge",
        "none (calls no model)",
        "unit='characters'",
        "pairwise, multi-candidate",
    ]
    assert rows["llm"][2] == "judge" and "max_tokens=512" in rows["llm"][3]


def test_corpora_and_text_kinds_are_listed():
    rows = rows_by_name(corpora_table())
    assert rows["jsonl_articles"][1:3] == ["prefbench-jsonl-corpus", "article"]
    assert rows["enron"][1:3] == ["prefbench", "email"]
    kinds = rows_by_name(text_kinds_table())
    assert set(kinds) >= {"email", "article"}
    assert kinds["email"][2].endswith("core/text_kinds/email")


def test_the_commands_print_them(monkeypatch, capsys):
    for command, expected in (
        (["systems"], "retrieval_few_shot"),
        (["judges"], "length_ratio"),
        (["corpora"], "jsonl_articles"),
        (["data", "corpora"], "jsonl_articles"),
    ):
        code, output = run_cli(monkeypatch, capsys, *command)
        assert code == 0 and expected in output, output
    assert "text kinds" in output
