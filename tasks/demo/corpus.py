"""The demo corpus, registered as ``demo``: `generate_demo_records` for `prefbench data prepare`."""

from pydantic import BaseModel, ConfigDict, Field

from prefbench.core.errors import PrefbenchInputError
from prefbench.tasks.corpora.registry import generated_corpus
from prefbench.tasks.demo.generator import generate_demo_records
from prefbench.tasks.demo.personas import PERSONAS
from prefbench.tasks.records import Record


class DemoOptions(BaseModel):
    """The options of the ``demo`` corpus."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    records_per_user: int = Field(10, ge=2, description="emails per persona")


@generated_corpus(
    name="demo", text_kind="email", test_fraction=0.2, options=DemoOptions, default_users=3
)
def demo_corpus(
    *, users: int | None, seed: int, test_fraction: float, options: DemoOptions
) -> list[Record]:
    """Synthetic emails of distinct personas (seeded); one user per persona."""
    try:
        return generate_demo_records(
            personas=len(PERSONAS) if users is None else users,
            records_per_persona=options.records_per_user,
            seed=seed,
            test_fraction=test_fraction,
        )
    except ValueError as error:
        raise PrefbenchInputError(
            f"corpus demo: {error} (--users counts personas, at most {len(PERSONAS)})"
        ) from error
