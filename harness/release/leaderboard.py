"""`prefbench leaderboard --release DIR SUBMISSION... --out SITE`: a release plus new methods.

1. The release is checked against its manifest's hashes, each submission against its schema,
   the release's split and intents, the release's test ids (none missing, none extra) and
   every other system's name (`verify_submissions`); the judge must be installed here with
   the very settings, prompt contents and models of the release's (`require_release_judge`).
2. The working run folder `SITE/work/` (`prefbench.harness.release.working_run`) gets the
   release's logs and one replayed generation log per submission.
3. The pairs are the release's own (every verdict reused by its stage key) and each
   submission against the release's reference (both orders), asked through the pipeline's
   judge stage (`PairwiseJudgeStage.request`, `StageRunner.run_stages`). The number of new
   judgments is printed before any is made; with `max_cost` the cost machinery's plan of them
   (`prefbench.harness.cost.plan.Planner`) must fit under it (`refuse_above_ceiling`).
4. The report of every verdict log (`build_report`) gives the rows (`board_rows`), written
   as `leaderboard.json`, `.csv`, `.md` and the static site (`prefbench.harness.release.site`).
A second build with nothing new judges nothing.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.fingerprint import fingerprint
from prefbench.core.run_folder import RunFolder
from prefbench.core.safe_names import is_safe_name
from prefbench.harness.cost.guard import refuse_above_ceiling
from prefbench.harness.cost.plan import Planner
from prefbench.harness.cost.spend import price_of, usd
from prefbench.harness.pipeline import open_run
from prefbench.harness.profile import Profile, read_run_profile
from prefbench.harness.release.board import (
    JudgeBoard,
    Leaderboard,
    RowProvenance,
    board_rows,
)
from prefbench.harness.release.files import sha256_of
from prefbench.harness.release.manifest import MANIFEST_FILE, ReleaseManifest, read_release
from prefbench.harness.release.release import judge_spec
from prefbench.harness.release.site import write_site
from prefbench.harness.release.submission import (
    Submission,
    read_submission,
    require_outputs_cover,
)
from prefbench.harness.release.working_run import assemble_working_run, submission_request
from prefbench.harness.report.build import build_report
from prefbench.harness.report.file import read_report
from prefbench.harness.report.schema import Report
from prefbench.harness.stage_runner import StageRequest, StageResult
from prefbench.harness.stages import PairwiseJudgeStage, PipelineContext
from prefbench.harness.stages.pairwise_judge import ORDERS_PER_SAMPLE, judged_pairs, size_batches
from prefbench.scorers.registry import lookup_judge
from prefbench.tasks.records import read_records

__all__ = ["SubmittedMethod", "build_leaderboard", "require_release_judge", "verify_submissions"]


@dataclass(frozen=True)
class SubmittedMethod:
    """A verified submission and the file it came from."""

    path: Path
    sha256: str
    submission: Submission


def verify_submissions(manifest: ReleaseManifest, paths: list[Path]) -> list[SubmittedMethod]:
    """Read and check every submission against the release (see the module docstring).

    Raises:
        PrefbenchInputError: The first problem, naming the file, the field and the fix.
    """
    methods: list[SubmittedMethod] = []
    taken = {system.name: "the release" for system in manifest.systems}
    for path in paths:
        submission = read_submission(path)
        fix = f"make {path} again with `prefbench submit` from a run on the release's split"
        if submission.split_fingerprint != manifest.split.fingerprint:
            raise PrefbenchInputError(
                f"submission {path} was made on another split: split_fingerprint "
                f"{manifest.split.fingerprint} (release) → {submission.split_fingerprint}: {fix}."
            )
        if submission.inputs_fingerprint != manifest.inputs_fingerprint:
            raise PrefbenchInputError(
                f"submission {path} was written from other intents: inputs_fingerprint "
                f"{manifest.inputs_fingerprint} (release) → {submission.inputs_fingerprint}: "
                f"{fix}."
            )
        require_outputs_cover(manifest, submission.outputs, f"submission {path}")
        if not is_safe_name(submission.system):
            raise PrefbenchInputError(
                f"submission {path}: system name {submission.system!r} is not a plain name "
                "(lower-case letters, digits, . _ - @ +): submit it under such a name."
            )
        if submission.system in taken:
            raise PrefbenchInputError(
                f"submission {path}: system {submission.system!r} is in {taken[submission.system]}"
                " already: rename the method in one of them (each system appears once)."
            )
        taken[submission.system] = f"submission {path}"
        methods.append(SubmittedMethod(Path(path), sha256_of(Path(path)), submission))
    return methods


def require_release_judge(manifest: ReleaseManifest, profile: Profile) -> None:
    """An input error unless this installation judges exactly as the release's judge did.

    The judge must be registered here (a plug-in judge installed) and its key (settings,
    prompt files by content, code identity) and models must equal the release's.
    """
    try:
        here = judge_spec(profile)
    except PrefbenchInputError as error:
        raise PrefbenchInputError(
            f"the release's judge {manifest.judge.name!r} is not installed here ({error}): "
            "install the package that provides it, at the version the release names "
            f"({manifest.judge.key.get('judge_code', 'prefbench')})."
        ) from error
    differ = [
        f"{name}: {manifest.judge.key.get(name)!r} (release) → {here.key.get(name)!r}"
        for name in sorted(manifest.judge.key.keys() | here.key.keys())
        if manifest.judge.key.get(name) != here.key.get(name)
    ]
    differ += [
        f"model of role {role}: {manifest.judge.models.get(role)} (release) → "
        f"{here.models.get(role)}"
        for role in sorted(manifest.judge.models.keys() | here.models.keys())
        if manifest.judge.models.get(role) != here.models.get(role)
    ]
    if differ:
        raise PrefbenchInputError(
            f"the judge {manifest.judge.name!r} here is not the release's: {'; '.join(differ)}. "
            "Install the judge (package, prompt files, model) the release's judge.json names."
        )


def _pending(context: PipelineContext, requests: list[StageRequest]) -> list[StageRequest]:
    return [
        request
        for request in requests
        if context.runner.finished(request.kind, request.stage, request.roles, request.key) is None
    ]


def _judgments(requests: list[StageRequest]) -> int:
    return sum(len(request.task.dataset) for request in requests) * ORDERS_PER_SAMPLE


def refuse_judgments_above(
    context: PipelineContext, pending: list[StageRequest], max_cost: float, site: Path
) -> None:
    """Plan the pending judge evals' calls (the dry run's planner) and refuse above `max_cost`."""
    profile = context.profile
    definition = lookup_judge(profile.judge.kind)
    settings = profile.judge.typed_settings(profile.metrics)
    if not definition.roles_for(settings):
        return  # a judge that calls no model costs nothing
    planner = Planner(profile, context.run)
    for request in pending:
        scorer = definition.pairwise_scorer(
            settings.model_dump(mode="json"), profile.judge.tie_policy
        )
        planner.evaluate(
            "pairwise_judge",
            "judge",
            request.stage,
            list(request.task.dataset),
            request.roles,
            scorer=scorer,
        )
    called = [row for row in planner.rows if row.calls]
    unpriced = sorted({str(row.model) for row in called if row.usd is None})
    total = None if unpriced else sum(row.usd or 0.0 for row in called)
    refuse_above_ceiling({"usd": total, "unpriced_models": unpriced}, max_cost, site)


def generation_usd(models: dict[str, dict[str, int]], profile: Profile) -> float | None:
    """Dollars of a generation's tokens by model at the price list; None if one is unpriced."""
    total = 0.0
    for model, tokens in models.items():
        dollars = usd(price_of(model, profile), tokens["input_tokens"], tokens["output_tokens"])
        if dollars is None:
            return None
        total += dollars
    return total


