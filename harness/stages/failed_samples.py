"""The report's `failed_samples` section: samples that failed within the error policy.

Every stage the run's `StageRunner` ran or reused is read back for samples that ended with
an error (`prefbench.harness.error_policy.failed_samples`); each pairwise comparison counts the
records it skipped because either system's generation failed, and its own failed judge samples. The
section is left out of report.json when no sample failed.
"""

from typing import Any

from prefbench.harness.error_policy import failed_sample_ids, failed_samples
from prefbench.harness.stages.base import PipelineContext


def comparison_counts(context: PipelineContext) -> list[dict[str, Any]]:
    """Per judged pair: records skipped for a failed generation, and failed judge samples."""
    counts = []
    for result in context.judge_logs.values():
        metadata = result.read_header().eval.metadata or {}
        system_a, system_b = str(metadata.get("system_a")), str(metadata.get("system_b"))
        skipped: set[str] = set()
        for system in (system_a, system_b):
            generation = context.generation_logs.get(system)
            if generation is not None:
                skipped |= set(failed_sample_ids(generation.log_path))
        counts.append(
            {
                "comparison": f"{system_a}-vs-{system_b}",
                "system_a": system_a,
                "system_b": system_b,
                "judge": metadata.get("judge"),
                "skipped_failed_generation": len(skipped),
                "judge_failed": len(failed_sample_ids(result.log_path)),
            }
        )
    return counts


def failed_samples_section(context: PipelineContext) -> dict[str, Any] | None:
    """report.json's `failed_samples`: every failed sample and the counts; None when none."""
    listed = []
    for stage, result in context.runner.results.items():
        metadata = result.read_header().eval.metadata or {}
        listed += [failed.as_json() for failed in failed_samples(result.log_path, stage, metadata)]
    if not listed:
        return None
    by_stage: dict[str, int] = {}
    for entry in listed:
        by_stage[entry["stage"]] = by_stage.get(entry["stage"], 0) + 1
    errors = context.profile.errors
    return {
        "samples": listed,
        "by_stage": by_stage,
        "by_comparison": comparison_counts(context),
        "policy": {
            "fail_on_error": errors.fail_on_error,
            "retry_on_error": errors.retry_on_error,
        },
    }
