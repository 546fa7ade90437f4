"""The benchmark pipeline: records → intents → build → generate → judge → report.

Every stage is a library function over a run folder, so the CLI, a notebook and the tests
call the same code. Each stage reuses what an earlier run finished (see `harness.stages`).
"""

import inspect as pyinspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from core.atomic import atomic_write_text
from core.errors import PrefbenchInputError
from core.fingerprint import fingerprint
from core.run_folder import RunFolder
from harness.models import training_base
from harness.profile import Profile, dump_profile
from harness.prompt_files import prompts_fingerprint
from harness.report import REPORT_FORMAT, build_report, read_previous_report, write_report
from harness.similarity_stage import run_personalization, run_similarity_metrics
from harness.stages import StageResult, StageRunner
from scorers.bertscore import encoder_name
from solvers import lookup_system
from solvers.adapters import adapter_hashes, release_adapter_models
from solvers.training.context import AdapterTrainer, BuildContext
from tasks.demo import generate_demo_records
from tasks.generation import personalized_writing
from tasks.intents import chosen_intent, intent_task
from tasks.multi_candidate import multi_candidate_comparison, read_multi_candidate
from tasks.pairwise import pairwise_comparison
from tasks.records import Record, read_records, write_records


@dataclass
class PipelineContext:
    """A run in progress: its folder, profile, stage runner and console."""

    run: RunFolder
    profile: Profile
    console: Console
    runner: StageRunner
    limit: int | None = None
    adapters_trained: int = 0
    generation_logs: dict[str, StageResult] = field(default_factory=dict)
    judge_logs: dict[str, StageResult] = field(default_factory=dict)
    multi_candidate_log: StageResult | None = None
    similarity: dict[str, Any] | None = None
    personalization: dict[str, Any] | None = None
    adapter_trainer: AdapterTrainer | None = None
    """Replaces LoRA training when set (the dry run records the jobs instead)."""

    @property
    def recomputed_nothing(self) -> bool:
        """True when no eval ran and no adapter was trained in this invocation."""
        return self.runner.evals_run == 0 and self.adapters_trained == 0


def open_run(
    run_dir: Path,
    profile: Profile,
    console: Console,
    display: str = "rich",
    limit: int | None = None,
) -> PipelineContext:
    """Create (or reopen) a run folder for `profile` and write its resolved profile.

    Reopening a run with a different profile is allowed: stages whose inputs changed are
    recomputed, the others reused.
    """
    run = RunFolder(run_dir)
    run.root.mkdir(parents=True, exist_ok=True)
    text = dump_profile(profile)
    if not run.profile.exists() or run.profile.read_text("utf-8") != text:
        atomic_write_text(run.profile, text)
    runner = StageRunner(run, profile, display=display, announce=console.print)
    return PipelineContext(run, profile, console, runner, limit=limit)


def source_records(context: PipelineContext) -> list[Record]:
    """The profile's records before the intents stage."""
    dataset = context.profile.dataset
    if dataset.kind == "demo":
        return generate_demo_records(
            personas=dataset.personas,
            records_per_persona=dataset.records_per_persona,
            seed=context.profile.seed,
            test_fraction=dataset.test_fraction,
        )
    assert dataset.path is not None
    return read_records(Path(dataset.path))


def prepare_records(context: PipelineContext) -> list[Record]:
    """Records with intents, written to `data/records.jsonl` (intents stage when needed)."""
    context.console.rule("[bold]1. records and intents")
    records = source_records(context)
    missing = [record for record in records if not record.intent]
    if missing:
        settings = context.profile.generation
        task = intent_task(
            missing, seed=context.profile.seed, max_tokens=settings.intent_max_tokens
        )
        key = {
            "records": fingerprint([record.model_dump() for record in missing]),
            "prompts": prompts_fingerprint(),
            "max_tokens": settings.intent_max_tokens,
            "seed": context.profile.seed,
        }
        result = context.runner.run_stage(
            "intents", "intents", task, ("large",), key, sampling=True
        )
        intents = {
            str(sample.id): chosen_intent(sample.store) for sample in result.read().samples or []
        }
        records = [
            record if record.intent else record.model_copy(update={"intent": intents[record.id]})
            for record in records
        ]
    if not context.run.records.exists() or read_records(context.run.records) != records:
        write_records(context.run.records, records)
    counts = {split: sum(r.split == split for r in records) for split in ("train", "test")}
    users = len({record.user for record in records})
    context.console.print(
        f"{len(records)} records of {users} users ({counts['train']} train, {counts['test']} test) "
        f"→ {context.run.records}"
    )
    return records


