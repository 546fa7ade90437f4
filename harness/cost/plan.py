"""The dry run's plan: what each stage of a run would still do, row by row.

Every pipeline stage has a `plan(context, planner)` (`prefbench.harness.stages.base.Stage`): it
computes the keys of its evals as `run` would, asks the `Planner` whether the run folder holds
a finished log of each (`finished`), and plans the others by running their own solver or scorer
against planning models (`evaluate`, `prefbench.harness.cost.probe`), or names the adapters they
would train (`adapters`) or the local work they would do (`local`). The rows it adds
(`PlanRow`) are the plan: calls, tokens and dollars per eval, role and model. What a finished
stage made (records, intents, rules, generations) is read from the run folder, so later stages
plan on real texts where they exist and on planned answers (at their `max_tokens` budget)
where they do not.
"""

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from inspect_ai import Task
from inspect_ai.dataset import Sample
from inspect_ai.log import EvalLog, EvalSample
from inspect_ai.model import GenerateConfig, Model, ModelOutput
from inspect_ai.scorer import Scorer
from inspect_ai.solver import Solver

from prefbench.core.run_folder import RunFolder
from prefbench.harness.cost.planning_model import (
    CHARACTER_ESTIMATE,
    local_tokenizer_source,
    token_counter,
)
from prefbench.harness.cost.probe import (
    CallRecorder,
    PlannedCall,
    PlanningModel,
    ProbedSample,
    PromptCounter,
    character_counter,
    probe_samples,
)
from prefbench.harness.cost.spend import price_of, usd
from prefbench.harness.error_policy import failed_sample_ids
from prefbench.harness.log_reads import log_header
from prefbench.harness.profile import ModelSpec, Profile
from prefbench.harness.stage_runner import KEY_FIELD, StageResult, stage_fingerprint
from prefbench.solvers.training.jobs import AdapterJob
from prefbench.solvers.training.lora import (
    Checkpointing,
    LoraSettings,
    StepCallback,
    TrainingExample,
    TrainingResult,
)
from prefbench.solvers.training.manifest import (
    ADAPTER_FOLDER,
    AdapterManifest,
    installed_manifests,
    write_manifest,
)
from prefbench.tasks.generation import personalized_writing
from prefbench.tasks.records import Record

PlanColumn = Literal["calls", "retry_calls", "training_jobs", "input_tokens", "output_tokens"]
"""The columns of `PlanRow` that add up (`RunPlan.total`)."""
LOCAL_ONLY = "no model call (a local scorer, metric or the report)"


@dataclass(frozen=True)
class PlanRow:
    """One group of jobs: one eval's model calls of one role and model, or adapter trainings.

    `stage` is the log folder the jobs land in (`intents`, `build`, `gen`, `cross`,
    `judge`, `multi`, ...), `job` the eval's stage name or `<system>: adapters`. Tokens
    and dollars are those of `calls`; `retry_calls` are the calls that repeat one of them
    (LLM judge retries, an upper bound) and `retry_usd` their cost. `usd` is None when the
    model has no price.
    """

    stage: str
    job: str
    role: str | None = None
    model: str | None = None
    calls: int = 0
    retry_calls: int = 0
    training_jobs: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float | None = 0.0
    retry_usd: float | None = 0.0
    retry_input_tokens: int = 0
    retry_output_tokens: int = 0
    note: str = ""
    pipeline_stage: str = ""
    """The pipeline stage that runs these jobs.

    One of `prefbench.harness.stages`: `records`, `build`, `generation`, ...
    """
    batch: bool = False
    """The calls go through the provider's batch API (`judge.batch`): priced at its rate."""
    training_steps: int = 0
    """Optimizer steps of the adapters of a training row (for the GPU-hours forecast)."""


@dataclass(frozen=True)
class Finished:
    """A finished log of an eval in the run folder; `failed` the samples a re-run asks again."""

    result: StageResult
    failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedEval:
    """An eval the plan runs (not finished): what its samples answered, by sample id."""

    stage: str
    samples: list[ProbedSample]

    def completions(self) -> dict[str, str]:
        """Each sample's final answer (planned text stands in as its marker)."""
        return {sample.id: sample.completion for sample in self.samples}


