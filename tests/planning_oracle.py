"""The oracle of the dry run: a planning *run* of the real pipeline, read back from its logs.

This was `prefbench run --dry-run` before plans were made by each stage's `plan`: it runs
`run_benchmark` in a temporary folder with every role played by a planning model
(`prefbench-plan/MODEL`, `prefbench.harness.cost.planning_model`: answers of each call's whole
`max_tokens` budget, tokens counted like the plan counts them), adapter training replaced by a
recorder, then counts the calls its eval logs recorded. Slow (inspect evals, logs) but
independent of the plan's own code: `tests/test_dry_run.py` checks the plan against it.
"""

import io
import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory

from rich.console import Console

from prefbench.harness.cost.planning_model import (
    FOLLOW_UP_FIELD,
    PROMPT_FIELD,
    ROLE_FIELD,
    planning_spec,
    real_model,
)
from prefbench.harness.cost.spend import logged_calls
from prefbench.harness.pipeline import open_run, run_benchmark
from prefbench.harness.profile import DatasetSpec, Profile
from prefbench.solvers.training.lora import (
    Checkpointing,
    LoraSettings,
    StepCallback,
    TrainingExample,
    TrainingResult,
)
from prefbench.tasks.records import Record, write_records


@dataclass
class TrainingRecorder:
    """An adapter trainer that records each job and writes a placeholder adapter folder."""

    jobs: list[str] = field(default_factory=list)

    def __call__(
        self,
        base_model_dir: Path,
        examples: Sequence[TrainingExample],
        settings: LoraSettings,
        adapter_dir: Path,
        on_step: StepCallback | None = None,
        *,
        checkpoints: Checkpointing | None = None,
    ) -> TrainingResult:
        self.jobs.append(str(adapter_dir))
        Path(adapter_dir).mkdir(parents=True, exist_ok=True)
        (Path(adapter_dir) / "adapter_config.json").write_text(json.dumps({"oracle": True}))
        return TrainingResult(losses=[], steps=0, seconds=0.0, trainable_parameters=0)


@dataclass
class OraclePlan:
    """What the planning run called, by (log folder, eval, role): calls, retries and tokens."""

    calls: Counter = field(default_factory=Counter)
    retry_calls: Counter = field(default_factory=Counter)
    input_tokens: Counter = field(default_factory=Counter)
    output_tokens: Counter = field(default_factory=Counter)
    adapters: int = 0


@contextmanager
def _environment_kept(name: str) -> Iterator[None]:
    before = os.environ.get(name)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def planning_run(profile: Profile, records: list[Record], limit: int | None = None) -> OraclePlan:
    """Run the pipeline of `profile` on `records` against planning models; what it called.

    A call that repeats a prompt of its sample, or follows up on the model's own answer, is a
    retry (as the plan counts them). Rows are keyed by (log folder, eval name, role), the role
    of an adapter model being the role its adapter sits on.
    """
    with (
        TemporaryDirectory(prefix="prefbench-oracle-") as folder,
        _environment_kept("INSPECT_CACHE_DIR"),
    ):
        records_path = Path(folder) / "records.jsonl"
        write_records(records_path, records)
        roles = {role: planning_spec(spec) for role, spec in profile.roles.items()}
        dataset = DatasetSpec(kind="records", path=str(records_path))
        planning = profile.model_copy(update={"roles": roles, "dataset": dataset})
        quiet = Console(file=io.StringIO(), width=200)
        context = open_run(Path(folder) / "run", planning, quiet, display="none", limit=limit)
        recorder = TrainingRecorder()
        context.adapter_trainer = recorder
        context.planning = True
        run_benchmark(context)
        plan = OraclePlan(adapters=len(recorder.jobs))
        seen: set[tuple[str, ...]] = set()
        for call in logged_calls(context.run):
            role = str(call.role or call.metadata.get(ROLE_FIELD))
            key = (call.kind, call.stage, role)
            prompt = (call.kind, call.stage, call.sample, str(call.metadata.get(PROMPT_FIELD)))
            assert real_model(call.model) != call.model, "every call went to a planning model"
            if prompt in seen or call.metadata.get(FOLLOW_UP_FIELD):
                plan.retry_calls[key] += 1
            else:
                seen.add(prompt)
                plan.calls[key] += 1
                plan.input_tokens[key] += call.input_tokens
                plan.output_tokens[key] += call.output_tokens
        if context.lock is not None:
            context.lock.release()
    return plan
