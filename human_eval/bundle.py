"""The exported bundle of blinded pairs: `human/bundle.json`, `items.jsonl` and `key.json`.

`bundle.json` and `items.jsonl` are what annotators see (no system names); `key.json` maps
each item back to its judge sample and says which system was shown as candidate 1. The key
is never served.
"""

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from prefbench.core.atomic import (
    PRIVATE_FILE_MODE,
    StagedFiles,
    atomic_file,
    atomic_write_text,
    fsync_directory,
)
from prefbench.core.bounded_input import loads_json
from prefbench.core.errors import PrefbenchInputError
from prefbench.human_eval.folder import HumanFolder

FORMAT = 1
ITEM_ORDERS = ("same", "shuffled")

ItemOrder = Literal["same", "shuffled"]
Side = Literal["a", "b"]


@dataclass(frozen=True)
class Annotator:
    """One annotator of the bundle and the invite token that signs them in."""

    name: str
    token: str


@dataclass(frozen=True)
class BundleComparison:
    """One judged comparison the bundle samples from, and how many items it contributed."""

    system_a: str
    system_b: str
    judge_log: str
    items: int


@dataclass(frozen=True)
class BundleManifest:
    """`bundle.json`: how the bundle was made and who annotates it."""

    format: int
    created_at: str
    seed: int
    item_order: ItemOrder
    instructions: str
    annotators: tuple[Annotator, ...]
    comparisons: tuple[BundleComparison, ...]

    def to_json(self) -> dict[str, Any]:
        """The manifest as the JSON object stored in `bundle.json`."""
        return asdict(self)


@dataclass(frozen=True)
class BundleItem:
    """One blinded item as annotators see it (no system names)."""

    item_id: str
    ground_truth: str
    candidate_1: str
    candidate_2: str
    subject: str | None


@dataclass(frozen=True)
class KeyEntry:
    """Where a blinded item comes from and which system was shown as candidate 1."""

    judge_log: str
    sample_id: str
    system_a: str
    system_b: str
    candidate_1_is: Side
    user: str
    dataset: str

    def preferred_side(self, choice: int) -> Side:
        """The judge-log side ("a" = system_a, "b" = system_b) that a blinded choice picks."""
        if choice not in (1, 2):
            raise ValueError(f"choice must be 1 or 2, got {choice!r}")
        other: Side = "b" if self.candidate_1_is == "a" else "a"
        return self.candidate_1_is if choice == 1 else other


@dataclass(frozen=True)
class Bundle:
    """A parsed bundle: manifest, blinded items in file order, and the un-blinding key."""

    manifest: BundleManifest
    items: list[BundleItem]
    key: dict[str, KeyEntry]

    @property
    def annotator_names(self) -> list[str]:
        """Annotator names in the order of `bundle.json`."""
        return [annotator.name for annotator in self.manifest.annotators]

    @property
    def token_to_annotator(self) -> dict[str, str]:
        """Invite token → annotator name."""
        return {annotator.token: annotator.name for annotator in self.manifest.annotators}

    @property
    def items_by_id(self) -> dict[str, BundleItem]:
        """Item id → blinded item."""
        return {item.item_id: item for item in self.items}


def _export_hint(run_dir: Path) -> str:
    return f"run `prefbench human export --run {run_dir}` to (re)create it"


def _load_json(path: Path, run_dir: Path) -> Any:
    if not path.exists():
        raise PrefbenchInputError(
            f"{path} is missing: no human-evaluation bundle; " + _export_hint(run_dir)
        )
    try:
        return loads_json(path.read_text(encoding="utf-8"))
    except ValueError as error:  # not JSON, too deep, not UTF-8
        raise PrefbenchInputError(
            f"{path} is not valid JSON ({error}); " + _export_hint(run_dir)
        ) from error