def _log_usage(result: StageResult) -> dict[str, dict[str, int]]:
    usage = result.read_header().stats.model_usage or {}
    return {
        model: {"input_tokens": used.input_tokens, "output_tokens": used.output_tokens}
        for model, used in usage.items()
    }


def _provenances(
    manifest: ReleaseManifest, methods: list[SubmittedMethod], profile: Profile
) -> dict[str, RowProvenance]:
    release = manifest.provenance
    rows = {
        system.name: RowProvenance(
            source="release",
            status="verified",
            prefbench=release.prefbench,
            plugins=release.plugins,
            split_fingerprint=manifest.split.fingerprint,
            models={role: spec.model for role, spec in profile.roles.items()},
            created=manifest.created,
        )
        for system in manifest.systems
    }
    for method in methods:
        submission = method.submission
        roles = submission.profile.get("roles", {}) if isinstance(submission.profile, dict) else {}
        rows[submission.system] = RowProvenance(
            source="submission",
            status="submitted",
            prefbench=submission.provenance.prefbench,
            plugins=submission.provenance.plugins,
            split_fingerprint=submission.split_fingerprint,
            models={
                role: str(spec.get("model"))
                for role, spec in roles.items()
                if isinstance(spec, dict)
            },
            submission_file=method.path.name,
            submission_sha256=method.sha256,
            created=submission.created,
        )
    return rows


