"""The records stage: the profile's records, with an intent for each (`data/records.jsonl`).

The profile's `long_texts` policy is applied first (`prefbench.tasks.long_texts`): texts longer than
its `max_text_tokens` are cut (and flagged) or their records dropped, before any model call;
what it did is the report's `long_texts` section. Records without an intent then get one
from the `large` role (`prefbench.tasks.intents.intent_task`, logs in `logs/intents/`, sampled at
the profile's `generation.intent_temperatures`).
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.cost.planning_model import local_tokenizer_source, token_counter
from prefbench.harness.profile import Profile
from prefbench.harness.prompt_files import prompts_fingerprint, text_kind_prompts_key
from prefbench.harness.serving.models import PLANNING_PROVIDER, SMOLLM2
from prefbench.harness.split import read_split, split_info, write_split
from prefbench.harness.split_guard import guard_records
from prefbench.harness.stages.base import PipelineContext, Stage
from prefbench.tasks.demo import generate_demo_records
from prefbench.tasks.intents import TEMPERATURES, chosen_intent, intent_task
from prefbench.tasks.long_texts import TextLengthOutcome, limit_text_lengths
from prefbench.tasks.records import Record, read_records, records_fingerprint, write_records

if TYPE_CHECKING:
    from prefbench.harness.cost.plan import Planner


def profile_records(profile: Profile) -> list[Record]:
    """The records a run of `profile` starts from, read or generated without running anything.

    The profile's `long_texts` policy is applied (`limited_records`).

    Raises `PrefbenchInputError` naming the path and the `prefbench data prepare` command
    when a `records` dataset's file does not exist.
    """
    return limited_records(profile)[0]


def limited_records(profile: Profile) -> tuple[list[Record], TextLengthOutcome | None]:
    """The profile's records after its `long_texts` policy, and what the policy did.

    The outcome is None when the profile sets no policy (texts pass whole).
    """
    records = source_records(profile)
    policy = profile.long_texts
    if policy is None:
        return records, None
    assert policy.max_text_tokens is not None  # filled in when the profile is parsed
    counter = token_counter(small_tokenizer(profile))
    return limit_text_lengths(
        records,
        max_tokens=policy.max_text_tokens,
        policy=policy.policy,
        count=counter.count,
        counted_with=counter.method,
    )


def small_tokenizer(profile: Profile) -> str | None:
    """Where the small model's tokenizer is, if on disk (a dry run's planning model's too).

    The packaged SmolLM2 is converted here if it is not yet, so a first run and a re-run
    count with the same tokenizer (and cut the same texts).
    """
    spec = profile.roles["small"]
    if spec.model.startswith(f"{PLANNING_PROVIDER}/"):
        return spec.model_args.get("tokenizer")
    if spec.model == SMOLLM2:
        from prefbench.core.offline_models import smollm2_dir

        return str(smollm2_dir())
    return local_tokenizer_source(spec)


def source_records(profile: Profile) -> list[Record]:
    """The dataset's records as read or generated, before any length policy."""
    dataset = profile.dataset
    if dataset is None:
        raise PrefbenchInputError(
            f"profile {profile.name} lists several datasets: run each through "
            "`prefbench.harness.profile.dataset_profiles`"
        )
    if dataset.kind == "demo":
        return generate_demo_records(
            personas=dataset.personas,
            records_per_persona=dataset.records_per_persona,
            seed=profile.seed,
            test_fraction=dataset.test_fraction,
        )
    assert dataset.path is not None
    path = Path(dataset.path)
    if not path.is_file():
        raise PrefbenchInputError(
            f"records file {path} (the profile's dataset.path) does not exist: prepare it with "
            f"`prefbench data prepare CORPUS --source PATH --out {path.parent}` (`prefbench data "
            "corpora` lists them), "
            "or point dataset.path at a records.jsonl file"
        )
    return read_records(path)


