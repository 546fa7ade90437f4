"""Content hashes of files and model folders: one hash per content, computed once per file."""

import hashlib
import json
import os
from pathlib import Path

import pytest

from prefbench.core import content_hash
from prefbench.core.content_hash import file_sha256, model_files, model_folder_sha256


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new process would: no hash known in memory."""
    monkeypatch.setattr(content_hash, "_known", {})


def _model_folder(folder: Path, weights: bytes = b"weights") -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "tokenizer.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def test_a_file_is_hashed_once_per_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cache = tmp_path / "cache"
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x" * 1000)
    assert file_sha256(weights, cache) == hashlib.sha256(b"x" * 1000).hexdigest()

    def must_not_hash(path: Path) -> str:
        raise AssertionError(f"{path} hashed again")

    monkeypatch.setattr(content_hash, "_hash", must_not_hash)
    monkeypatch.setattr(content_hash, "_known", {})  # another process: the user cache answers
    assert file_sha256(weights, cache) == hashlib.sha256(b"x" * 1000).hexdigest()

    monkeypatch.undo()
    monkeypatch.setattr(content_hash, "_known", {})
    weights.write_bytes(b"y" * 1000)  # same size, new content and time
    os.utime(weights, ns=(5, 5))
    assert file_sha256(weights, cache) == hashlib.sha256(b"y" * 1000).hexdigest()


def test_a_hugging_face_blob_is_named_by_its_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    digest = hashlib.sha256(b"lfs object").hexdigest()
    blob = tmp_path / "models--acme--m" / "blobs" / digest
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"lfs object")
    snapshot = tmp_path / "models--acme--m" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to(blob)

    def must_not_hash(path: Path) -> str:
        raise AssertionError("an LFS blob was read")

    monkeypatch.setattr(content_hash, "_hash", must_not_hash)
    assert file_sha256(snapshot / "model.safetensors", tmp_path / "cache") == digest


def test_a_model_is_its_files_wherever_they_lie(tmp_path: Path):
    cache = tmp_path / "cache"
    here = _model_folder(tmp_path / "here")
    there = _model_folder(tmp_path / "elsewhere" / "copy")
    (there / "README.md").write_text("notes")  # not part of the model
    (there / ".gitattributes").write_text("*")
    (there / "prefbench-conversion.json").write_text("{}")
    assert model_folder_sha256(here, cache) == model_folder_sha256(there, cache)
    other = _model_folder(tmp_path / "other", weights=b"other weights")
    assert model_folder_sha256(other, cache) != model_folder_sha256(here, cache)
    (there / "tokenizer.json").write_text('{"changed": true}')
    assert model_folder_sha256(there, cache) != model_folder_sha256(here, cache)


def test_the_weights_a_loader_reads(tmp_path: Path):
    folder = _model_folder(tmp_path / "m")
    (folder / "pytorch_model.bin").write_bytes(b"old format")  # unused beside safetensors
    (folder / "chat_template.jinja").write_text("{{ messages }}")
    names = [path.name for path in model_files(folder)]
    assert names == ["chat_template.jinja", "config.json", "model.safetensors", "tokenizer.json"]

    sharded = _model_folder(tmp_path / "sharded")
    (sharded / "model.safetensors").unlink()
    for shard in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        (sharded / shard).write_bytes(shard.encode())
    (sharded / "consolidated.safetensors").write_bytes(b"no loader reads this")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors"}}
    index["weight_map"]["b"] = "model-00002-of-00002.safetensors"
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    assert "consolidated.safetensors" not in [path.name for path in model_files(sharded)]
    assert "model-00002-of-00002.safetensors" in [path.name for path in model_files(sharded)]

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "config.json").write_text("{}")
    (legacy / "pytorch_model.bin").write_bytes(b"weights")
    assert [path.name for path in model_files(legacy)] == ["config.json", "pytorch_model.bin"]


def test_a_cache_that_cannot_be_written_costs_only_time(tmp_path: Path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    assert file_sha256(weights, blocked) == hashlib.sha256(b"w").hexdigest()
