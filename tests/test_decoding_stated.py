"""A decoding setting a provider cannot honour is stated in the log, on the console and in the
report, and never claimed in the log's model config.

inspect's `anthropic/` sends no temperature (`UNHONOURED_DECODING`); here the scripted judge's
provider is made one that cannot honour it, so the whole path runs offline.
"""

import io
import json
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log
from rich.console import Console

from prefbench.harness import serving
from prefbench.harness.pipeline import open_run, run_benchmark
from prefbench.harness.profile import parse_profile
from prefbench.harness.stage_runner import DECODING_FIELD
from tests.helpers import scripted_profile

REASON = "this provider sends no temperature"


def test_unhonoured_decoding_is_stated_not_claimed(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(
        serving.decoding.UNHONOURED_DECODING, "prefbench-mock", (("temperature",), REASON)
    )
    raw = scripted_profile()
    raw["roles"] = {role: raw["roles"][role] for role in ("small", "large", "judge")}
    profile = parse_profile(raw, Path("<test profile>"))
    output = io.StringIO()
    context = open_run(tmp_path / "run", profile, Console(file=output, width=300), "none")
    report = run_benchmark(context)

    stated = report.decoding_not_honoured
    assert stated is not None and set(stated) == {"small", "large", "judge"}
    judge_role = stated["judge"]
    assert (judge_role.model, judge_role.settings) == ("prefbench-mock/judge", ["temperature"])
    assert judge_role.reason == REASON
    judge_logs = sorted((tmp_path / "run" / "logs" / "judge").glob("*.eval"))
    assert judge_logs
    for judge_log in judge_logs:
        header = read_eval_log(str(judge_log), header_only=True)
        assert header.eval.metadata[DECODING_FIELD]["judge"]["settings"] == ["temperature"]
        assert header.eval.model_roles["judge"].config.temperature is None  # not claimed
    assert output.getvalue().count("role judge (prefbench-mock/judge): temperature") == 1
    assert "Decoding not honoured" in (tmp_path / "run" / "report.md").read_text()
    assert json.loads((tmp_path / "run" / "report.json").read_text())["decoding_not_honoured"]


@pytest.mark.parametrize("model", ["openai/gpt-4o", "vllm/meta-llama/Meta-Llama-3-8B-Instruct"])
def test_providers_that_honour_greedy_decoding_state_nothing(model):
    raw = scripted_profile()
    raw["roles"]["judge"] = {"model": model, "base_url": "http://127.0.0.1:9/v1"}
    profile = parse_profile(raw, Path("<test profile>"))
    assert serving.decoding.unhonoured_decoding(profile) == {}