def build_leaderboard(
    release_dir: Path,
    submission_paths: list[Path],
    site: Path,
    console: Console,
    max_cost: float | None = None,
) -> Leaderboard:
    """Verify, judge what is new, and write the leaderboard files and site into `site`.

    Raises:
        PrefbenchInputError: A release, submission or judge check failed (nothing judged),
            or the new judgments' forecast is above `max_cost` (`ForecastAboveCeiling`).
    """
    release_dir, site = Path(release_dir), Path(site)
    manifest = read_release(release_dir)
    methods = verify_submissions(manifest, submission_paths)
    profile = read_run_profile(release_dir / "profile.yaml")
    require_release_judge(manifest, profile)
    work = assemble_working_run(release_dir, manifest, site)
    context = open_run(work.root, profile, console, display="none")
    stage = PairwiseJudgeStage()
    try:
        context.records = read_records(work.records)
        for system in manifest.systems:
            context.generation_logs[system.name] = StageResult(
                work.root / system.generation_log, cached=True
            )
        replays = [submission_request(context, method.submission) for method in methods]
        results = context.runner.run_stages(replays) if replays else []
        for method, result in zip(methods, results, strict=True):
            context.generation_logs[method.submission.system] = result
        reference = manifest.reference_system
        requests = [
            stage.request(context, system_a, system_b, control)
            for system_a, system_b, control in judged_pairs(profile)
        ]
        requests += [
            stage.request(context, reference, method.submission.system) for method in methods
        ]
        pending = _pending(context, requests)
        new = _judgments(pending)
        reused = _judgments(requests) - new
        console.print(
            f"new judgments: [bold]{new}[/bold] ({len(pending)} pair(s) × both orders: "
            f"{escape(', '.join(request.stage for request in pending)) or 'none'}); "
            f"reused: {reused}"
        )
        if pending and max_cost is not None:
            refuse_judgments_above(context, pending, max_cost, site)
        judged = context.runner.run_stages(
            requests, before_eval=lambda todo: size_batches(context, todo, ORDERS_PER_SAMPLE)
        )
        logs = [result.log_path for result in judged]
        report = build_report(
            work, profile, logs, {}, inputs_key=fingerprint([p.name for p in logs])
        )
        costs = {
            system: generation_usd(_log_usage(result), profile)
            for system, result in context.generation_logs.items()
        }
        for method in methods:
            costs[method.submission.system] = generation_usd(method.submission.usage, profile)
    finally:
        context.runner.close()
        if context.lock is not None:
            context.lock.release()
    systems = [system.name for system in manifest.systems]
    systems += [method.submission.system for method in methods]
    release_report = read_report_of(release_dir)
    board = Leaderboard(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        release_profile=manifest.profile,
        split_fingerprint=manifest.split.fingerprint,
        release_manifest_sha256=sha256_of(release_dir / MANIFEST_FILE),
        new_judgments=new,
        reused_judgments=reused,
        judges=[
            JudgeBoard(
                judge=manifest.judge,
                reference_system=reference,
                rows=board_rows(
                    report,
                    manifest.judge.name,
                    reference,
                    systems,
                    _provenances(manifest, methods, profile),
                    costs,
                ),
                controls=_controls_of(report, manifest.judge.name),
                agreement=dict(release_report.agreement),
            )
        ],
    )
    write_site(site, board, work)
    console.print(f"leaderboard → [bold]{site}[/bold] (index.html, leaderboard.json/.csv/.md)")
    return board


def read_report_of(release_dir: Path) -> Report:
    """The release's report.json (its human agreement section is shown beside the rows)."""
    return read_report(RunFolder(release_dir))


def _controls_of(report: Report, judge: str) -> dict[str, Any]:
    """The report's control checks of `judge` as JSON (empty when it has none)."""
    controls = report.controls.get(judge)
    return controls.model_dump(mode="json") if controls is not None else {}
