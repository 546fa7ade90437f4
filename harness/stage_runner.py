"""Run inspect evals as cached, resumable pipeline stages.

A stage is keyed by a fingerprint of everything it depends on (records, prompts, settings,
the role models' specs, adapter hashes). A finished log with the same key means the stage
is done: it is reused without loading a model. An interrupted stage leaves a log that is
not `success`; the next run evaluates again, and every model call that finished before is
answered from inspect's cache in the run folder, so nothing is recomputed or lost. Once the
new log succeeds the unfinished ones of that key are removed. A log that cannot be read is
moved to `corrupt/logs/<kind>/` (named in a warning) and its stage redone the same way.

The profile's error policy (`errors`, `prefbench.harness.error_policy`) bounds each call's retries
and time, and `fail_on_error` says how many failed samples a stage tolerates. A stage over it stops
the run (`StageInterrupted`, naming the setting). A stage within it succeeds with its failed samples
listed in its log; the next `prefbench run` evaluates that stage once again: its succeeded samples
are answered from the cache (no request), its failed ones are asked again, and the new log replaces
the old. Within one run a stage is evaluated at most once.

Every log's metadata holds, beside its key, the named inputs of the key (`prefbench_key_parts`:
each key entry and each role's model identity, short values as they are and long ones by hash),
the run's split fingerprint (`prefbench_split`, `prefbench.harness.split`) and prefbench's version.
When a stage runs again although `logs/<kind>/` holds a finished log of it under another key (a
log copied from another contributor, or written before an input changed), a warning names the log
and the parts that differ; the log is kept.
"""

import copy
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from inspect_ai import Task, eval, task_with
from inspect_ai.log import EvalLog, list_eval_logs, read_eval_log
from inspect_ai.solver import Solver
from rich.markup import escape

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.fingerprint import fingerprint
from prefbench.core.run_folder import RunFolder
from prefbench.harness.error_policy import (
    apply_call_policy,
    fail_on_error_text,
    failed_sample_ids,
    failed_samples,
)
from prefbench.harness.log_reads import log_header
from prefbench.harness.profile import Profile
from prefbench.harness.serving.decoding import unhonoured_decoding
from prefbench.harness.serving.models import ModelPool, role_fingerprint, role_identity
from prefbench.harness.serving.stable_cache import use_address_free_cache_keys
from prefbench.harness.serving.token_rate import limit_token_rate
from prefbench.harness.split import read_split
from prefbench.tasks.records import read_records

KEY_FIELD = "prefbench_key"
STAGE_FIELD = "prefbench_stage"
KEY_PARTS_FIELD = "prefbench_key_parts"
"""Eval metadata: the named inputs of the key (`StageRunner.key_parts`), to explain a mismatch."""
SPLIT_FIELD = "prefbench_split"
"""Eval metadata: the fingerprint of the run's split (`prefbench.harness.split.SplitInfo`)."""
VERSION_FIELD = "prefbench_version"
"""Eval metadata: the prefbench version that wrote the log."""
PART_TEXT_LIMIT = 80
"""Key parts whose JSON is longer are stored as a short hash."""
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
"""A key part that is a sha256 already: stored by its first 16 characters."""
DECODING_FIELD = "prefbench_decoding_not_honoured"
"""Eval metadata: the roles whose provider cannot honour the stated decoding, and why."""


class StageInterrupted(Exception):
    """An eval ended without finishing (cancelled or failed); the run can be resumed."""


@dataclass(frozen=True)
class StageRequest:
    """One stage to run: its eval task, the roles it uses and the inputs it is keyed by.

    `kind` is the log folder (`logs/<kind>/`); `solver`, when given, replaces the task's;
    `sampling` asks for the roles' sampling models (local `hf/` models decode greedily
    otherwise); `max_samples`, when given, is how many of its samples may be in flight at
    once (else the profile's `generation.max_samples`; a judge stage puts all of them in
    flight, bounded by its roles' connections).
    """

    kind: str
    stage: str
    task: Task
    roles: tuple[str, ...]
    key: dict[str, Any]
    metadata: dict[str, Any] | None = None
    solver: Solver | None = None
    limit: int | None = None
    sampling: bool = False
    max_samples: int | None = None


