"""Reading a run's report.json: one function, light to import (the CLI reads it to print it).

The one writer is `prefbench.harness.report.build.write_report`, which renders report.md,
report.html and the figures first. The file is read into the typed `Report`
(`prefbench.harness.report.schema`); a report.json of an older layout (no `schema_version`,
or another one) is an error naming the file and the command that rebuilds it.
"""

from pydantic import ValidationError

from prefbench.core.bounded_input import loads_json
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.harness.report.schema import SCHEMA_VERSION, Report

__all__ = ["OlderReportLayout", "read_report"]


class OlderReportLayout(PrefbenchInputError):
    """report.json was written with another layout; `prefbench report` rebuilds it."""


def read_report(run: RunFolder) -> Report:
    """The run's report.json as a `Report`: the one reader of that file.

    Raises PrefbenchInputError naming the file and the fix when it is missing, is not JSON,
    is not a JSON object, was written with another layout (`schema_version`) or does not
    match the schema.
    """
    path = run.report_json
    rewrite = f"run `prefbench judge --run {run.root}` to rewrite it"
    try:
        data = loads_json(path.read_text("utf-8"))
    except FileNotFoundError as error:
        raise PrefbenchInputError(
            f"{path} does not exist: finish the run with `prefbench run` first"
        ) from error
    except (OSError, ValueError) as error:  # not JSON, nested too deeply, not UTF-8
        raise PrefbenchInputError(f"{path} is corrupt ({error}): {rewrite}") from error
    if not isinstance(data, dict):
        raise PrefbenchInputError(f"{path} is corrupt (not a JSON object): {rewrite}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        written = "no schema_version" if version is None else f"schema_version {version!r}"
        raise OlderReportLayout(
            f"{path} was written by an older prefbench ({written}; this one reads "
            f"schema_version {SCHEMA_VERSION}): rebuild it from the run's logs with "
            f"`prefbench report --run {run.root}` (no model is called)"
        )
    try:
        return Report.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()[:5]
        )
        raise PrefbenchInputError(
            f"{path} does not match its schema ({problems}): {rewrite}"
        ) from error
