"""The records stage: the profile's records, with an intent for each (`data/records.jsonl`).

Records without an intent get one from the `large` role (`tasks.intents.intent_task`, logs
in `logs/intents/`, sampled at several temperatures).
"""

from pathlib import Path
from typing import Any

from core.errors import PrefbenchInputError
from core.fingerprint import fingerprint
from harness.profile import Profile
from harness.prompt_files import prompts_fingerprint
from harness.stages.base import PipelineContext, Stage
from tasks.demo import generate_demo_records
from tasks.intents import chosen_intent, intent_task
from tasks.records import Record, read_records, write_records


def profile_records(profile: Profile) -> list[Record]:
    """The records a run of `profile` starts from, read or generated without running anything.

    Raises `PrefbenchInputError` naming the path and the `prefbench data prepare` command
    when a `records` dataset's file does not exist.
    """
    dataset = profile.dataset
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
    """Records and intents: sets `context.records` and writes `data/records.jsonl`."""

    name = "records"
    title = "records and intents"

    def key(self, context: PipelineContext, missing: list[Record]) -> dict[str, Any]:
        """The inputs of the intents eval over the records that have no intent."""
        return {
            "records": fingerprint([record.model_dump() for record in missing]),
            "prompts": prompts_fingerprint(),
            "max_tokens": context.profile.generation.intent_max_tokens,
            "seed": context.profile.seed,
        }

    def run(self, context: PipelineContext) -> None:
        """Read or generate the records, write intents where missing, save the records file."""
        self.heading(context)
        records = profile_records(context.profile)
        missing = [record for record in records if not record.intent]
        if missing:
            task = intent_task(
                missing,
                seed=context.profile.seed,
                max_tokens=context.profile.generation.intent_max_tokens,
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
        counts = {split: sum(r.split == split for r in records) for split in ("train", "test")}
        users = len({record.user for record in records})
        context.console.print(
            f"{len(records)} records of {users} users ({counts['train']} train, "
            f"{counts['test']} test) → {context.run.records}"
        )
        context.records = records