@contextmanager
def _training_progress(
    context: PipelineContext, system: str, user: str
) -> Iterator[Callable[[int, int, float], None]]:
    """A rich progress bar for one adapter's training steps (counted for the re-run check)."""
    context.adapters_trained += 1
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=context.console) as progress:
        task_id = progress.add_task(f"LoRA {system} / {user}", total=None)

        def on_step(step: int, total: int, loss: float) -> None:
            description = f"LoRA {system} / {user}  loss {loss:.3f}"
            progress.update(task_id, completed=step, total=total, description=description)

        yield on_step


def build_systems(context: PipelineContext, records: list[Record], only: str | None = None) -> None:
    """Run the build step (rules, adapters) of every profile system that has one."""
    context.console.rule("[bold]2. build (rules and adapters)")
    profile = context.profile
    systems = [lookup_system(name) for name in profile.systems if only in (None, name)]
    to_build = [system for system in systems if system.build is not None]
    if not to_build:
        context.console.print("no system needs a build step")
        return
    base_dir, base_id = training_base(profile)
    train = [record for record in records if record.split == "train"]

    def run_eval(stage: str, task: Any, key: dict[str, Any]) -> Any:
        full_key = {**key, "prompts": prompts_fingerprint()}
        return context.runner.run_stage("build", stage, task, ("large",), full_key).read()

    build_context = BuildContext(
        run_dir=context.run.root,
        train_records=train,
        base_model_dir=base_dir,
        base_model_id=base_id,
        lora=profile.training.lora(profile.seed),
        email_max_tokens=profile.generation.max_tokens,
        rules_max_tokens=profile.generation.rules_max_tokens,
        run_eval=run_eval,
        training_progress=partial(_training_progress, context),
        announce=context.console.print,
        **({"train_adapter": context.adapter_trainer} if context.adapter_trainer else {}),
    )
    for system in to_build:
        assert system.build is not None
        system.build(build_context)


def system_options(profile: Profile, system_name: str) -> dict[str, Any]:
    """The profile settings a system's solver factory accepts (by parameter name)."""
    settings = profile.generation
    offered = {
        "max_tokens": settings.max_tokens,
        "rules_max_tokens": settings.rules_max_tokens,
        "k": settings.few_shot_k,
        "seed": profile.seed,
    }
    accepted = pyinspect.signature(lookup_system(system_name).solver_factory).parameters
    return {name: value for name, value in offered.items() if name in accepted}


def generate(
    context: PipelineContext, records: list[Record], only: str | None = None
) -> dict[str, StageResult]:
    """One generation eval per system over the test split (`logs/gen/`)."""
    context.console.rule("[bold]3. generation")
    test = [record for record in records if record.split == "test"]
    users = sorted({record.user for record in test})
    for name in context.profile.systems:
        if only not in (None, name):
            continue
        system = lookup_system(name)
        options = system_options(context.profile, name)
        adapters = adapter_hashes(context.run.root, name, users) if system.uses_adapter else {}
        key = {
            "system": name,
            "records": fingerprint([record.model_dump() for record in records]),
            "options": options,
            "adapters": adapters,
            "prompts": prompts_fingerprint(),
            "limit": context.limit,
        }
        task = personalized_writing(records=str(context.run.records), split="test")
        context.generation_logs[name] = context.runner.run_stage(
            "gen",
            f"gen-{name}",
            task,
            system.roles,
            key,
            metadata={"system": name},
            solver=system.make_solver(str(context.run.root), **options),
            limit=context.limit,
            on_done=release_adapter_models,
        )
    return context.generation_logs


def measure_similarity(context: PipelineContext, records: list[Record]) -> None:
    """Similarity metrics of every system, and the profile's K×K personalization matrix.

    Writes `logs/metrics/` and, when `metrics.personalization_system` is set, `logs/cross/`.
    """
    context.console.rule("[bold]4. similarity metrics")
    context.similarity = run_similarity_metrics(context)
    context.personalization = run_personalization(context, records)


def _similarity_judge_key(profile: Profile) -> dict[str, Any]:
    """The BERTScore settings of a similarity judge (an LLM judge's key does not use them)."""
    if profile.judge.kind != "similarity":
        return {}
    settings = profile.metrics
    return {"encoder": encoder_name(settings.encoder), "num_layers": settings.num_layers}


def require_generation_logs(context: PipelineContext) -> None:
    """An input error naming the profile systems without a generation log in this run."""
    missing = [name for name in context.profile.systems if name not in context.generation_logs]
    if missing:
        raise PrefbenchInputError(
            f"no generation logs for {missing} in {context.run.logs('gen')}: run "
            f"`prefbench generate --run {context.run.root}` first."
        )