def _parse_manifest(raw: Any, path: Path, run_dir: Path) -> BundleManifest:
    try:
        manifest = BundleManifest(
            format=int(raw["format"]),
            created_at=str(raw["created_at"]),
            seed=int(raw["seed"]),
            item_order=raw["item_order"],
            instructions=str(raw["instructions"]),
            annotators=tuple(Annotator(str(a["name"]), str(a["token"])) for a in raw["annotators"]),
            comparisons=tuple(
                BundleComparison(
                    str(c["system_a"]), str(c["system_b"]), str(c["judge_log"]), int(c["items"])
                )
                for c in raw["comparisons"]
            ),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise PrefbenchInputError(
            f"{path} is not a bundle manifest (bad or missing field: {error}); "
            + _export_hint(run_dir)
        ) from error
    if manifest.format != FORMAT:
        raise PrefbenchInputError(
            f"{path} has bundle format {manifest.format}, this prefbench reads format {FORMAT}; "
            + _export_hint(run_dir)
        )
    if manifest.item_order not in ITEM_ORDERS:
        raise PrefbenchInputError(
            f"{path}: item_order {manifest.item_order!r} is not one of {ITEM_ORDERS}; "
            + _export_hint(run_dir)
        )
    names = [annotator.name for annotator in manifest.annotators]
    if len(set(names)) != len(names):
        raise PrefbenchInputError(f"{path}: annotator names are not unique: {names}")
    return manifest


def _read_items(path: Path, run_dir: Path) -> list[BundleItem]:
    if not path.exists():
        raise PrefbenchInputError(f"{path} is missing; " + _export_hint(run_dir))
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = loads_json(line)
            items.append(
                BundleItem(
                    item_id=str(raw["item_id"]),
                    ground_truth=str(raw["ground_truth"]),
                    candidate_1=str(raw["candidate_1"]),
                    candidate_2=str(raw["candidate_2"]),
                    subject=raw.get("subject"),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise PrefbenchInputError(
                f"{path}, line {number}: not a bundle item ({error}); " + _export_hint(run_dir)
            ) from error
    return items


def _parse_key(raw: Any, path: Path, run_dir: Path) -> dict[str, KeyEntry]:
    try:
        key = {str(item_id): KeyEntry(**entry) for item_id, entry in raw.items()}
    except (AttributeError, TypeError) as error:
        raise PrefbenchInputError(
            f"{path} is not a bundle key ({error}); " + _export_hint(run_dir)
        ) from error
    for item_id, entry in key.items():
        if entry.candidate_1_is not in ("a", "b"):
            raise PrefbenchInputError(
                f"{path}, item {item_id}: candidate_1_is must be 'a' or 'b', "
                f"got {entry.candidate_1_is!r}; " + _export_hint(run_dir)
            )
    return key


def read_bundle(run_dir: Path) -> Bundle:
    """Read and check the bundle of a run folder.

    A missing or corrupt file, or items without a key entry, raise PrefbenchInputError
    naming the file and the fix (`prefbench human export --run R`).
    """
    run_dir = Path(run_dir)
    folder = HumanFolder(run_dir)
    manifest = _parse_manifest(_load_json(folder.bundle_json, run_dir), folder.bundle_json, run_dir)
    items = _read_items(folder.items_jsonl, run_dir)
    key = _parse_key(_load_json(folder.key_json, run_dir), folder.key_json, run_dir)
    item_ids = [item.item_id for item in items]
    if len(set(item_ids)) != len(item_ids):
        raise PrefbenchInputError(
            f"{folder.items_jsonl}: item ids repeat; " + _export_hint(run_dir)
        )
    if set(item_ids) != set(key):
        raise PrefbenchInputError(
            f"{folder.items_jsonl} and {folder.key_json} list different items; "
            + _export_hint(run_dir)
        )
    return Bundle(manifest=manifest, items=items, key=key)


def write_bundle(
    run_dir: Path, manifest: BundleManifest, items: list[BundleItem], key: dict[str, KeyEntry]
) -> None:
    """Write the bundle's three files atomically; `bundle.json` last, so it marks completion.

    key.json and items.jsonl are written in full under temporary names before either is
    renamed into place, so a full disk leaves the old bundle as it was. When they change,
    `bundle.json` is removed just before the renames: a kill between them leaves no bundle
    (export again), never a key that does not match its items.
    """
    folder = HumanFolder(Path(run_dir))
    key_text = _key_text(key)
    items_text = "".join(json.dumps(asdict(item), ensure_ascii=False) + "\n" for item in items)
    changed = not (_holds(folder.key_json, key_text) and _holds(folder.items_jsonl, items_text))
    with atomic_file(folder.key_json, PRIVATE_FILE_MODE) as key_file:
        key_file.write_text(key_text, encoding="utf-8")
        with atomic_file(folder.items_jsonl) as items_file:
            items_file.write_text(items_text, encoding="utf-8")
            if changed:
                folder.bundle_json.unlink(missing_ok=True)
                fsync_directory(folder.root)
    atomic_write_text(folder.bundle_json, _manifest_text(manifest), PRIVATE_FILE_MODE)


def stage_relinked_bundle(run_dir: Path, bundle: Bundle, files: StagedFiles) -> None:
    """Stage `key.json` and `bundle.json` of `bundle`, whose items are those on disk.

    For a key whose judge log names changed (`prefbench.human_eval.relink`): both files are
    renamed into place by `files.install()`, together with whatever else was staged.
    """
    folder = HumanFolder(Path(run_dir))
    files.new(folder.key_json, PRIVATE_FILE_MODE).write_text(
        _key_text(bundle.key), encoding="utf-8"
    )
    files.new(folder.bundle_json, PRIVATE_FILE_MODE).write_text(
        _manifest_text(bundle.manifest), encoding="utf-8"
    )


def _key_text(key: dict[str, KeyEntry]) -> str:
    return json.dumps({item_id: asdict(entry) for item_id, entry in key.items()}, indent=2) + "\n"


def _manifest_text(manifest: BundleManifest) -> str:
    return json.dumps(manifest.to_json(), indent=2) + "\n"


def restrict_token_files(run_dir: Path) -> list[Path]:
    """Make `bundle.json` and `key.json` readable by their owner only; the files changed.

    Bundles exported before prefbench wrote them 0600 are world-readable (0644), and
    `bundle.json` holds every invite token.
    """
    folder = HumanFolder(Path(run_dir))
    changed = []
    for path in (folder.bundle_json, folder.key_json):
        if path.is_file() and path.stat().st_mode & 0o077:
            path.chmod(PRIVATE_FILE_MODE)
            changed.append(path)
    return changed


def _holds(path: Path, text: str) -> bool:
    """Whether the file at `path` exists and holds exactly `text`."""
    return path.is_file() and path.read_text(encoding="utf-8") == text


def item_order_for(bundle: Bundle, annotator: str) -> list[str]:
    """The item ids in the order `annotator` sees them.

    The file order for everyone when the bundle's item_order is "same" (as in the paper);
    otherwise a shuffle seeded by (seed, annotator name), stable across runs and machines.
    """
    if annotator not in bundle.annotator_names:
        raise PrefbenchInputError(
            f"{annotator!r} is not an annotator of this bundle (annotators: "
            f"{', '.join(bundle.annotator_names)})"
        )
    item_ids = [item.item_id for item in bundle.items]
    if bundle.manifest.item_order == "shuffled":
        random.Random(f"{bundle.manifest.seed}:{annotator}").shuffle(item_ids)
    return item_ids
