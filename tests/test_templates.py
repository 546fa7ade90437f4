"""Prompt templates: every shipped template loads and renders; bad fields are caught."""

from pathlib import Path

import pytest

from prefbench.core.templates import load_template
from prefbench.core.text_kinds import kind_template
from prefbench.solvers.writer import render_prompt

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(ROOT.glob("*/prompts/*.txt")) + sorted(ROOT.glob("*/*/prompts/*.txt"))
KIND_TEMPLATES = sorted(ROOT.glob("core/text_kinds/*/*.txt"))


@pytest.mark.parametrize("path", TEMPLATES + KIND_TEMPLATES, ids=lambda p: p.stem)
def test_shipped_template_renders(path: Path):
    template = load_template(path.parent, path.stem)
    if path not in KIND_TEMPLATES:  # a text kind's template is named by its purpose
        assert template.version.isdigit() or template.version == "paper"
    system, user = template.render(**{field: f"<{field}>" for field in template.fields})
    assert system and user and "{" not in user.replace("{{", "")


def test_a_comment_header_of_several_lines_is_not_sent(tmp_path: Path):
    path = tmp_path / "judge_x_paper.txt"
    path.write_text("# line one\n# line two\nSYSTEM\n---user---\nUSER {ground_truth}\n")
    template = load_template(tmp_path, "judge_x_paper")
    assert (template.system.strip(), template.version) == ("SYSTEM", "paper")
    path.write_text("# edited\nSYSTEM 2\n---user---\nUSER\n")
    assert load_template(tmp_path, "judge_x_paper").system.strip() == "SYSTEM 2"  # read anew


def test_missing_and_unknown_fields_are_errors():
    template = kind_template("email", "write")
    with pytest.raises(KeyError, match="email:write"):
        template.render(context="c")
    with pytest.raises(ValueError, match="colour"):
        template.render(context="c", sender="s", intent="i", colour="red")


def test_render_prompt_fills_context_sender_and_intent():
    metadata = {
        "user": "ava",
        "fields": {"from": "ava@x", "to": "bo@y", "subject": "Lunch", "date": "2023-01-02"},
        "previous_context": "Are you free?",
        "intent": "- lunch on Friday",
    }
    system, user = render_prompt("email:write", metadata)
    assert system["role"] == "system" and user["role"] == "user"
    for expected in (
        "From: ava@x",
        "To: bo@y",
        "Subject: Lunch",
        "Are you free?",
        "- lunch on Friday",
    ):
        assert expected in user["content"]