@dataclass(frozen=True)
class StageResult:
    """A finished stage's log path and whether it was reused."""

    log_path: Path
    cached: bool

    def read(self) -> EvalLog:
        """The full log, samples included."""
        return read_eval_log(str(self.log_path))

    def read_header(self) -> EvalLog:
        """The log without its samples (metadata, status, stats); shared, do not modify."""
        return log_header(self.log_path)

    def stage_key(self) -> str:
        """What later stages key on: the stage key the log was written under.

        With failed samples (within the error policy) their ids are part of it, so a later
        stage is redone once a re-run answers them; without, it is the key itself.
        """
        key = str((self.read_header().eval.metadata or {}).get(KEY_FIELD))
        failed = failed_sample_ids(self.log_path)
        return fingerprint({"key": key, "failed": failed}) if failed else key


def stage_fingerprint(
    profile: Profile, stage: str, roles: tuple[str, ...], key: dict[str, Any]
) -> str:
    """The fingerprint a stage's log is written under (`prefbench_key`).

    It holds the stage's name, its inputs and the identities of the role models it uses; the
    dry run looks finished stages up by it too.
    """
    return fingerprint({"stage": stage, "inputs": key, "roles": role_fingerprint(profile, roles)})


def read_log_header(path: Path) -> EvalLog:
    """A log's header; an input error naming the file and the fix when it cannot be read."""
    try:
        return log_header(path)
    except Exception as error:
        raise PrefbenchInputError(
            f"log {path} is corrupt ({type(error).__name__}): delete it and run again; "
            "finished model calls are cached, so nothing is recomputed."
        ) from error


def part_value(value: Any) -> Any:
    """A key part as stored in a log: short values as they are, a long one by a short hash."""
    if isinstance(value, str) and SHA256_HEX.fullmatch(value):
        return value[:16]
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return value if len(text) <= PART_TEXT_LIMIT else f"sha256:{fingerprint(value)[:16]}"


