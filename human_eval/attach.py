"""Human answers as scores on the judge logs, beside the judge's own verdicts (docs/design.md §4).

:func:`attach_human_scores` un-blinds the current answers of the answers database with
`human/key.json` and gives every exported sample of a judge log one extra score named
``human``: its value maps annotator → ``"win"``/``"loss"`` (the outcome for system A, like
the judge score's ``answer``); its metadata holds the item id and the item's whole answer
history, un-blinded. The judge's score is left untouched. :func:`read_judged_items` reads
both back for the agreement statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspect_ai.log import EvalLog, ProvenanceData, edit_score, write_eval_log
from inspect_ai.scorer import Score, ScoreEdit

from prefbench.core.atomic import StagedFiles
from prefbench.core.errors import PrefbenchInputError
from prefbench.human_eval.bundle import Bundle, KeyEntry, read_bundle, stage_relinked_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.judge_logs import judge_log_path, read_judge_log
from prefbench.human_eval.judged_item import JudgedItem
from prefbench.human_eval.relink import relink_lost_logs
from prefbench.human_eval.store import AnnotationStore, Answer, current_answers
from prefbench.scorers.outcome import TiePolicy
from prefbench.scorers.pair_score import HUMAN_SCORE, judge_score, outcome_from_metadata

__all__ = [
    "HUMAN_SCORE",
    "AttachSummary",
    "HumanStudy",
    "StagedAttachment",
    "attach_human_scores",
    "read_judged_items",
    "stage_human_scores",
    "study_annotators",
    "unblinded_outcome",
]

PROVENANCE = ProvenanceData(author="prefbench human import", reason="human answers un-blinded")

Announce = Callable[[str], None]


@dataclass(frozen=True)
class AttachSummary:
    """What :func:`attach_human_scores` found and wrote.

    Attributes:
        items: Exported items (judge samples that carry a ``human`` score).
        answers: Current answers attached (one per annotator and item).
        missing: Item × annotator pairs without an answer (left out of the statistics).
        missing_by_annotator: Those pairs per annotator.
        changes: Earlier answers superseded by a later one of the same annotator and item.
        orphan_answers: Current answers to item ids the bundle does not have (ignored).
        logs_written: Judge logs rewritten; 0 when every score was already up to date.
    """

    items: int
    answers: int
    missing: int
    missing_by_annotator: dict[str, int] = field(default_factory=dict)
    changes: int = 0
    orphan_answers: int = 0
    logs_written: int = 0


@dataclass(frozen=True)
class HumanStudy:
    """Judged items with their human answers, the study's annotators and the judge's name."""

    items: list[JudgedItem]
    annotators: list[str]
    judge: str


def unblinded_outcome(entry: KeyEntry, choice: int) -> str:
    """The outcome for system A of a blinded choice: ``"win"`` if it picked system A's text."""
    return "win" if entry.preferred_side(choice) == "a" else "loss"


def _history_row(answer: Answer, entry: KeyEntry) -> dict[str, Any]:
    return {
        "answer_id": answer.answer_id,
        "annotator": answer.annotator,
        "choice": answer.choice,
        "outcome": unblinded_outcome(entry, answer.choice),
        "answered_at": answer.answered_at,
        "source": answer.source,
    }


def _stored_answers(folder: HumanFolder) -> list[Answer]:
    if not folder.database.exists():
        return []
    with AnnotationStore(folder.database) as store:
        return store.history()


def study_annotators(bundle: Bundle, answers: Sequence[Answer]) -> list[str]:
    """The bundle's annotators in its order, then annotators added by an import (sorted)."""
    names = bundle.annotator_names
    return names + sorted({answer.annotator for answer in answers} - set(names))


def _human_scores(bundle: Bundle, answers: Sequence[Answer]) -> dict[str, Score]:
    """Item id → the ``human`` score to attach to its judge sample."""
    by_item: dict[str, list[Answer]] = {}
    for answer in answers:
        by_item.setdefault(answer.item_id, []).append(answer)
    scores = {}
    for item_id, entry in bundle.key.items():
        history = by_item.get(item_id, [])
        current = current_answers(history)
        value = {
            annotator: unblinded_outcome(entry, answer.choice)
            for (annotator, _), answer in current.items()
        }
        metadata = {"item_id": item_id, "history": [_history_row(a, entry) for a in history]}
        scores[item_id] = Score(value=value, metadata=metadata)
    return scores


