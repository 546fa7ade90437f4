"""`prefbench human export|serve|backup`: bundle, annotation app, answer backups.

Mounted by harness.cli.

Bad input raises PrefbenchInputError; the `prefbench` entry point turns it into exit code 2.
"""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from prefbench.core.errors import PrefbenchInputError

human_app = typer.Typer(
    help="Human evaluation: export blinded pairs, the annotation app, import, agreement.",
    no_args_is_help=True,
)
console = Console()

RunOption = Annotated[Path, typer.Option("--run", help="The run folder, e.g. runs/demo.")]


def parse_counts(values: list[str]) -> dict[str, int]:
    """`SYSTEM=N` options → {system: N}; a malformed one is an input error."""
    counts: dict[str, int] = {}
    for value in values:
        system, separator, number = value.partition("=")
        if not separator or not system.strip() or not number.strip().isdigit():
            raise PrefbenchInputError(
                f"--count {value!r} is not SYSTEM=N (e.g. --count naive_finetune=200)"
            )
        if system.strip() in counts:
            raise PrefbenchInputError(f"--count names {system.strip()!r} twice")
        counts[system.strip()] = int(number)
    return counts


@human_app.command("export")
def export_command(
    run_dir: RunOption,
    annotator: Annotated[
        list[str], typer.Option("--annotator", help="An annotator's name (repeat for each).")
    ],
    count: Annotated[
        list[str] | None,
        typer.Option("--count", help="Items for one compared system: SYSTEM=N (repeatable)."),
    ] = None,
    default_count: Annotated[
        int | None,
        typer.Option(
            "--default-count", min=0, help="Items for systems without --count (default: all)."
        ),
    ] = None,
    item_order: Annotated[
        str,
        typer.Option(
            "--item-order",
            help="same: one order for everyone (as the paper); shuffled: per annotator.",
        ),
    ] = "same",
    seed: Annotated[int, typer.Option("--seed", help="Seeds sampling, A/B order, item order.")] = 0,
    judge: Annotated[
        str | None, typer.Option("--judge", help="Only judge logs of this judge (llm, similarity).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a bundle exported with other options.")
    ] = False,
) -> None:
    """Sample judged pairs, blind them and write the bundle to RUN/human/."""
    from prefbench.core.run_folder import RunFolder
    from prefbench.human_eval.export import export_bundle
    from prefbench.human_eval.folder import HumanFolder

    with RunFolder(run_dir).locked():
        bundle = export_bundle(
            run_dir,
            counts=parse_counts(count or []),
            default_count=default_count,
            annotators=annotator,
            item_order=item_order,
            seed=seed,
            overwrite=overwrite,
            judge=judge,
            announce=lambda note: console.print(note, highlight=False),
        )
    for comparison in bundle.manifest.comparisons:
        console.print(
            f"{comparison.system_a} vs {comparison.system_b}: {comparison.items} items "
            f"({comparison.judge_log})",
            highlight=False,
        )
    folder = HumanFolder(run_dir)
    console.print(
        f"{len(bundle.items)} items for {', '.join(bundle.annotator_names)} in {folder.root} "
        f"(Label Studio files in {folder.label_studio_dir}). "
        f"Next: `prefbench human serve --run {run_dir}`",
        highlight=False,
    )


@human_app.command("serve")
def serve_command(
    run_dir: RunOption,
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to bind; other than loopback only with --allow-remote."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8765,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a --host that other machines can reach (prints who can reach it).",
        ),
    ] = False,
    behind_tls: Annotated[
        bool,
        typer.Option(
            "--behind-tls",
            help="Annotators come through a TLS reverse proxy: Secure cookie, https origins.",
        ),
    ] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Another Host name annotators use (a DNS name, the proxy's name); repeatable.",
        ),
    ] = None,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers",
            help="Believe X-Forwarded-For/-Proto from --forwarded-allow-ips (a reverse proxy): "
            "failed sign-ins are then counted per real client. Off: per socket peer.",
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        list[str] | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="With --proxy-headers: the proxy's address (repeatable; default 127.0.0.1).",
        ),
    ] = None,
) -> None:
    """Serve the annotation app for RUN's bundle and print each annotator's invite link.

    Takes a snapshot of the answers database into RUN/human/backups/ first.
    """
    from prefbench.core.run_folder import RunFolder
    from prefbench.core.run_lock import refuse_if_locked
    from prefbench.human_eval.server import ProxySettings, serve

    if forwarded_allow_ips and not proxy_headers:
        raise PrefbenchInputError(
            "--forwarded-allow-ips needs --proxy-headers (forwarding headers are ignored "
            "without it)"
        )
    proxy = ProxySettings(tuple(forwarded_allow_ips or ["127.0.0.1"])) if proxy_headers else None

    # the answers go to SQLite, which has its own locking: `human import` may run meanwhile
    refuse_if_locked(RunFolder(run_dir).require_existing().root)
    serve(
        run_dir,
        host=host,
        port=port,
        announce=lambda line: console.print(line, highlight=False),
        allow_remote=allow_remote,
        behind_tls=behind_tls,
        extra_hosts=allowed_host or [],
        proxy=proxy,
    )


@human_app.command("backup")
def backup_command(run_dir: RunOption) -> None:
    """Copy RUN's answers database to RUN/human/backups/ (safe while the app is serving)."""
    from prefbench.core.run_folder import RunFolder
    from prefbench.human_eval.backup import backup_answers

    with RunFolder(run_dir).locked():
        backup = backup_answers(run_dir)
    console.print(f"{backup.answers} answers backed up to {backup.path}", highlight=False)