def differing_parts(found: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """`name: found → expected` for each key part that differs (missing ones too)."""
    return [
        f"{name}: {json.dumps(found.get(name), ensure_ascii=False)} → "
        f"{json.dumps(expected.get(name), ensure_ascii=False)}"
        for name in sorted(found.keys() | expected.keys())
        if found.get(name) != expected.get(name)
    ]


def _users_in(run: RunFolder) -> int:
    """How many users the run's records hold (0 before the records stage wrote them)."""
    if not run.records.exists():
        return 0
    users = {record.user for record in read_records(run.records)}
    return len(users)


class StageRunner:
    """Runs eval stages for one run folder with the profile's role models."""

    def __init__(
        self,
        run: RunFolder,
        profile: Profile,
        display: str = "rich",
        announce: Callable[[str], None] = print,
        models: ModelPool | None = None,
        adapter_users: Callable[[], int] | None = None,
    ) -> None:
        """A runner for `run`, with its own model pool or a shared one.

        `models`: a pool shared with other runners (a run of several datasets), which
        `close()` leaves open; without it the runner makes its own, whose adapter server is
        sized for `adapter_users()` users (default: the users of the run's records).
        """
        self.run = run
        self.profile = profile
        self.display = display
        self.announce = announce
        self.evals_run = 0
        self.reuse_only = False
        self.results: dict[str, StageResult] = {}
        """Every stage this runner ran or reused, by stage name (what the report lists)."""
        self.split: str | None = None
        """The run's split fingerprint, set by the records stage (else read from split.json)."""
        self._evaluated: set[Path] = set()
        self._warned_decoding: set[str] = set()
        self._warned_mismatch: set[str] = set()
        self._owns_models = models is None
        self.models = models or ModelPool(
            profile, adapter_users=adapter_users or (lambda: _users_in(run)), announce=announce
        )
        """The run's models: made once, shared by every stage, closed by `close()` (when
        the runner made them)."""
        os.environ["INSPECT_CACHE_DIR"] = str(run.cache.resolve())
        use_address_free_cache_keys()

    def close(self) -> None:
        """Close the run's models and stop the servers started for them (idempotent).

        A shared pool (`models` given) stays open: its owner closes it.
        """
        if self._owns_models:
            self.models.close()

    def stage_key(self, stage: str, roles: tuple[str, ...], key: dict[str, Any]) -> str:
        """The fingerprint that identifies a stage's inputs (`stage_fingerprint`)."""
        return stage_fingerprint(self.profile, stage, roles, key)

    def key_parts(self, roles: tuple[str, ...], key: dict[str, Any]) -> dict[str, Any]:
        """The named inputs of a stage key, as a log's metadata keeps them (`part_value`).

        Each entry of `key` and each role's model identity (`role <name>`), a mapping by its
        entries (`options.k`, `role large.model`), and the run's split: what a warning names
        when a log's key does not match.
        """
        named = dict(key)
        for role in roles:
            if role in self.profile.roles:
                named[f"role {role}"] = role_identity(self.profile, role)
        parts: dict[str, Any] = {}
        for name, value in named.items():
            if isinstance(value, dict) and value:
                parts |= {f"{name}.{entry}": part_value(item) for entry, item in value.items()}
            else:
                parts[name] = part_value(value)
        split = self.split_fingerprint()
        if split is not None:
            parts["split"] = split[:16]
        return parts

    def split_fingerprint(self) -> str | None:
        """The run's split fingerprint: the records stage's, else `data/split.json`'s."""
        if self.split is None:
            stored = read_split(self.run)
            self.split = stored.fingerprint if stored is not None else None
        return self.split

    def _logs_with_key(self, kind: str, key: str) -> list[tuple[Path, EvalLog]]:
        """The logs in `logs/<kind>/` written under `key`, with their headers."""
        return [
            (path, header)
            for path, header in self._kind_logs(kind)
            if (header.eval.metadata or {}).get(KEY_FIELD) == key
        ]

    def _kind_logs(self, kind: str) -> list[tuple[Path, EvalLog]]:
        """Every readable log in `logs/<kind>/`, with its header.

        A log that cannot be read is moved to `corrupt/logs/<kind>/` with a warning: its
        stage then counts as not finished and runs again, answering finished model calls
        from the cache.
        """
        log_dir = self.run.logs(kind)
        found: list[tuple[Path, EvalLog]] = []
        if not log_dir.exists():
            return found
        for info in list_eval_logs(str(log_dir)):
            path = Path(info.name.removeprefix("file://"))
            try:
                header = log_header(path)
            except OSError as error:  # not the file's fault (permissions, a lost disk)
                raise PrefbenchInputError(
                    f"log {path} cannot be read ({error}): check the file's permissions and "
                    "the disk, then run again."
                ) from error
            except Exception as error:
                self._move_aside(kind, path, error)
                continue
            found.append((path, header))
        return found

    def _explain_mismatch(self, request: StageRequest) -> None:
        """Warn, once per stage, that its finished logs were written under other inputs.

        Names the newest such log (a log copied from another contributor, or one written
        before an input changed) and the key parts that differ; the logs are kept.
        """
        if request.stage in self._warned_mismatch:
            return
        expected = self.stage_key(request.stage, request.roles, request.key)
        others = [
            (path, header)
            for path, header in self._kind_logs(request.kind)
            if (header.eval.metadata or {}).get(STAGE_FIELD) == request.stage
            and (header.eval.metadata or {}).get(KEY_FIELD) != expected
            and header.status == "success"
        ]
        if not others:
            return
        self._warned_mismatch.add(request.stage)
        path, header = max(others, key=lambda item: item[1].eval.created)
        found = (header.eval.metadata or {}).get(KEY_PARTS_FIELD)
        if isinstance(found, dict):
            differ = differing_parts(found, self.key_parts(request.roles, request.key))
            why = "; ".join(differ) or "the same named inputs (the key's recipe changed)"
        else:
            why = "it records no key parts (written by an older prefbench)"
        more = f" (and {len(others) - 1} more)" if len(others) > 1 else ""
        kept = "Kept." if self.reuse_only else "Kept; the stage runs again."
        self.announce(
            f"[yellow]warning:[/yellow] {request.stage}: {escape(str(path))}{more} was written "
            f"under other inputs, so it is not reused: {escape(why)}. {kept}"
        )

    def _move_aside(self, kind: str, path: Path, error: Exception) -> None:
        target = self.run.move_corrupt_log(kind, path)
        self.announce(
            f"[yellow]warning:[/yellow] {escape(str(path))} is corrupt "
            f"({type(error).__name__}): moved to {escape(str(target))}; its stage runs "
            "again, answering finished model calls from the cache."
        )

    def finished(
        self, kind: str, stage: str, roles: tuple[str, ...], key: dict[str, Any]
    ) -> Path | None:
        """The log of an earlier successful run of this stage with these inputs, if any.

        A log with failed samples counts only when this runner wrote it or only reuses logs
        (`reuse_only`); otherwise the stage is evaluated again to retry those samples.
        """
        full_key = self.stage_key(stage, roles, key)
        for path, header in self._logs_with_key(kind, full_key):
            if header.status != "success":
                continue
            if self.reuse_only or path in self._evaluated:
                return path
            failed = failed_samples(path, stage)
            if not failed:
                return path
            self.announce(
                f"[yellow]{stage}: {len(failed)} failed sample(s) in {escape(path.name)}: "
                "asking them again (succeeded samples come from the cache)[/yellow]"
            )
        return None

    def run_stage(
        self,
        kind: str,
        stage: str,
        task: Task,
        roles: tuple[str, ...],
        key: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        solver: Solver | None = None,
        limit: int | None = None,
        sampling: bool = False,
        on_done: Callable[[], None] | None = None,
    ) -> StageResult:
        """Run `task` as `stage` (logs in `logs/<kind>/`) unless it already finished.

        `roles` are the model roles the task uses (none for a judge that needs no model);
        `on_done` runs after the eval (e.g. releasing adapter models).
        """
        request = StageRequest(kind, stage, task, roles, key, metadata, solver, limit, sampling)
        return self.run_stages([request], on_done)[0]

    def run_stages(
        self,
        requests: Sequence[StageRequest],
        on_done: Callable[[], None] | None = None,
        before_eval: Callable[[list[StageRequest]], None] | None = None,
    ) -> list[StageResult]:
        """Run the stages that have not finished as one eval of concurrent tasks.

        Each stage keeps its own log, key and models; running them together lets a local
        engine batch their samples together (more rows per batch) and a server take all
        their requests at once. All requests must share their log kind and `limit`.
        `before_eval` gets the requests about to be evaluated (e.g. to load their adapters);
        `on_done` runs after the eval. Returns each request's result, in order.
        """
        if len({(request.kind, request.limit) for request in requests}) > 1:
            raise ValueError("stages run together must share their log kind and limit")
        pending = []
        for request in requests:
            existing = self.finished(request.kind, request.stage, request.roles, request.key)
            if existing is not None:
                self.announce(
                    f"[dim]{request.stage}: finished before, reused {existing.name}[/dim]"
                )
                self.results[request.stage] = StageResult(existing, cached=True)
            elif self.reuse_only:
                self._explain_mismatch(request)
                raise PrefbenchInputError(
                    f"stage {request.stage} has not finished in {self.run.root} (or its "
                    f"inputs changed): run `prefbench run --out {self.run.root}` first."
                )
            else:
                self._explain_mismatch(request)
                pending.append(request)
        if pending:
            if before_eval is not None:
                before_eval(pending)
            self._evaluate(pending, on_done)
        return [self.results[request.stage] for request in requests]

    def _unhonoured_decoding(self, roles: tuple[str, ...]) -> dict[str, Any]:
        """Log metadata stating the decoding the roles' providers cannot honour; warns once.

        `{DECODING_FIELD: {role: {model, settings, reason}}}`, or nothing when every role
        honours it (`prefbench.harness.serving.models.unhonoured_decoding`).
        """
        stated = {
            role: entry
            for role, entry in unhonoured_decoding(self.profile).items()
            if role in roles
        }
        for role, entry in stated.items():
            if role not in self._warned_decoding:
                self._warned_decoding.add(role)
                self.announce(
                    f"[yellow]warning:[/yellow] role {role} ({escape(entry['model'])}): "
                    f"{', '.join(entry['settings'])} not sent: {escape(entry['reason'])}"
                )
        return {DECODING_FIELD: stated} if stated else {}

    def _evaluate(self, requests: list[StageRequest], on_done: Callable[[], None] | None) -> None:
        """Evaluate the requests' tasks in one eval, then record each stage's log."""
        errors = self.profile.errors
        tasks = []
        for request in requests:
            models = self.models.role_models(request.roles, sampling=request.sampling)
            apply_call_policy(models.values(), errors)
            for role, model in models.items():
                limit_token_rate(model, self.profile.roles[role].tokens_per_minute)
            metadata = {
                STAGE_FIELD: request.stage,
                KEY_FIELD: self.stage_key(request.stage, request.roles, request.key),
                KEY_PARTS_FIELD: self.key_parts(request.roles, request.key),
                SPLIT_FIELD: self.split_fingerprint(),
                VERSION_FIELD: version("prefbench"),
                **self._unhonoured_decoding(request.roles),
                **(request.metadata or {}),
            }
            solver = {"solver": request.solver} if request.solver is not None else {}
            tasks.append(
                task_with(
                    copy.copy(request.task),  # task_with changes the task it is given
                    model=models[request.roles[0]] if request.roles else "none/none",
                    model_roles=models or None,
                    metadata={**(request.task.metadata or {}), **metadata},
                    **solver,
                )
            )
        try:
            logs = eval(
                tasks,
                limit=requests[0].limit,
                model=tasks[0].model,
                log_dir=str(self.run.logs(requests[0].kind)),
                display=self.display,  # type: ignore[arg-type]
                max_tasks=len(tasks),
                max_samples=max(
                    request.max_samples or self.profile.generation.max_samples
                    for request in requests
                ),
                fail_on_error=errors.fail_on_error,
                retry_on_error=errors.retry_on_error,
                score_display=False,
                log_format="eval",
                # no `inspect ctl` server: its uvicorn takes SIGINT/SIGTERM over while an eval
                # runs and hands them on only once it has shut down (`harness/interrupts.py`)
                ctl_server=False,
            )
        finally:
            try:
                if on_done is not None:
                    on_done()
            finally:
                self.models.end_stage()
        by_stage = {(log.eval.metadata or {}).get(STAGE_FIELD): log for log in logs}
        stopped = []
        for request in requests:
            log = by_stage.get(request.stage)
            if log is None:  # no log: Ctrl-C stopped the eval before inspect wrote one
                raise KeyboardInterrupt
            path = Path(log.location.removeprefix("file://"))
            if log.status != "success":
                stopped.append(self._stopped_message(request.stage, log, path))
                continue
            self._record(request, path, str((log.eval.metadata or {})[KEY_FIELD]))
        if stopped:
            raise StageInterrupted(" ".join(stopped))

    def _record(self, request: StageRequest, path: Path, full_key: str) -> None:
        """Keep a stage's successful log: remove older ones of its `full_key`, announce it."""
        stage = request.stage
        self.evals_run += 1
        self._evaluated.add(path)
        for stale_path, _ in self._logs_with_key(request.kind, full_key):
            if stale_path != path:  # unfinished, or superseded by this evaluation
                stale_path.unlink(missing_ok=True)
        failed = failed_samples(path, stage)
        if failed:
            self.announce(
                f"[yellow]{stage}: done with {len(failed)} failed sample(s) within the "
                f"profile's error policy → {escape(path.name)}; listed in the report, asked "
                "again by the next run[/yellow]"
            )
        else:
            self.announce(f"{stage}: done → {path.name}")
        self.results[stage] = StageResult(path, cached=False)

    def _stopped_message(self, stage: str, log: EvalLog, path: Path) -> str:
        """Why a stage's eval did not succeed, and how to resume."""
        resume = "run the same command again to resume; finished model calls are cached."
        failed = failed_samples(path, stage) if path.is_file() else []
        if log.status == "error" and failed:
            first = failed[0]
            return (
                f"stage {stage} stopped: {len(failed)} sample(s) failed, more than the profile's "
                f"{fail_on_error_text(self.profile.errors)} tolerates (first: sample "
                f"{first.sample_id}: {first.error}). Fix the cause or raise "
                f"errors.fail_on_error, then {resume}"
            )
        detail = f": {log.error.message}" if log.error else ""
        return f"stage {stage} ended with status {log.status}{detail}. {resume.capitalize()}"
