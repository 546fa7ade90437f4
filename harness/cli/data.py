"""`prefbench data prepare|stats|corpora`: turn a corpus into per-user records, describe them.

The corpora, what `--source` each reads and their options come from the corpus registry
(`prefbench.tasks.corpora.registry`); a plug-in's corpus is prepared like a built-in one.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.cli.listings import list_corpora
from prefbench.tasks.corpora import corpora, corpus_stats, prepare_corpus

if TYPE_CHECKING:
    from rich.table import Table as RichTable

__all__ = ["data_app"]

data_app = typer.Typer(help="Prepare and inspect datasets.", no_args_is_help=True)
console = Console()

_BUILT_IN = corpora(plugins=False)
"""The corpora registered when the CLI is imported (prefbench's own), named by the help texts;
plug-ins load only when a command runs, so a broken one cannot break ``--help``."""


def _option_shortcut_help(option: str) -> str:
    described = [
        f"{entry.name}: {entry.option_help()[option]}"
        for entry in _BUILT_IN
        if option in entry.options.model_fields
    ]
    return f"Same as --option {option}=VALUE ({'; '.join(described)})."


DATASET_HELP = (
    f"The corpus: {', '.join(entry.name for entry in _BUILT_IN)}, or a plug-in's "
    "(`prefbench data corpora` lists them all)."
)
SOURCE_HELP = (
    "What the corpus reads: "
    + "; ".join(f"{entry.name}: {entry.source_help}" for entry in _BUILT_IN if entry.source_help)
    + "."
)
USERS_HELP = (
    "Number of users (default: "
    + ", ".join(
        f"{entry.name} {entry.default_users if entry.default_users is not None else 'all'}"
        for entry in _BUILT_IN
    )
    + ")."
)
SPLIT_HELP = (
    "random or chronological (default: the corpus's own rule; "
    + "; ".join(f"{entry.name}: {entry.split.describe()}" for entry in _BUILT_IN)
    + ")."
)


@data_app.command("prepare")
def data_prepare(
    dataset: Annotated[str, typer.Argument(help=DATASET_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Output folder (records.jsonl goes there).")],
    source: Annotated[Path | None, typer.Option("--source", help=SOURCE_HELP)] = None,
    users: Annotated[int | None, typer.Option("--users", min=1, help=USERS_HELP)] = None,
    min_records: Annotated[
        int, typer.Option("--min-records", min=1, help="Users need this many usable texts.")
    ] = 20,
    records_per_user: Annotated[
        int | None,
        typer.Option("--records-per-user", help=_option_shortcut_help("records_per_user")),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    split: Annotated[str | None, typer.Option("--split", help=SPLIT_HELP)] = None,
    user_field: Annotated[
        str | None, typer.Option("--user-field", help=_option_shortcut_help("user_field"))
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="A corpus option as KEY=VALUE, repeatable (`prefbench data corpora` lists them).",
        ),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="First bad record is an error.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="List dropped texts.")] = False,
) -> None:
    """Turn a corpus into per-user records (OUT/records.jsonl), counting every drop."""
    options = _parse_options(option or [])
    shortcuts = {"user_field": user_field, "records_per_user": records_per_user}
    options.update({name: value for name, value in shortcuts.items() if value is not None})
    with console.status(f"reading {source or dataset} ..."):
        summary = prepare_corpus(
            dataset,
            source,
            out,
            users=users if users is not None else "default",
            min_records=min_records,
            seed=seed,
            split=split,  # type: ignore[arg-type]  # prepare_corpus checks it
            strict=strict,
            **options,
        )
    console.print(_two_column_table(f"prepared {dataset}", summary.to_rows()))
    if verbose:
        for example in summary.dropped_examples:
            console.print(f"dropped ({example.reason}): {example.source}: {example.detail}")


def _parse_options(pairs: list[str]) -> dict[str, object]:
    """``["user_field=author"]`` → ``{"user_field": "author"}``; no ``=`` is an error."""
    options: dict[str, object] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise PrefbenchInputError(
                f"--option {pair!r}: expected KEY=VALUE, e.g. --option user_field=publication"
            )
        options[name.strip().replace("-", "_")] = value
    return options


@data_app.command("corpora")
def data_corpora() -> None:
    """The registered corpora and text kinds (the same as `prefbench corpora`)."""
    list_corpora()


def _two_column_table(title: str, rows: list[tuple[str, str]]) -> "RichTable":
    from prefbench.core.tables import Column, Table, cells, rich_table

    return rich_table(
        Table(
            title=title,
            columns=[Column("", "left"), Column("")],
            rows=[cells(label, value) for label, value in rows],
        )
    )


@data_app.command("stats")
def data_stats(
    folder: Annotated[Path, typer.Argument(help="A prepared folder (or its records.jsonl).")],
) -> None:
    """Users, records per split, text length percentiles and drops by reason."""
    from prefbench.core.tables import Table, cells, columns, rich_table

    stats = corpus_stats(folder)
    console.print(_two_column_table(f"records in {folder}", stats.to_rows()))
    per_user = Table(
        title="records per user",
        columns=columns("user", "records"),
        rows=[cells(user, str(count)) for user, count in sorted(stats.records_per_user.items())],
    )
    console.print(rich_table(per_user))
