"""Re-link a bundle whose judge log was lost (corrupt, deleted) to the log that replaced it.

`human/key.json` names each item's judge log by file name. When that log is corrupt,
`prefbench run` moves it to `corrupt/logs/judge/` and redoes the judge stage from the cache,
which writes a new log under a new name. Re-exporting would orphan the answers already
given, so instead the bundle follows the new log, but only when it holds the very same
pairs: every item's sample is there with the same ground truth and the same two candidates
(and the same systems). Anything else leaves the bundle as it is.
"""

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from inspect_ai.log import EvalLog, list_eval_logs
from rich.markup import escape

from prefbench.core.run_folder import RunFolder
from prefbench.human_eval.bundle import Bundle, BundleItem, KeyEntry
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.judge_logs import JUDGE_KIND, judge_log_path, read_judge_log

__all__ = ["relink_lost_logs"]

Announce = Callable[[str], None]


def _lost_logs(run_dir: Path, bundle: Bundle, announce: Announce) -> list[str]:
    """The bundle's judge log names that are missing or unreadable (moved aside)."""
    key_json = HumanFolder(run_dir).key_json
    lost = []
    for name in sorted({entry.judge_log for entry in bundle.key.values()}):
        path = judge_log_path(run_dir, name, key_json)
        if not path.exists() or read_judge_log(run_dir, path, announce, header_only=True) is None:
            lost.append(name)
    return lost


def _shown_texts(log: EvalLog) -> dict[str, tuple[str, str, str, str, str]]:
    """Sample id → (ground truth, candidate A, candidate B, system A, system B)."""
    texts = {}
    for sample in log.samples or []:
        metadata = sample.metadata or {}
        target = sample.target if isinstance(sample.target, str) else "\n".join(sample.target)
        texts[str(sample.id)] = (
            target,
            str(metadata.get("candidate_a")),
            str(metadata.get("candidate_b")),
            str(metadata.get("system_a")),
            str(metadata.get("system_b")),
        )
    return texts


def _holds(log: EvalLog, entries: list[tuple[KeyEntry, BundleItem]]) -> bool:
    """Whether `log` has every entry's sample with exactly the item's texts and systems."""
    texts = _shown_texts(log)
    for entry, item in entries:
        found = texts.get(entry.sample_id)
        if found is None:
            return False
        truth, candidate_a, candidate_b, system_a, system_b = found
        shown = (
            (candidate_a, candidate_b)
            if entry.candidate_1_is == "a"
            else (
                candidate_b,
                candidate_a,
            )
        )
        if (truth, *shown, system_a, system_b) != (
            item.ground_truth,
            item.candidate_1,
            item.candidate_2,
            entry.system_a,
            entry.system_b,
        ):
            return False
    return True


def relink_lost_logs(run_dir: Path, bundle: Bundle, announce: Announce) -> tuple[Bundle, bool]:
    """The bundle with each lost judge log replaced by an identical one; whether any was.

    A lost log is one the key names that is missing or corrupt (moved aside, with a
    warning). Its replacement is a finished judge log not named by the key whose samples
    hold exactly the lost log's items (:func:`_holds`); the newest such log wins. A lost log
    without a replacement stays named (attaching then says what to do).
    """
    run_dir = Path(run_dir)
    lost = _lost_logs(run_dir, bundle, announce)
    if not lost:
        return bundle, False
    named = {entry.judge_log for entry in bundle.key.values()}
    candidates: list[tuple[str, Path]] = []
    log_dir = RunFolder(run_dir).logs(JUDGE_KIND)
    for info in list_eval_logs(str(log_dir)) if log_dir.exists() else []:
        path = Path(info.name.removeprefix("file://"))
        if path.name in named:
            continue
        header = read_judge_log(run_dir, path, announce, header_only=True)
        if header is not None and header.status == "success":
            candidates.append((header.eval.created, path))
    candidates.sort(reverse=True)
    items = bundle.items_by_id
    renamed: dict[str, str] = {}
    for name in lost:
        entries = [(e, items[i]) for i, e in bundle.key.items() if e.judge_log == name]
        for _, path in candidates:
            log = read_judge_log(run_dir, path, announce)
            if log is not None and _holds(log, entries):
                renamed[name] = path.name
                announce(
                    f"judge log {escape(name)} of the bundle is lost; {escape(path.name)} holds "
                    "the same pairs and takes its place in human/key.json"
                )
                break
    if not renamed:
        return bundle, False
    key = {
        item_id: replace(entry, judge_log=renamed.get(entry.judge_log, entry.judge_log))
        for item_id, entry in bundle.key.items()
    }
    comparisons = tuple(
        replace(c, judge_log=renamed.get(c.judge_log, c.judge_log))
        for c in bundle.manifest.comparisons
    )
    manifest = replace(bundle.manifest, comparisons=comparisons)
    return Bundle(manifest=manifest, items=bundle.items, key=key), True