class RecordsStage(Stage):
    """Records and intents: sets `context.records`, writes `data/records.jsonl` and `split.json`.

    The run folder's split is guarded (`prefbench.harness.split`): records of another split
    stop the stage before it writes anything (`SplitChanged`, exit 2), unless the context
    allows a new split (`prefbench run --allow-new-split`), which removes the old report first.
    The split's fingerprint goes into every later log's metadata (`StageRunner.split`).

    Its report section, `long_texts`, is what the profile's length policy did (none without
    a policy).
    """

    name = "records"
    title = "records and intents"
    section = "long_texts"

    def key(self, context: PipelineContext, missing: list[Record]) -> dict[str, Any]:
        """The inputs of the intents eval over the records that have no intent."""
        return {
            "records": records_fingerprint(missing),
            "prompts": prompts_fingerprint("tasks", purposes=("extract_intent",)),
            **text_kind_prompts_key(missing),
            "max_tokens": context.profile.generation.intent_max_tokens,
            "seed": context.profile.seed,
            **temperatures_key(context.profile.generation.intent_temperatures),
        }

    def run(self, context: PipelineContext) -> None:
        """Read or generate the records, write intents where missing, save the records file."""
        self.heading(context)
        records, lengths = limited_records(context.profile)
        split = split_info(context.profile, records)
        guard_records(context.run, split, records, context.allow_new_split)  # before any write
        context.runner.split = split.fingerprint
        if lengths is not None:
            context.console.print(lengths.line(), highlight=False)
            self.keep_section(context, lengths.summary())
        missing = [record for record in records if not record.intent]
        if missing:
            task = intent_task(
                missing,
                seed=context.profile.seed,
                max_tokens=context.profile.generation.intent_max_tokens,
                temperatures=tuple(context.profile.generation.intent_temperatures),
            )
            result = context.runner.run_stage(
                "intents", "intents", task, ("large",), self.key(context, missing), sampling=True
            )
            intents = {
                str(sample.id): chosen_intent(sample.store)
                for sample in result.read().samples or []
            }
            records = [
                record
                if record.intent
                else record.model_copy(update={"intent": intents[record.id]})
                for record in records
            ]
        if not context.run.records.exists() or read_records(context.run.records) != records:
            write_records(context.run.records, records)
        if read_split(context.run) != split:  # after the records: split.json commits them
            write_split(context.run, split)
        counts = {split: sum(r.split == split for r in records) for split in ("train", "test")}
        users = len({record.user for record in records})
        context.console.print(
            f"{len(records)} records of {users} users ({counts['train']} train, "
            f"{counts['test']} test) → {context.run.records}"
        )
        context.records = records

    def plan(self, context: PipelineContext, planner: "Planner") -> None:
        """Plan the intents of the records that have none, unless the run folder has them.

        Sets `context.records` (planned intents stand in for the unwritten ones) and writes
        them to the context's records file, where later stages' solvers read them.
        """
        records = planner.source_records or limited_records(context.profile)[0]
        missing = [record for record in records if not record.intent]
        intents: dict[str, str] = {}
        if missing:
            key = self.key(context, missing)
            finished = planner.finished("intents", "intents", ("large",), key)
            if finished is not None:
                log = finished.result.read()
                intents = {
                    str(sample.id): chosen_intent(sample.store)
                    for sample in log.samples or []
                    if str(sample.id) not in finished.failed
                }
            if finished is None or finished.failed:
                task = intent_task(
                    missing,
                    seed=context.profile.seed,
                    max_tokens=context.profile.generation.intent_max_tokens,
                    temperatures=tuple(context.profile.generation.intent_temperatures),
                )
                todo = [sample for sample in task.dataset if str(sample.id) not in intents]
                planned = planner.evaluate(
                    self.name, "intents", "intents", todo, ("large",), solver=task.solver
                )
                intents |= {sample.id: chosen_intent(sample.store) for sample in planned.samples}
        records = [
            record if record.intent else record.model_copy(update={"intent": intents[record.id]})
            for record in records
        ]
        write_records(context.run.records, records)
        context.records = records


def temperatures_key(temperatures: list[float]) -> dict[str, list[float]]:
    """The intent temperatures as part of the stage key, left out at the default (old keys)."""
    return {} if tuple(temperatures) == TEMPERATURES else {"temperatures": temperatures}
