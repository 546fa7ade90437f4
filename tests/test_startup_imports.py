"""What a run pays before its first stage: no heavy library a cached run does not use.

statsmodels, scikit-learn, rouge-score, matplotlib, transformers and torch take seconds
each to import; they are imported where a stage or the report uses them, so `prefbench
run` on a finished run folder and commands such as `prefbench report --format json` start
fast. The build's shared trainer (its `close` imports torch and collects garbage) is freed
only when it trained.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prefbench.solvers.training import lora

TOP = Path(__file__).resolve().parent.parent
HEAVY = ("statsmodels", "sklearn", "rouge_score", "matplotlib", "transformers", "torch")


def test_the_cli_and_a_loaded_profile_import_no_heavy_library() -> None:
    code = (
        "import json, sys\n"
        "import prefbench.harness.cli.app\n"
        "from prefbench.harness.profile import load_profile\n"
        "load_profile('demo')\n"
        "from prefbench.core.plugins import load_plugins\n"
        "load_plugins()\n"  # every plug-in, the examples' too (a listing loads them all)
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=TOP,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_freeing_a_shared_trainer_that_loaded_nothing_collects_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The build frees its trainer before each eval: with no base loaded that costs nothing."""
    collections = []
    monkeypatch.setattr(lora, "_free_memory", lambda: collections.append(1))
    trainer = lora.SharedBaseTrainer()
    trainer.close()
    trainer.close()
    assert collections == []
    trainer._loaded = object()  # type: ignore[assignment]  # as after a training
    trainer.close()
    trainer.close()
    assert collections == [1]
