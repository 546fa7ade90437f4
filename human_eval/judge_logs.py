"""Reading the run's judge logs for the human commands, with the pipeline's corrupt-log rule.

A judge log that cannot be read (a truncated `.eval`, a zip without its directory) is moved
to `corrupt/logs/judge/` with a warning, exactly as `prefbench run` / `prefbench report` do
(`RunFolder.move_corrupt_log`); the pipeline then redoes its judge stage from the cache.
A log that cannot be read for a reason outside the file (permissions, a lost disk) is an
input error naming it. Names taken from data (`human/key.json`, `report.json`) must be plain
file names in `logs/judge/`.
"""

from collections.abc import Callable
from pathlib import Path

from inspect_ai.log import EvalLog, read_eval_log
from rich.markup import escape

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.core.safe_names import inside, visible

__all__ = ["JUDGE_KIND", "judge_log_path", "read_judge_log"]

JUDGE_KIND = "judge"
"""The stage kind (log folder) of pairwise judge logs."""

Announce = Callable[[str], None]


def judge_log_path(run_dir: Path, name: str, where: Path) -> Path:
    """`logs/judge/<name>` for a log name read from `where`; an input error for any other path.

    A name with a folder part, ``..`` or a NUL byte would lead outside `logs/judge/` (a
    tampered key.json or report.json): it is refused before anything is read or written.
    """
    folder = RunFolder(Path(run_dir)).logs(JUDGE_KIND)
    if not name or Path(name).name != name or name in (".", "..") or "\x00" in name:
        raise PrefbenchInputError(
            f"{where} names the judge log {visible(repr(name))}, which is not a file name in "
            f"{folder}; restore {where} (or export the bundle again)"
        )
    return inside(folder, folder / name)


def read_judge_log(
    run_dir: Path, path: Path, announce: Announce, *, header_only: bool = False
) -> EvalLog | None:
    """The judge log at `path`, or None when it was corrupt and has been moved aside.

    Raises:
        PrefbenchInputError: The file is missing or cannot be read for a reason outside it
            (permissions, the disk), naming it.
    """
    try:
        return read_eval_log(str(path), header_only=header_only)
    except FileNotFoundError as error:
        raise PrefbenchInputError(
            f"judge log {path} is missing: `prefbench run --out {run_dir}` writes the judge "
            "logs again (finished model calls come from the cache)"
        ) from error
    except OSError as error:
        raise PrefbenchInputError(
            f"judge log {path} cannot be read ({error}): check the file's permissions and the "
            "disk, then run the command again"
        ) from error
    except Exception as error:  # any reader failure of a damaged file (zip, JSON, schema)
        run = RunFolder(Path(run_dir))
        target = run.move_corrupt_log(JUDGE_KIND, path)
        announce(
            f"[yellow]warning:[/yellow] judge log {escape(str(path))} is corrupt "
            f"({type(error).__name__}): moved to {escape(str(target))}; `prefbench run --out "
            f"{escape(str(run_dir))}` redoes its judge stage, answering finished model calls "
            "from the cache."
        )
        return None
