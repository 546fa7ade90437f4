"""Build step of `naive_finetune`: LoRA on (x, g), the user's intents and real emails."""

from prefbench.solvers.training.context import BuildContext
from prefbench.solvers.training.lora import TrainingExample
from prefbench.solvers.training.training import request_user_adapter
from prefbench.solvers.writer import render_prompt, template_for
from prefbench.tasks.records import records_by_user
from prefbench.tasks.samples import record_to_sample

SYSTEM = "naive_finetune"


def build_naive_finetune(context: BuildContext) -> None:
    """Queue one adapter per user that writes the email directly from the writer prompt."""
    for user, records in records_by_user(context.train_records).items():
        examples = []
        for record in records:
            metadata = record_to_sample(record).metadata or {}
            prompt = render_prompt(template_for("write", metadata), metadata)
            examples.append(TrainingExample(prompt=prompt, target=record.content))
        request_user_adapter(context, SYSTEM, user, examples)
