"""Test helpers: profiles on the offline scripted model, and running them in-process."""

import io
import sys
from pathlib import Path

import pytest
from rich.console import Console

from prefbench.harness.cli.app import main
from prefbench.harness.pipeline import PipelineContext, open_run
from prefbench.harness.profile import parse_profile

SMALL_REPLY = "SMALL-MODEL-EMAIL"
LARGE_EMAIL = "LARGE-MODEL-EMAIL"
INTENT = "<core_content>- meet on Friday</core_content>"


def scripted_profile(call_log: Path | None = None, **overrides: object) -> dict:
    """A profile on the offline scripted model (control-flow tests).

    The large model answers intent prompts with an intent and everything else with
    LARGE_EMAIL; the small model always answers SMALL_REPLY; the judge always picks 1.
    """
    logging = {"call_log": str(call_log)} if call_log else {}
    profile = {
        "name": "scripted",
        "dataset": {"kind": "demo", "personas": 2, "records_per_persona": 5},
        "roles": {
            "small": {
                "model": "prefbench-mock/small",
                "model_args": {"replies": [SMALL_REPLY], **logging},
            },
            "large": {
                "model": "prefbench-mock/large",
                "model_args": {
                    "replies": {"core content": INTENT, "": LARGE_EMAIL},
                    **logging,
                },
            },
            "judge": {
                "model": "prefbench-mock/judge",
                "model_args": {
                    "replies": ["<thinking>close</thinking><winner>1</winner>"],
                    **logging,
                },
            },
        },
        "systems": ["small_zero_shot", "large_zero_shot", "few_shot"],
        "reference_system": "few_shot",
        "judge": {"kind": "llm"},
    }
    profile.update(overrides)
    return profile


def scripted_run(run_dir: Path, profile: dict) -> PipelineContext:
    """Open a run folder for a profile dict, quietly."""
    parsed = parse_profile(profile, Path("<test profile>"))
    console = Console(file=io.StringIO(), width=200)
    return open_run(run_dir, parsed, console, display="none")


def run_cli_split(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str
) -> tuple[int, str, str]:
    """Run `prefbench ARGS` in-process (a wide terminal); exit code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["prefbench", *args])
    monkeypatch.setenv("COLUMNS", "250")
    try:
        main()
        code = 0
    except SystemExit as exit_info:
        code = int(exit_info.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str
) -> tuple[int, str]:
    """Run `prefbench ARGS` in-process; exit code and everything it printed."""
    code, out, err = run_cli_split(monkeypatch, capsys, *args)
    return code, out + err
