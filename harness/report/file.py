"""Reading a run's report.json: one function, light to import (the CLI reads it to print it).

The one writer is `prefbench.harness.report.build.write_report`, which renders report.md,
report.html and the figures first.
"""

from typing import Any

from prefbench.core.bounded_input import loads_json
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder

__all__ = ["read_report"]


def read_report(run: RunFolder) -> dict[str, Any]:
    """The run's report.json as a dict: the one reader of that file.

    Raises PrefbenchInputError naming the file and the fix when it is missing, is not JSON or
    is not a JSON object.
    """
    path = run.report_json
    rewrite = f"run `prefbench judge --run {run.root}` to rewrite it"
    try:
        report = loads_json(path.read_text("utf-8"))
    except FileNotFoundError as error:
        raise PrefbenchInputError(
            f"{path} does not exist: finish the run with `prefbench run` first"
        ) from error
    except (OSError, ValueError) as error:  # not JSON, nested too deeply, not UTF-8
        raise PrefbenchInputError(f"{path} is corrupt ({error}): {rewrite}") from error
    if not isinstance(report, dict):
        raise PrefbenchInputError(f"{path} is corrupt (not a JSON object): {rewrite}")
    return report
