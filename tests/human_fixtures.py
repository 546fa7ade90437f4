"""Fixtures of the human-evaluation tests: judge logs and run folders written directly."""

import socket
from pathlib import Path

from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSample, EvalSpec, write_eval_log
from inspect_ai.model import ModelOutput
from inspect_ai.scorer import Score

REFERENCE = "preference_agent"
USERS = ("ava", "bo", "cy", "dee")
OUTCOMES = {"C": "win", "I": "loss", "P": "tie", "N": "parse_failure"}


def write_judge_log(
    path: Path,
    system_b: str,
    pairs: list[dict],
    created: str = "2026-01-01T00:00:00+00:00",
    status: str = "success",
    judge: str = "llm",
) -> None:
    """A pairwise judge log as tasks/pairwise.py + the judge scorer write it."""
    samples = [
        EvalSample(
            id=pair["id"],
            epoch=1,
            input=pair["ground_truth"],
            target=pair["ground_truth"],
            metadata={
                "user": pair["user"],
                "dataset": "demo",
                "system_a": REFERENCE,
                "system_b": system_b,
                "candidate_a": pair["candidate_a"],
                "candidate_b": pair["candidate_b"],
            },
            output=ModelOutput(model="none/none"),
            scores={"llm_judge": Score(value=pair["value"], answer=OUTCOMES[pair["value"]])},
        )
        for pair in pairs
    ]
    spec = EvalSpec(
        created=created,
        task="pairwise_comparison",
        dataset=EvalDataset(name=f"{REFERENCE}-vs-{system_b}", samples=len(samples)),
        model="none/none",
        config=EvalConfig(),
        metadata={"system_a": REFERENCE, "system_b": system_b, "judge": judge},
    )
    write_eval_log(EvalLog(status=status, eval=spec, samples=samples), str(path))


def judged_run(
    root: Path,
    pairs_per_system: dict[str, int],
    parse_failures: int = 0,
    candidate_b: str | None = None,
) -> Path:
    """A run folder whose logs/judge/ holds one judge log per compared system.

    Pair i of system k: record `rec-i` of user USERS[i % 4], candidates "First draft i"
    (system A) and "Second draft k.i" (system B, or `candidate_b`); the first
    `parse_failures` pairs have an unparsable verdict.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "profile.yaml").write_text("name: human-test\n", encoding="utf-8")
    log_dir = root / "logs" / "judge"
    log_dir.mkdir(parents=True, exist_ok=True)
    for k, (system, count) in enumerate(pairs_per_system.items()):
        pairs = [
            {
                "id": f"rec-{i:03d}",
                "user": USERS[i % len(USERS)],
                "ground_truth": f"Hello,\n\nground truth email {i}.\n\nThanks",
                "candidate_a": f"First draft {i}",
                "candidate_b": candidate_b or f"Second draft {k}.{i}",
                "value": "N" if i < parse_failures else "CIP"[i % 3],
            }
            for i in range(count)
        ]
        name = f"2026-01-01T00-00-0{k}-00-00_pairwise-comparison_{system}.eval"
        write_judge_log(log_dir / name, system, pairs)
    return root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