def _changed_log(
    path: Path, log: EvalLog, scores: dict[str, Score], key: dict[str, KeyEntry]
) -> bool:
    """Set the ``human`` score of the log's exported samples in `log`; True when it changed."""
    wanted = {
        key[item_id].sample_id: item_id for item_id in scores if key[item_id].judge_log == path.name
    }
    found = {str(sample.id) for sample in log.samples or []}
    absent = sorted(set(wanted) - found)
    if absent:
        raise PrefbenchInputError(
            f"judge log {path} has no samples {absent[:5]} ({len(absent)} in all) that "
            f"human/key.json points at: export a new bundle with `prefbench human export "
            f"--run {path.parents[2]} --overwrite`"
        )
    changed = False
    for sample in log.samples or []:
        sample_scores = sample.scores or {}
        item_id = wanted.get(str(sample.id))
        if item_id is None:
            if HUMAN_SCORE in sample_scores:  # a sample of an earlier bundle
                del sample_scores[HUMAN_SCORE]
                changed = True
            continue
        new = scores[item_id]
        old = sample_scores.get(HUMAN_SCORE)
        if old is not None and old.value == new.value and old.metadata == new.metadata:
            continue
        edit = ScoreEdit(value=new.value, metadata=new.metadata, provenance=PROVENANCE)
        edit_score(log, sample.id, HUMAN_SCORE, edit, recompute_metrics=False)
        changed = True
    return changed


def _bundle_log(run_dir: Path, name: str, announce: Announce) -> tuple[Path, EvalLog]:
    """A judge log the bundle's key names, read; an input error when it is gone or corrupt."""
    folder = HumanFolder(run_dir)
    path = judge_log_path(run_dir, name, folder.key_json)
    log = read_judge_log(run_dir, path, announce) if path.exists() else None
    if log is None:
        raise PrefbenchInputError(
            f"judge log {path}, from which {folder.bundle_json} was exported, is missing or "
            f"was corrupt (see corrupt/logs/judge/): nothing was imported or attached. Redo "
            f"the judge stage with `prefbench run --out {run_dir}` (finished model calls come "
            "from the cache), then import again: a judge log of the same comparison holding "
            "the same texts takes its place (`prefbench human export` would orphan the answers)"
        )
    return path, log


@dataclass
class StagedAttachment:
    """The judge logs with their new ``human`` scores, written but not yet in place.

    `install()` renames them over the logs; `discard()` removes them. `summary` says what
    attaching found. See :func:`stage_human_scores`.
    """

    summary: AttachSummary
    files: StagedFiles

    def install(self) -> None:
        """Put every rewritten judge log (and a re-linked key) in place."""
        self.files.install()

    def discard(self) -> None:
        """Remove the rewritten logs; the logs in place are left as they were."""
        self.files.discard()


def stage_human_scores(
    run_dir: Path, answers: Sequence[Answer] | None = None, announce: Announce = print
) -> StagedAttachment:
    """Compute the ``human`` scores of `answers` and write the judge logs that change, aside.

    `answers` defaults to the answers database's history. Nothing in `logs/judge/` changes
    until `install()`: `prefbench human import` installs only once its answers are
    committed, so a failure leaves both the database and the logs as they were. A judge log
    of the bundle that was deleted, or that is corrupt (it is moved to `corrupt/logs/judge/`
    with a warning), is replaced by another finished judge log of the same comparison whose
    samples hold exactly the bundle's texts (what `prefbench run` writes when it redoes the
    stage from the cache): `human/key.json` and `bundle.json` are staged with the new name.

    Raises:
        PrefbenchInputError: No bundle, or a judge log of the bundle that is missing or
            corrupt and has no replacement, or that lacks a sample the key points at (the
            message names the fix).
    """
    run_dir = Path(run_dir)
    bundle, relinked = relink_lost_logs(run_dir, read_bundle(run_dir), announce)
    if answers is None:
        answers = _stored_answers(HumanFolder(run_dir))
    scores = _human_scores(bundle, answers)
    current = current_answers(answers)
    files = StagedFiles()
    try:
        if relinked:
            stage_relinked_bundle(run_dir, bundle, files)
        for name in sorted({entry.judge_log for entry in bundle.key.values()}):
            path, log = _bundle_log(run_dir, name, announce)
            if _changed_log(path, log, scores, bundle.key):
                write_eval_log(log, str(files.new(path)), format="eval")
    except BaseException:
        files.discard()
        raise

    annotators = study_annotators(bundle, answers)
    attached = [answer for answer in current.values() if answer.item_id in bundle.key]
    missing_by_annotator = {
        name: len(bundle.key) - sum(answer.annotator == name for answer in attached)
        for name in annotators
    }
    summary = AttachSummary(
        items=len(bundle.key),
        answers=len(attached),
        missing=sum(missing_by_annotator.values()),
        missing_by_annotator=missing_by_annotator,
        changes=len(answers) - len(current),
        orphan_answers=len(current) - len(attached),
        logs_written=sum(path.suffix == ".eval" for path in files.targets),
    )
    return StagedAttachment(summary, files)


