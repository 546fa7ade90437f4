"""Parse failures of the LLM judge in each verdict mode, on a finished run's generations.

Judges the run's pairs (reference vs each other system, both orders) with the run's `judge`
role once per mode and prints, per mode, how many orders ended without a verdict, how many
pairs were parse failures, where the verdicts came from, the soft win rate, the candidates'
mean probability mass at the verdict position and how many orders read exactly [1, 0]
(logprobs), and the seconds each mode took (the machine's load changes that):

- ``text+repeat``: the answer's `<winner>N</winner>`, retried with the same prompt (the
  behaviour before follow-ups);
- ``text+follow_up``: retried in a follow-up turn that asks for the format;
- ``logprobs+follow_up``: the candidate numbers' probabilities after `<winner>` (a verdict
  only where they hold at least half the probability: `min_candidate_mass`).

Usage (a run folder whose generation stage finished, e.g. `prefbench run --profile demo`):

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_judge_verdicts.py RUN_DIR \
        [--max-tokens 96] [--against SYSTEM]

`--against SYSTEM` judges only the reference against SYSTEM (its own eval, no stage).
"""

import argparse
import io
import json
import time
from collections import Counter
from pathlib import Path

import yaml
from inspect_ai import eval as inspect_eval
from inspect_ai.log import read_eval_log
from rich.console import Console

from prefbench.harness.pipeline import generate, open_run, prepare_records
from prefbench.harness.profile import parse_profile
from prefbench.harness.serving.models import make_model, resolved_spec
from prefbench.harness.stages.pairwise_judge import PairwiseJudgeStage
from prefbench.scorers.verdict import parse_winner
from prefbench.tasks.pairwise import pairwise_comparison

MODES = {
    "text+repeat": {"verdict": "text", "retry": "repeat"},
    "text+follow_up": {"verdict": "text", "retry": "follow_up"},
    "logprobs+follow_up": {"verdict": "logprobs", "retry": "follow_up"},
}


def judge_with(run_dir: Path, max_tokens: int, settings: dict, against: str | None) -> list:
    """Judge the run's pairs with the LLM judge and these settings; the judge logs."""
    raw = yaml.safe_load((run_dir / "profile.yaml").read_text("utf-8"))
    raw["judge"] = {"kind": "llm", "max_tokens": max_tokens, "multi_candidate": False, **settings}
    profile = parse_profile(raw, run_dir / "profile.yaml")
    context = open_run(run_dir, profile, Console(file=io.StringIO()), display="none")
    generate(context, prepare_records(context))
    if against is None:
        PairwiseJudgeStage().run(context)
        return [result.log_path for result in context.judge_logs.values()]
    task = pairwise_comparison(
        generations_a=str(context.generation_logs[profile.reference_system].log_path),
        generations_b=str(context.generation_logs[against].log_path),
        judge="llm",
        judge_settings={"max_tokens": max_tokens, **settings},
    )
    judge = make_model(resolved_spec(profile.roles["judge"]))
    log_dir = str(run_dir / "logs" / "bench")
    logs = inspect_eval(
        task, model=judge, model_roles={"judge": judge}, display="none", log_dir=log_dir
    )
    return [log.location for log in logs]


def summarize(logs: list[Path]) -> dict:
    """Orders and pairs without a verdict, first answers without one, sources, soft win rate."""
    orders = failed_orders = failed_pairs = pairs = first_unparsed = 0
    sources: Counter[str] = Counter()
    soft: list[float] = []
    masses: list[float] = []
    certain = 0
    for path in logs:
        for sample in read_eval_log(str(path)).samples or []:
            metadata = next(iter((sample.scores or {}).values())).metadata or {}
            pairs += 1
            failed_pairs += metadata.get("winner_ab") is None or metadata.get("winner_ba") is None
            for order in ("ab", "ba"):
                orders += 1
                failed_orders += metadata.get(f"winner_{order}") is None
                first_unparsed += parse_winner(metadata[f"answers_{order}"][0]) is None
                sources[str(metadata.get(f"verdict_source_{order}"))] += 1
                if metadata.get(f"candidate_mass_{order}") is not None:
                    masses.append(metadata[f"candidate_mass_{order}"])
                certain += metadata.get(f"probabilities_{order}") in ([1.0, 0.0], [0.0, 1.0])
            if metadata.get("soft_score") is not None:
                soft.append(metadata["soft_score"])
    return {
        "pairs": pairs,
        "orders": orders,
        "orders_without_verdict": failed_orders,
        "order_failure_rate": failed_orders / orders if orders else None,
        "pairs_with_a_failed_order": failed_pairs,
        "first_answers_without_tag": first_unparsed,
        "verdict_sources": dict(sources),
        "soft_win_rate_of_reference": sum(soft) / len(soft) if soft else None,
        "mean_candidate_mass": sum(masses) / len(masses) if masses else None,
        "orders_read_as_certain": certain,
    }


def main() -> None:
    """Judge in every mode and print one JSON line per mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    parser.add_argument("--against", default=None, help="only the reference vs this system")
    arguments = parser.parse_args()
    for mode in arguments.modes:
        settings = MODES[mode]
        started = time.monotonic()
        logs = judge_with(arguments.run_dir, arguments.max_tokens, settings, arguments.against)
        seconds = round(time.monotonic() - started, 1)
        print(json.dumps({"mode": mode, "seconds": seconds, **summarize(logs)}), flush=True)


if __name__ == "__main__":
    main()
