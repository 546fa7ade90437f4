"""What every pipeline stage is (`Stage`) and what the stages share (`PipelineContext`).

A stage is one object that owns its name, its title, the keys of the evals it runs (a
`key(...)` method: the inputs whose fingerprint identifies a finished eval, see
`prefbench.harness.stage_runner`), how it runs over a run in progress (`run`) and what it adds to
report.json (`section` and `report_section`). `prefbench.harness.pipeline.PIPELINE` lists them in
order; `prefbench run` walks that list, `prefbench run --dry-run` walks it with `plan` (what
the stage would still do, `prefbench.harness.cost.plan`), and the report stage collects every
stage's section.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Console

from prefbench.core.run_folder import RunFolder
from prefbench.core.run_lock import RunLockHold
from prefbench.harness.profile import Profile
from prefbench.harness.stage_runner import StageResult, StageRunner
from prefbench.solvers.training.context import AdapterTrainer
from prefbench.tasks.records import Record

if TYPE_CHECKING:
    from prefbench.harness.cost.plan import Planner
    from prefbench.harness.report.schema import Report


class Stage(ABC):
    """One step of the pipeline over a `PipelineContext`.

    Attributes:
        name: a short identifier, e.g. `"generation"`.
        title: the heading printed when the stage starts.
        section: the report.json key the stage fills, or None when it adds none.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    section: ClassVar[str | None] = None

    @abstractmethod
    def run(self, context: "PipelineContext") -> None:
        """Run (or reuse) the stage's evals and leave their results on `context`."""

    def plan(self, context: "PipelineContext", planner: "Planner") -> None:
        """Add what the stage would still do to the dry run's plan (`prefbench.harness.cost.plan`).

        The default, for a stage that calls no model: one row saying so.
        """
        planner.local(self.name, self.name, self.title)

    def calls_models(self, context: "PipelineContext") -> bool:
        """Whether the stage sends model calls; a planning run skips a stage that does not."""
        return True

    def report_section(self, context: "PipelineContext") -> Any | None:
        """What the stage adds to report.json under `section`; None when it ran nothing.

        The default is what the stage's `run` stored in `context.sections`.
        """
        if self.section is None:
            return None
        return context.sections.get(self.section)

    def keep_section(self, context: "PipelineContext", value: Any) -> None:
        """Store the stage's report.json section for the report stage to collect."""
        if self.section is None:
            raise TypeError(f"stage {self.name} declares no report section")
        context.sections[self.section] = value

    def heading(self, context: "PipelineContext", detail: str = "") -> None:
        """Print the stage's title (and a detail such as the system) as a rule."""
        context.console.rule(f"[bold]{self.title}{detail}")


@dataclass
class PipelineContext:
    """A run in progress: its folder, profile, stage runner, console and what stages made.

    `records` are set by the records stage; `generation_logs`, `judge_logs` (every judge's:
    keyed by the other system for a reference pair, `A-vs-B` for a control pair, each with
    `@JUDGE` after it for a judge other than the primary) and `multi_candidate_logs` (by
    judge) by the stages that write them; `sections` holds the report.json
    sections computed in this invocation, by key; `report` the last report written.
    """

    run: RunFolder
    profile: Profile
    console: Console
    runner: StageRunner
    limit: int | None = None
    stages: Sequence[Stage] = ()
    """The pipeline this run walks (what the report collects sections from)."""
    adapters_trained: int = 0
    records: list[Record] | None = None
    generation_logs: dict[str, StageResult] = field(default_factory=dict)
    judge_logs: dict[str, StageResult] = field(default_factory=dict)
    multi_candidate_logs: dict[str, StageResult] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    report: "Report | None" = None
    adapter_trainer: AdapterTrainer | None = None
    """Replaces LoRA training when set (the dry run records the jobs instead)."""
    allow_new_split: bool = False
    """The run folder may take another split (`prefbench run --allow-new-split`): its report
    is removed and the records replaced, instead of a `SplitChanged` refusal."""
    planning: bool = False
    """Every role is a planning model (`prefbench-plan/`, a planning run): stages that call no
    model are skipped, and so is local scoring after a stage's calls."""
    lock: RunLockHold | None = None
    """The run-folder lock this context holds (`open_run`); released when the context is
    collected, or earlier by `lock.release()` once the command is done with the run."""

    @property
    def recomputed_nothing(self) -> bool:
        """True when no eval ran and no adapter was trained in this invocation."""
        return self.runner.evals_run == 0 and self.adapters_trained == 0

    def require_records(self) -> list[Record]:
        """The records of the records stage; an error when it has not run in this context."""
        if self.records is None:
            raise RuntimeError(
                f"no records prepared for {self.run.root}: run the records stage "
                "(`prefbench.harness.pipeline.prepare_records`) first."
            )
        return self.records
