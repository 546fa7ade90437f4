"""The report stage: report.json, report.md, report.html and figures.

report.json carries the run's `provenance` (`prefbench.harness.provenance.run_provenance`:
versions, model identities, judge spec, split), which is part of the report's key.

The report is built (a typed `prefbench.harness.report.schema.Report`) from the pairwise
judge logs of every judge (`prefbench.harness.report.build.build_report`)
plus the section of every stage of the run's pipeline that has one (`Stage.report_section`). It is
keyed by its inputs; an unchanged report is read back instead of recomputing its bootstraps.
"""

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefbench.core.fingerprint import fingerprint
from prefbench.harness.provenance import run_provenance
from prefbench.harness.report.build import build_report, read_previous_report, write_report
from prefbench.harness.report.schema import SCHEMA_VERSION
from prefbench.harness.stages.base import PipelineContext, Stage

if TYPE_CHECKING:
    from prefbench.harness.cost.plan import Planner


def _file_content(path: Path) -> str:
    """The sha256 of a judge log's bytes: human scores are attached to judge logs in place.

    Its content, not its modification time, so a copied run folder reuses its report.
    """
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def report_sections(context: PipelineContext) -> dict[str, Any]:
    """The report.json sections of the run's stages, in pipeline order (None left out)."""
    sections: dict[str, Any] = {}
    for stage in context.stages:
        section = stage.report_section(context)
        if stage.section is not None and section is not None:
            sections[stage.section] = section
    return sections


class ReportStage(Stage):
    """Write the report files; sets `context.report`."""

    name = "report"
    title = "report"

    def key(self, context: PipelineContext, sections: dict[str, Any]) -> dict[str, Any]:
        """The report's inputs: judge logs' keys and files, the sections, the settings."""
        profile = context.profile
        judge_logs = context.judge_logs.values()
        return {
            "judge_logs": [result.stage_key() for result in judge_logs],
            "judge_files": [_file_content(result.log_path) for result in judge_logs],
            "sections": sections,  # provenance (`prefbench.harness.provenance`) among them
            "tie_policies": [judge.tie_policy for judge in profile.judges],
            "seed": profile.seed,
            "reference": profile.reference_system,
            "report_format": SCHEMA_VERSION,
        }

    def plan(self, context: PipelineContext, planner: "Planner") -> None:
        """A local row when an earlier stage has work planned (else the report is reused)."""
        if planner.rows:
            super().plan(context, planner)

    def calls_models(self, context: PipelineContext) -> bool:
        """Never: statistics, tables and figures from the logs."""
        return False

    def run(self, context: PipelineContext) -> None:
        """Build and write the report, or reuse report.json when its inputs are unchanged."""
        self.heading(context)
        sections = report_sections(context)
        sections["provenance"] = run_provenance(context.run, context.profile).model_dump(
            mode="json"
        )
        inputs_key = fingerprint(self.key(context, sections))
        previous = read_previous_report(context.run)
        if previous is not None and previous.inputs_key == inputs_key:
            context.console.print("[dim]report: inputs unchanged, reused report.json[/dim]")
            context.report = previous
            return
        paths = [result.log_path for result in context.judge_logs.values()]
        report = build_report(context.run, context.profile, paths, sections, inputs_key)
        write_report(context.run, report)
        context.report = report