def _role_counter(spec: ModelSpec, known: dict[str, PromptCounter]) -> PromptCounter:
    """The role's counter: its tokenizer when on disk, else ~4 characters per token.

    One per way of counting, so roles with one tokenizer count each repeated text once.
    """
    counter = token_counter(local_tokenizer_source(spec))
    if counter is CHARACTER_ESTIMATE:
        return character_counter()
    return known.setdefault(counter.method, PromptCounter(counter))


@dataclass(frozen=True)
class PlannedAdapter:
    """One adapter the plan trains: for which system and user, on how many examples."""

    system: str
    user: str
    examples: int
    settings: LoraSettings


@dataclass
class AdapterRecorder:
    """The dry run's adapter trainer: records each adapter and installs a placeholder.

    Queued jobs (`request_user_adapter`) are recorded with `queued`; an adapter a build step
    trains right away (`ensure_user_adapter`) comes through `__call__`. Either way the
    planning folder gets the adapter's manifest with its real input hash, so the generation
    stage keys on the adapter hash the run would write.
    """

    run_dir: Path
    adapters: list[PlannedAdapter] = field(default_factory=list)

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
        """Record an adapter trained right away; write its placeholder (`artifacts/...`)."""
        parts = Path(adapter_dir).parts
        system = parts[parts.index("artifacts") + 1]
        user = parts[parts.index("artifacts") + 3]  # artifacts/SYSTEM/.versions/USER/vN
        self.adapters.append(PlannedAdapter(system, user, len(examples), settings))
        _placeholder_adapter(Path(adapter_dir))
        return TrainingResult(losses=[], steps=0, seconds=0.0, trainable_parameters=0)

    @contextmanager
    def progress(self, system: str, user: str) -> Iterator[StepCallback]:
        """No progress to show: nothing trains."""
        yield lambda step, total, loss: None

    def queued(self, jobs: Sequence[AdapterJob]) -> None:
        """Record the build's queued jobs and install their placeholder manifests."""
        for job in jobs:
            self.adapters.append(
                PlannedAdapter(job.system, job.user, len(job.examples), job.settings)
            )
            install_manifest(
                self.run_dir,
                AdapterManifest(
                    system=job.system,
                    user=job.user,
                    base_model=job.base_model_id,
                    input_hash=job.input_hash,
                    settings=job.settings.to_dict(),
                    examples=len(job.examples),
                    losses=[],
                    steps=0,
                    seconds=0.0,
                    details={"planned": True},
                ),
            )


def _placeholder_adapter(adapter_dir: Path) -> None:
    adapter_dir.mkdir(parents=True, exist_ok=True)
    (adapter_dir / "adapter_config.json").write_text('{"prefbench_dry_run": "planned"}\n')


def install_manifest(run_dir: Path, manifest: AdapterManifest) -> None:
    """Write a manifest and a placeholder adapter into a planning folder's artifacts.

    `artifacts/SYSTEM/USER` is replaced (a plain folder, as run folders before versions had).
    """
    folder = Path(run_dir) / "artifacts" / manifest.system / manifest.user
    shutil.rmtree(folder, ignore_errors=True)
    _placeholder_adapter(folder / ADAPTER_FOLDER)
    write_manifest(folder, manifest)


def copy_manifests(source: RunFolder, run_dir: Path) -> int:
    """Put the manifests of `source`'s installed adapters into a planning folder; how many.

    With them, the build's unchanged adapters are up to date in the plan, as in the run.
    """
    manifests = installed_manifests(source.root) if source.root.is_dir() else []
    for manifest in manifests:
        install_manifest(run_dir, manifest)
    return len(manifests)


def planned_log(stage: str, planned: PlannedEval) -> EvalLog:
    """A build eval's log as the plan knows it: its samples (answers and stores) only."""
    samples = [
        EvalSample(
            id=sample.id,
            epoch=1,
            input=sample.sample.input,
            target=sample.sample.target,
            metadata=dict(sample.sample.metadata or {}),
            output=ModelOutput.from_content(model="prefbench-plan", content=sample.completion),
            store=sample.store,
        )
        for sample in planned.samples
    ]
    return EvalLog.model_construct(status="success", samples=samples, location=f"(planned {stage})")


