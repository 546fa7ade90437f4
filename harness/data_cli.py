"""`prefbench data prepare|stats`: turn a corpus into per-user records, and describe them."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from core.errors import PrefbenchInputError

if TYPE_CHECKING:
    from rich.table import Table as RichTable

__all__ = ["data_app"]

data_app = typer.Typer(help="Prepare and inspect datasets.", no_args_is_help=True)
console = Console()


@data_app.command("prepare")
def data_prepare(
    dataset: Annotated[str, typer.Argument(help="enron, new_yorker or demo.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (records.jsonl goes there).")],
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="enron: maildir folder, enron_mail_*.tar.gz, CSV export (file,message) or the "
            "Enron-42k release (.jsonl/.parquet); new_yorker: All the News 2.0 CSV.",
        ),
    ] = None,
    users: Annotated[int | None, typer.Option("--users", min=1, help="Number of users.")] = None,
    min_records: Annotated[
        int, typer.Option("--min-records", min=1, help="Users need this many usable texts.")
    ] = 20,
    records_per_user: Annotated[
        int, typer.Option("--records-per-user", min=2, help="demo only.")
    ] = 10,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    split: Annotated[str, typer.Option("--split", help="random or chronological.")] = "random",
    user_field: Annotated[
        str, typer.Option("--user-field", help="new_yorker: author or publication.")
    ] = "author",
    strict: Annotated[bool, typer.Option("--strict", help="First bad record is an error.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="List dropped texts.")] = False,
) -> None:
    """Turn a corpus into per-user records (OUT/records.jsonl), counting every drop."""
    if dataset == "demo":
        _prepare_demo(out, users or 3, records_per_user, seed)
        return
    if dataset not in ("enron", "new_yorker"):
        raise PrefbenchInputError(f"unknown dataset '{dataset}'; use enron, new_yorker or demo")
    if source is None:
        raise PrefbenchInputError(f"`prefbench data prepare {dataset}` needs --source PATH")
    if split not in ("random", "chronological"):
        raise PrefbenchInputError(f"unknown --split '{split}'; use random or chronological")
    if user_field not in ("author", "publication"):
        raise PrefbenchInputError(f"unknown --user-field '{user_field}'; use author or publication")
    from tasks.corpora import prepare_corpus

    with console.status(f"reading {source} ..."):
        summary = prepare_corpus(
            dataset,  # type: ignore[arg-type]
            source,
            out,
            users=users if users is not None else 15,
            min_records=min_records,
            seed=seed,
            split=split,  # type: ignore[arg-type]
            user_field=user_field,  # type: ignore[arg-type]
            strict=strict,
        )
    console.print(_two_column_table(f"prepared {dataset}", summary.to_rows()))
    if verbose:
        for example in summary.dropped_examples:
            console.print(f"dropped ({example.reason}): {example.source}: {example.detail}")


def _prepare_demo(out: Path, users: int, records_per_user: int, seed: int) -> None:
    from tasks.demo import generate_demo_records
    from tasks.records import write_records

    try:
        records = generate_demo_records(
            personas=users, records_per_persona=records_per_user, seed=seed
        )
    except ValueError as error:
        raise PrefbenchInputError(str(error)) from error
    write_records(out / "records.jsonl", records)
    console.print(f"{len(records)} records → {out / 'records.jsonl'}")


def _two_column_table(title: str, rows: list[tuple[str, str]]) -> "RichTable":
    from core.tables import Column, Table, cells, rich_table

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
    from rich.table import Table

    from tasks.corpora import corpus_stats

    stats = corpus_stats(folder)
    console.print(_two_column_table(f"records in {folder}", stats.to_rows()))
    per_user = Table(title="records per user")
    per_user.add_column("user")
    per_user.add_column("records", justify="right")
    for user, count in sorted(stats.records_per_user.items()):
        per_user.add_row(user, str(count))
    console.print(per_user)
