"""`prefbench human export`: sample judged pairs, blind them, and write the bundle.

Pairs come from the run's finished judge logs (`logs/judge/`, system A = the reference
system). Per compared system a seeded sample, stratified by user where possible, is drawn;
the verdict is not looked at, so pairs whose judge answer failed to parse are eligible too.
Each item shows the two candidates in a random (seeded) order; `key.json` remembers which
system is which. Label Studio files are written beside the bundle.
"""

import json
import random
import secrets
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from inspect_ai.log import EvalLog, list_eval_logs

from prefbench.core.atomic import atomic_write_text
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.human_eval.bundle import (
    FORMAT,
    ITEM_ORDERS,
    Annotator,
    Bundle,
    BundleComparison,
    BundleItem,
    BundleManifest,
    KeyEntry,
    read_bundle,
    write_bundle,
)
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.judge_logs import JUDGE_KIND, read_judge_log
from prefbench.human_eval.store import AnnotationStore, utc_now
from prefbench.tasks.records import read_records

INSTRUCTIONS_FILE = Path(__file__).parent / "templates" / "instructions.txt"


@dataclass(frozen=True)
class JudgedPair:
    """One judged sample of a judge log: the ground truth and both systems' candidates."""

    judge_log: str
    sample_id: str
    system_a: str
    system_b: str
    user: str
    dataset: str
    ground_truth: str
    candidate_a: str
    candidate_b: str


def judge_logs_by_system(
    run_dir: Path, judge: str | None = None, announce: Callable[[str], None] = print
) -> dict[str, Path]:
    """Compared system (system B) → its newest finished judge log, optionally of one judge.

    A corrupt log is moved to `corrupt/logs/judge/` with a warning (`read_judge_log`).
    """
    log_dir = RunFolder(Path(run_dir)).logs(JUDGE_KIND)
    newest: dict[str, tuple[str, Path]] = {}
    if log_dir.exists():
        for info in list_eval_logs(str(log_dir)):
            path = Path(info.name.removeprefix("file://"))
            header = read_judge_log(run_dir, path, announce, header_only=True)
            if header is None:
                continue
            metadata = header.eval.metadata or {}
            if header.status != "success" or "system_b" not in metadata:
                continue
            if metadata.get("control_pair"):  # a control pair, not reference vs system_b
                continue
            if judge is not None and metadata.get("judge") != judge:
                continue
            system = str(metadata["system_b"])
            if system not in newest or header.eval.created > newest[system][0]:
                newest[system] = (header.eval.created, path)
    if not newest:
        which = f" of the {judge} judge" if judge else ""
        raise PrefbenchInputError(
            f"no finished judge logs{which} in {log_dir}: run `prefbench judge --run {run_dir}` "
            "first."
        )
    return {system: path for system, (_, path) in sorted(newest.items())}


def read_pairs(log: EvalLog) -> list[JudgedPair]:
    """Every sample of a judge log as a pair, whatever the verdict (parse failures too)."""
    pairs = []
    for sample in log.samples or []:
        metadata = sample.metadata or {}
        target = sample.target if isinstance(sample.target, str) else "\n".join(sample.target)
        pairs.append(
            JudgedPair(
                judge_log=Path(log.location).name,
                sample_id=str(sample.id),
                system_a=str(metadata.get("system_a")),
                system_b=str(metadata.get("system_b")),
                user=str(metadata.get("user")),
                dataset=str(metadata.get("dataset")),
                ground_truth=target,
                candidate_a=str(metadata.get("candidate_a")),
                candidate_b=str(metadata.get("candidate_b")),
            )
        )
    return pairs