def attach_human_scores(run_dir: Path, announce: Announce = print) -> AttachSummary:
    """Un-blind the current answers and attach them as ``human`` scores to the judge logs.

    Every sample named in `human/key.json` gets a ``human`` score (an empty dict while
    nobody answered it); a sample of an earlier bundle loses its stale one. Logs whose
    scores are already up to date are not rewritten, so attaching twice changes nothing.
    A log is rewritten through a temporary file and a rename; its eval metadata
    (``prefbench_key``) and the judge's scores stay as they were. See
    :func:`stage_human_scores` for corrupt and lost logs.

    Raises:
        PrefbenchInputError: No bundle, or a judge log of the bundle is missing or lacks
            a sample the key points at (the message names the fix).
    """
    staged = stage_human_scores(run_dir, announce=announce)
    staged.install()
    return staged.summary


def _judge_name(log: EvalLog) -> str:
    """The judge model of an LLM judge log, else the judge's kind (``similarity``)."""
    role = (log.eval.model_roles or {}).get("judge")
    return role.model if role is not None else str((log.eval.metadata or {}).get("judge"))


def read_judged_items(
    run_dir: Path,
    judge_logs: Sequence[Path],
    tie_policy: TiePolicy | None = None,
    announce: Announce = print,
) -> HumanStudy | None:
    """The judged items that carry a ``human`` score of the current bundle, from judge logs.

    Args:
        run_dir: The run folder (its bundle names the study's annotators).
        judge_logs: Judge logs to read; only their samples with a ``human`` score whose item
            the bundle's key maps to that very log and sample count.
        tie_policy: Re-applied to the judge's stored verdicts; None keeps the policy the
            judge stored with each verdict.
        announce: Receives the warning for a corrupt log, which is moved to
            `corrupt/logs/judge/` and left out.

    Returns:
        The study, or None when the run has no bundle.
    """
    if not HumanFolder(Path(run_dir)).bundle_json.exists():
        return None
    bundle = read_bundle(Path(run_dir))
    items, judges = [], []
    for path in judge_logs:
        log = read_judge_log(Path(run_dir), path, announce)
        if log is None:
            continue
        judge_seen = False
        metadata = log.eval.metadata or {}
        for sample in log.samples or []:
            scores = sample.scores or {}
            human = scores.get(HUMAN_SCORE)
            verdict = judge_score(log, scores)
            if human is None or verdict is None:
                continue
            item_id = str((human.metadata or {}).get("item_id"))
            entry = bundle.key.get(item_id)
            if entry is None or (entry.judge_log, entry.sample_id) != (path.name, str(sample.id)):
                continue  # a score left by an earlier bundle
            judge_seen = True
            stored = verdict.metadata or {}
            policy = tie_policy or stored.get("tie_policy") or "inconsistent_is_tie"
            items.append(
                JudgedItem(
                    item_id=item_id,
                    system_a=str(metadata.get("system_a")),
                    system_b=str(metadata.get("system_b")),
                    user=str((sample.metadata or {}).get("user")),
                    llm=outcome_from_metadata(stored, policy),
                    human=dict(human.value) if isinstance(human.value, dict) else {},
                )
            )
        if judge_seen and _judge_name(log) not in judges:
            judges.append(_judge_name(log))
    names = bundle.annotator_names
    added = sorted({name for item in items for name in item.human} - set(names))
    return HumanStudy(items=items, annotators=names + added, judge=", ".join(judges))