@dataclass
class Planner:
    """Collects the plan of one run folder as the stages walk it (see the module docstring).

    `run` is the run folder whose finished logs count (it need not exist: then nothing is
    finished); the stages themselves work in a planning folder of their own (the context's
    run folder), which holds the records and adapter manifests they read.
    """

    profile: Profile
    run: RunFolder
    rows: list[PlanRow] = field(default_factory=list)
    generations: dict[str, PlannedEval] = field(default_factory=dict)
    """Planned generation evals by system (not finished in the run folder)."""
    base_model_id: str | None = None
    """The identity adapters are trained from (their input hashes), when it is known."""
    source_records: list[Record] | None = None
    """The profile's records, when already read (the records stage reads them otherwise)."""
    _recorder: CallRecorder = field(default_factory=CallRecorder)
    _models: dict[str, PlanningModel] = field(default_factory=dict)
    _counters: dict[str, PromptCounter] = field(default_factory=dict)
    _completions: dict[Path, dict[str, str]] = field(default_factory=dict)
    _test: dict[str, Sample] | None = None

    def model(self, role: str) -> PlanningModel:
        """The planning model of a role (one per role, made on first use)."""
        if role not in self._models:
            spec = self.profile.roles[role]
            counter = _role_counter(spec, self._counters)
            self._models[role] = PlanningModel(
                spec.model, role, GenerateConfig(**spec.config), counter, self._recorder
            )
        return self._models[role]

    @property
    def token_methods(self) -> dict[str, str]:
        """How each role's tokens are counted (a tokenizer, or ~4 characters per token)."""
        return {role: self.model(role).counter.method for role in self.profile.roles}

    def finished(self, kind: str, stage: str, roles: tuple[str, ...], key: dict) -> Finished | None:
        """The run folder's successful log of this eval with these inputs, if there is one.

        The key is the one `StageRunner` writes (`stage_fingerprint`); a log with failed
        samples is finished but for them (`Finished.failed`: a re-run asks them again).
        """
        folder = self.run.logs(kind)
        if not folder.is_dir():
            return None
        full_key = stage_fingerprint(self.profile, stage, roles, key)
        for path in sorted(folder.glob("*.eval")):
            try:
                header = log_header(path)
            except Exception:  # an unreadable log is set aside and its stage redone
                continue
            metadata = header.eval.metadata or {}
            if metadata.get(KEY_FIELD) == full_key and header.status == "success":
                return Finished(StageResult(path, cached=True), tuple(failed_sample_ids(path)))
        return None

    def evaluate(
        self,
        pipeline_stage: str,
        kind: str,
        stage: str,
        samples: Sequence[Sample],
        roles: tuple[str, ...],
        solver: Solver | None = None,
        scorer: Scorer | None = None,
    ) -> PlannedEval:
        """Plan one eval: run `solver` (then `scorer`) over `samples` with the roles' models.

        Adds one row per role and model the calls went to (`stage` is the eval's name, `kind`
        its log folder), in the order of their first call.
        """
        models: dict[str, Model] = {role: self.model(role) for role in self.profile.roles}
        main = models[roles[0]] if roles else self.model(next(iter(self.profile.roles)))
        probed = probe_samples(samples, models, main, solver=solver, scorer=scorer)
        self._add_call_rows(pipeline_stage, kind, stage, self._recorder.take())
        return PlannedEval(stage, probed)

    def _add_call_rows(
        self, pipeline_stage: str, kind: str, stage: str, calls: list[PlannedCall]
    ) -> None:
        groups: dict[tuple[str, str], list[PlannedCall]] = {}
        for call in calls:
            groups.setdefault((call.role, call.model), []).append(call)
        if not groups:
            self.local(pipeline_stage, kind, stage, note="every call answered by the cache")
            return
        batched = bool(self.profile.judge.batch)
        for (role, model), group in groups.items():
            first = [call for call in group if not call.retry]
            retries = [call for call in group if call.retry]
            batch = role == "judge" and batched
            price = price_of(model.removesuffix(" + adapter"), self.profile, batch=batch)
            tokens_in = sum(call.input_tokens for call in first)
            tokens_out = sum(call.output_tokens for call in first)
            retry_in = sum(call.input_tokens for call in retries)
            retry_out = sum(call.output_tokens for call in retries)
            self.rows.append(
                PlanRow(
                    stage=kind,
                    job=stage,
                    role=role,
                    model=model,
                    calls=len(first),
                    retry_calls=len(retries),
                    input_tokens=tokens_in,
                    output_tokens=tokens_out,
                    usd=usd(price, tokens_in, tokens_out),
                    retry_usd=usd(price, retry_in, retry_out),
                    retry_input_tokens=retry_in,
                    retry_output_tokens=retry_out,
                    pipeline_stage=pipeline_stage,
                    batch=batch,
                )
            )

    def build_eval(
        self,
        pipeline_stage: str,
        stage: str,
        task: Task,
        roles: tuple[str, ...],
        key: dict[str, Any],
    ) -> EvalLog:
        """A build step's eval (`logs/build/`): the finished log, else planned (`planned_log`)."""
        finished = self.finished("build", stage, roles, key)
        if finished is not None and not finished.failed:
            return finished.result.read()
        planned = self.evaluate(
            pipeline_stage, "build", stage, list(task.dataset), roles, solver=task.solver
        )
        return planned_log(stage, planned)

    def completions(self, system: str, finished: StageResult | None) -> dict[str, str]:
        """A system's generated texts by sample id: its finished log's, else the planned ones."""
        if finished is None:
            return self.generations[system].completions()
        if finished.log_path not in self._completions:
            log = finished.read()
            self._completions[finished.log_path] = {
                str(sample.id): sample.output.completion
                for sample in log.samples or []
                if sample.error is None
            }
        return self._completions[finished.log_path]

    def test_samples(self, records: Path, limit: int | None) -> dict[str, Sample]:
        """The generation samples of the test split (the first `limit`), by id."""
        if self._test is None:
            dataset = personalized_writing(records=str(records), split="test").dataset
            self._test = {str(sample.id): sample for sample in list(dataset)[:limit]}
        return self._test

    def adapter_recorder(self, run_dir: Path) -> AdapterRecorder:
        """A recorder for the build's adapters, installing placeholders in `run_dir`."""
        return AdapterRecorder(run_dir)

    def adapter_rows(self, pipeline_stage: str, recorder: AdapterRecorder) -> None:
        """One row per system with adapters to train: how many, on what, with which settings."""
        by_system: dict[str, list[PlannedAdapter]] = {}
        for adapter in recorder.adapters:
            by_system.setdefault(adapter.system, []).append(adapter)
        for system, adapters in by_system.items():
            settings = adapters[0].settings
            examples = sum(adapter.examples for adapter in adapters)
            self.adapters(
                pipeline_stage,
                system,
                count=len(adapters),
                steps=sum(adapter.settings.max_steps for adapter in adapters),
                note=(
                    f"LoRA r={settings.rank}, {settings.max_steps} steps × batch "
                    f"{settings.batch_size}, quantization {settings.quantization}, {examples} "
                    "examples in all; not priced"
                ),
            )

    def local(self, pipeline_stage: str, kind: str, job: str, note: str = LOCAL_ONLY) -> None:
        """A row for work that calls no model (a metric, a local judge, the report)."""
        self.rows.append(PlanRow(stage=kind, job=job, note=note, pipeline_stage=pipeline_stage))

    def adapters(self, pipeline_stage: str, system: str, count: int, steps: int, note: str) -> None:
        """A row for `count` adapters of `system` to train (`steps` optimizer steps in all)."""
        self.rows.append(
            PlanRow(
                stage="build",
                job=f"{system}: adapters",
                role="small",
                model=self.profile.roles["small"].model,
                training_jobs=count,
                training_steps=steps,
                usd=None,
                note=note,
                pipeline_stage=pipeline_stage,
            )
        )