def sample_pairs(pairs: Sequence[JudgedPair], count: int, seed: int) -> list[JudgedPair]:
    """`count` pairs drawn with `seed`, stratified by user when every user can be represented.

    All pairs when there are no more than `count`. Stratification needs at least two pairs
    per user and at least one pick per user; otherwise a plain random sample is drawn.
    """
    if count >= len(pairs):
        return list(pairs)
    if count <= 0:
        return []
    from sklearn.model_selection import train_test_split  # ~1 s to import: only when used

    users = [pair.user for pair in pairs]
    try:
        chosen, _ = train_test_split(
            list(pairs), train_size=count, stratify=users, random_state=seed
        )
    except ValueError:
        chosen, _ = train_test_split(list(pairs), train_size=count, random_state=seed)
    return chosen


def _subjects(run_dir: Path) -> dict[str, str | None]:
    records_path = RunFolder(Path(run_dir)).records
    if not records_path.exists():
        return {}
    return {record.id: record.metadata.get("subject") for record in read_records(records_path)}


def _check_annotators(annotators: Sequence[str]) -> list[str]:
    names = [name.strip() for name in annotators]
    if not names:
        raise PrefbenchInputError("no annotators: name each one with --annotator NAME (repeatable)")
    bad = [name for name in names if not name or not name.isprintable()]
    if bad:
        raise PrefbenchInputError(f"annotator names must be non-empty printable text: {bad!r}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PrefbenchInputError(f"annotator names must be unique; repeated: {repeated}")
    return names


def _resolve_counts(
    available: Sequence[str], counts: dict[str, int], default_count: int | None
) -> dict[str, int | None]:
    unknown = sorted(set(counts) - set(available))
    if unknown:
        raise PrefbenchInputError(
            f"--count names systems without a judge log: {unknown}; compared systems: "
            f"{', '.join(available)}"
        )
    negative = {system: n for system, n in counts.items() if n < 0}
    if negative or (default_count is not None and default_count < 0):
        raise PrefbenchInputError(f"counts must be 0 or more: {negative or default_count}")
    resolved = {system: counts.get(system, default_count) for system in available}
    if all(n == 0 for n in resolved.values()):
        raise PrefbenchInputError("every count is 0: there is nothing to export")
    return resolved


def _system_seed(seed: int, system: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(system.encode("utf-8"))) % 2**32


def blind(
    pairs: Sequence[JudgedPair], seed: int, subjects: dict[str, str | None]
) -> tuple[list[BundleItem], dict[str, KeyEntry]]:
    """Shuffle the pairs into items `item-0001`…, each with a seeded random A/B order."""
    rng = random.Random(f"{seed}:blinding")
    ordered = list(pairs)
    rng.shuffle(ordered)
    width = max(4, len(str(len(ordered))))
    items, key = [], {}
    for number, pair in enumerate(ordered, start=1):
        item_id = f"item-{number:0{width}d}"
        first = rng.choice(("a", "b"))
        shown = (pair.candidate_a, pair.candidate_b)
        if first == "b":
            shown = shown[::-1]
        items.append(
            BundleItem(item_id, pair.ground_truth, shown[0], shown[1], subjects.get(pair.sample_id))
        )
        key[item_id] = KeyEntry(
            judge_log=pair.judge_log,
            sample_id=pair.sample_id,
            system_a=pair.system_a,
            system_b=pair.system_b,
            candidate_1_is=first,
            user=pair.user,
            dataset=pair.dataset,
        )
    return items, key


def label_studio_config(instructions: str) -> str:
    """A Label Studio labeling config: ground truth, two candidates, Choices `choice` 1/2."""
    view = ElementTree.Element("View")
    ElementTree.SubElement(view, "Header", value="Instructions", size="4")
    ElementTree.SubElement(view, "Text", name="instructions", value=instructions)
    ElementTree.SubElement(view, "Header", value="Subject: $subject", size="5")
    ElementTree.SubElement(view, "Header", value="Response Email", size="4")
    texts = ElementTree.SubElement(view, "View", style="white-space: pre-wrap")
    ElementTree.SubElement(texts, "Text", name="ground_truth", value="$ground_truth")
    columns = ElementTree.SubElement(
        texts, "View", style="display: grid; grid-template-columns: 1fr 1fr; column-gap: 1em"
    )
    for number in ("1", "2"):
        column = ElementTree.SubElement(columns, "View")
        ElementTree.SubElement(column, "Header", value=f"Candidate {number}", size="4")
        ElementTree.SubElement(
            column, "Text", name=f"candidate_{number}", value=f"$candidate_{number}"
        )
    ElementTree.SubElement(
        view, "Header", value="Which candidate is closer to the Response Email?", size="4"
    )
    choices = ElementTree.SubElement(
        view,
        "Choices",
        name="choice",
        toName="ground_truth",
        choice="single-radio",
        required="true",
        showInline="true",
    )
    for number in ("1", "2"):
        ElementTree.SubElement(choices, "Choice", value=number, hotkey=number)
    ElementTree.indent(view)
    return ElementTree.tostring(view, encoding="unicode") + "\n"


def write_label_studio(run_dir: Path, bundle: Bundle) -> None:
    """`human/label_studio/tasks.json` (one task per item) and `config.xml`."""
    folder = HumanFolder(Path(run_dir)).label_studio_dir
    tasks = [
        {
            "data": {
                "item_id": item.item_id,
                "subject": item.subject or "",
                "ground_truth": item.ground_truth,
                "candidate_1": item.candidate_1,
                "candidate_2": item.candidate_2,
            }
        }
        for item in bundle.items
    ]
    atomic_write_text(folder / "tasks.json", json.dumps(tasks, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(folder / "config.xml", label_studio_config(bundle.manifest.instructions))


def _annotators_with_answers(run_dir: Path) -> set[str]:
    database = HumanFolder(Path(run_dir)).database
    if not database.exists():
        return set()
    with AnnotationStore(database) as store:
        return {annotator for annotator, _ in store.latest()}


def _kept_tokens(names: list[str], previous: Bundle | None) -> tuple[Annotator, ...]:
    tokens = {} if previous is None else previous.token_to_annotator
    by_name = {name: token for token, name in tokens.items()}
    return tuple(Annotator(name, by_name.get(name) or secrets.token_urlsafe(16)) for name in names)


def _existing_bundle(run_dir: Path, overwrite: bool) -> Bundle | None:
    """The current bundle; None when there is none, or it is unreadable and may be replaced."""
    if not HumanFolder(Path(run_dir)).bundle_json.exists():
        return None
    try:
        return read_bundle(run_dir)
    except PrefbenchInputError:
        if overwrite:
            return None
        raise


def draw_items(
    run_dir: Path,
    counts: dict[str, int],
    default_count: int | None,
    seed: int,
    judge: str | None,
    announce: Callable[[str], None],
) -> tuple[list[BundleItem], dict[str, KeyEntry], tuple[BundleComparison, ...]]:
    """Sample each comparison's pairs and blind them: items, key and per-comparison counts.

    A log whose samples turn out unreadable is moved aside (with a warning) and the logs are
    chosen again without it.
    """
    while True:
        logs = judge_logs_by_system(run_dir, judge, announce)
        wanted = _resolve_counts(list(logs), counts, default_count)
        read = {
            system: read_judge_log(run_dir, path, announce)
            for system, path in logs.items()
            if wanted[system] != 0
        }
        if all(log is not None for log in read.values()):
            break
    chosen: list[JudgedPair] = []
    comparisons = []
    for system, path in logs.items():
        count = wanted[system]
        log = read.get(system)
        if log is None:
            continue
        pairs = read_pairs(log)
        if count is not None and count > len(pairs):
            announce(f"{system}: {count} items asked, only {len(pairs)} judged pairs: using all")
        picked = sample_pairs(
            pairs, len(pairs) if count is None else count, _system_seed(seed, system)
        )
        chosen.extend(picked)
        system_a = str((log.eval.metadata or {}).get("system_a"))
        comparisons.append(BundleComparison(system_a, system, path.name, len(picked)))
    items, key = blind(chosen, seed, _subjects(run_dir))
    return items, key, tuple(comparisons)


def _check_replacement(
    run_dir: Path, previous: Bundle | None, new: Bundle, overwrite: bool
) -> None:
    """Refuse a new bundle that would orphan answers, or replace one without --overwrite."""
    folder = HumanFolder(run_dir)
    answered = _annotators_with_answers(run_dir)
    if previous is not None and (previous.items, previous.key) == (new.items, new.key):
        dropped = sorted((set(previous.annotator_names) - set(new.annotator_names)) & answered)
        if dropped:
            raise PrefbenchInputError(
                f"{folder.database} holds answers of {dropped}, whom this export leaves out: "
                "keep them in --annotator (or start a new study in a copy of the run folder)"
            )
    elif answered:
        raise PrefbenchInputError(
            f"{folder.database} already holds answers to the exported items; a different "
            "bundle would orphan them. Re-export with the same options, or move the database "
            f"aside (e.g. `mv {folder.database} {folder.database}.old`) to start a new study."
        )
    elif previous is not None and not overwrite:
        raise PrefbenchInputError(
            f"{folder.bundle_json} was exported with other options or from other judge logs: "
            "pass --overwrite to replace it (its invite links change)"
        )


def export_bundle(
    run_dir: Path,
    counts: dict[str, int] | None = None,
    default_count: int | None = None,
    annotators: Sequence[str] = (),
    item_order: str = "same",
    seed: int = 0,
    overwrite: bool = False,
    judge: str | None = None,
    announce: Callable[[str], None] = print,
) -> Bundle:
    """Write (or keep) the run's human-evaluation bundle and return it.

    Args:
        run_dir: the run folder; its finished judge logs are the source of pairs.
        counts: items per compared system, e.g. `{"naive_finetune": 200}`.
        default_count: items for a compared system missing from `counts`; None = all pairs.
        annotators: unique annotator names; each gets an invite token.
        item_order: "same" (every annotator sees one order, as in the paper) or "shuffled"
            (a seeded order per annotator).
        seed: seeds the sampling, the A/B order and the item order.
        overwrite: replace a bundle made with other options (refused while the answers
            database holds answers, which would be orphaned).
        judge: only judge logs of this judge (`llm`, `similarity`); None = the newest log
            per compared system.
        announce: receives notes (fewer pairs than asked, an unchanged bundle).

    Re-exporting with identical options changes nothing. When only the annotators, the
    item order or the instructions change, the items are kept and so are the tokens of
    annotators who stay; dropping an annotator who has answers is refused.
    """
    run_dir = Path(run_dir)
    RunFolder(run_dir).require_existing()
    if item_order not in ITEM_ORDERS:
        raise PrefbenchInputError(f"item order {item_order!r} is not one of {ITEM_ORDERS}")
    names = _check_annotators(annotators)
    items, key, comparisons = draw_items(
        run_dir, counts or {}, default_count, seed, judge, announce
    )
    previous = _existing_bundle(run_dir, overwrite)
    kept = (
        previous
        if previous is not None and (previous.items, previous.key) == (items, key)
        else None
    )
    manifest = BundleManifest(
        format=FORMAT,
        created_at=kept.manifest.created_at if kept is not None else utc_now(),
        seed=seed,
        item_order=item_order,  # type: ignore[arg-type]
        instructions=INSTRUCTIONS_FILE.read_text(encoding="utf-8"),
        annotators=_kept_tokens(names, previous),
        comparisons=comparisons,
    )
    bundle = Bundle(manifest=manifest, items=items, key=key)
    folder = HumanFolder(run_dir)
    if previous is not None and bundle == previous:
        announce(f"the bundle in {folder.root} is unchanged")
        return previous
    _check_replacement(run_dir, previous, bundle, overwrite)
    if kept is not None:
        announce(f"kept the {len(items)} items and existing invite tokens; updated bundle.json")
    write_bundle(run_dir, manifest, items, key)
    write_label_studio(run_dir, bundle)
    return bundle