def judge(context: PipelineContext) -> dict[str, StageResult]:
    """Judge the reference system against every other system (`logs/judge/`)."""
    context.console.rule("[bold]5. pairwise judging")
    profile = context.profile
    reference = profile.reference_system
    require_generation_logs(context)
    roles = ("judge",) if profile.judge.kind == "llm" else ()
    log_a = context.generation_logs[reference]
    for other in profile.systems:
        if other == reference:
            continue
        log_b = context.generation_logs[other]
        key = {
            "a": log_a.stage_key(),
            "b": log_b.stage_key(),
            "judge": profile.judge.kind,
            "judge_max_tokens": profile.judge.max_tokens,
            "prompts": prompts_fingerprint(),
            **_similarity_judge_key(profile),
        }
        task = pairwise_comparison(
            generations_a=str(log_a.log_path),
            generations_b=str(log_b.log_path),
            judge=profile.judge.kind,
            tie_policy=profile.judge.tie_policy,
            judge_max_tokens=profile.judge.max_tokens,
            encoder=profile.metrics.encoder,
            num_layers=profile.metrics.num_layers,
        )
        context.judge_logs[other] = context.runner.run_stage(
            "judge",
            f"judge-{reference}-vs-{other}",
            task,
            roles,
            key,
            metadata={"system_a": reference, "system_b": other, "judge": profile.judge.kind},
        )
    if profile.judge.multi_candidate:
        context.multi_candidate_log = judge_multi_candidate(context, roles)
    return context.judge_logs


def judge_multi_candidate(context: PipelineContext, roles: tuple[str, ...]) -> StageResult:
    """All systems' outputs shown to the judge at once, in every cyclic rotation."""
    profile = context.profile
    logs = [context.generation_logs[name] for name in profile.systems]
    key = {
        "generations": [result.stage_key() for result in logs],
        "judge": profile.judge.kind,
        "judge_max_tokens": profile.judge.max_tokens,
        "prompts": prompts_fingerprint(),
        **_similarity_judge_key(profile),
    }
    task = multi_candidate_comparison(
        generation_logs=[str(result.log_path) for result in logs],
        judge=profile.judge.kind,
        judge_max_tokens=profile.judge.max_tokens,
        encoder=profile.metrics.encoder,
        num_layers=profile.metrics.num_layers,
    )
    return context.runner.run_stage(
        "multi",
        "judge-multi-candidate",
        task,
        roles,
        key,
        metadata={"systems": list(profile.systems), "judge": profile.judge.kind},
    )


def _file_state(path: Path) -> list[int]:
    """Size and modification time: human scores are attached to judge logs in place."""
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def report_sections(context: PipelineContext) -> dict[str, Any]:
    """The report.json sections that stages other than pairwise judging produced."""
    sections: dict[str, Any] = {}
    if context.similarity is not None:
        sections["similarity"] = context.similarity
    if context.personalization is not None:
        sections["personalization"] = context.personalization
    if context.multi_candidate_log is not None:
        sections["multi_candidate"] = read_multi_candidate(
            context.multi_candidate_log.read(), seed=context.profile.seed
        )
    return sections


def report(context: PipelineContext) -> dict[str, Any]:
    """Write report.json, report.md, report.html and figures; return the report.

    The report is keyed by its inputs (judge logs' keys and files, the other stages'
    sections, tie policy, seed); an unchanged report is read back instead of recomputing
    its bootstraps.
    """
    context.console.rule("[bold]6. report")
    paths = [result.log_path for result in context.judge_logs.values()]
    profile = context.profile
    sections = report_sections(context)
    inputs_key = fingerprint(
        {
            "judge_logs": [result.stage_key() for result in context.judge_logs.values()],
            "judge_files": [_file_state(path) for path in paths],
            "sections": sections,
            "tie_policy": profile.judge.tie_policy,
            "seed": profile.seed,
            "reference": profile.reference_system,
            "report_format": REPORT_FORMAT,
        }
    )
    previous = read_previous_report(context.run)
    if previous is not None and previous.get("inputs_key") == inputs_key:
        context.console.print("[dim]report: inputs unchanged, reused report.json[/dim]")
        return previous
    result = {
        **build_report(context.run, profile, paths),
        **sections,
        "inputs_key": inputs_key,
    }
    write_report(context.run, result)
    return result


def run_benchmark(context: PipelineContext) -> dict[str, Any]:
    """All stages in order; returns the report."""
    records = prepare_records(context)
    build_systems(context, records)
    generate(context, records)
    measure_similarity(context, records)
    judge(context)
    return report(context)
