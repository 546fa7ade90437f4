"""LoRA training of the small model: real, offline, on the converted SmolLM2."""

import importlib.util
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.offline_models import smollm2_dir
from prefbench.solvers.training.lora import (
    IGNORE_INDEX,
    LoadedBase,
    LoraSettings,
    SharedBaseTrainer,
    TrainingExample,
    TrainingResult,
    adapter_save_dtype,
    nf4_quantization_config,
    tokenize_example,
    train_lora_adapter,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TARGET = "Banana banana banana. Cheers, Kim"
EXAMPLES = [
    TrainingExample(
        prompt=[
            {"role": "system", "content": "You write short emails for Kim."},
            {"role": "user", "content": f"Write email number {i} about the team lunch."},
        ],
        target=TARGET,
    )
    for i in range(8)
]
# A high learning rate so that three steps visibly change greedy output.
FAST = LoraSettings(rank=8, alpha=16, learning_rate=1e-2, max_steps=3, batch_size=4, seed=0)


@pytest.fixture(scope="session")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted SmolLM2, at the cache path tests/test_offline_models.py also uses."""
    return smollm2_dir(tmp_path_factory.getbasetemp() / "smollm2-cache")


@dataclass
class Trained:
    result: TrainingResult
    adapter_dir: Path
    reported: list[tuple[int, int, float]]


@pytest.fixture(scope="module")
def trained(base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    adapter_dir = tmp_path_factory.mktemp("lora") / "adapter"
    reported: list[tuple[int, int, float]] = []
    result = train_lora_adapter(
        base_model, EXAMPLES, FAST, adapter_dir, on_step=lambda *step: reported.append(step)
    )
    return Trained(result, adapter_dir, reported)


def _greedy(model, tokenizer, messages: list[dict[str, str]]) -> str:
    import torch

    prompt = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        output = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    return tokenizer.decode(output[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)


# --- training (integration) ---------------------------------------------------------------


@pytest.mark.integration
def test_training_reports_losses(trained: Trained) -> None:
    result = trained.result
    assert result.steps == 3
    assert len(result.losses) == 3 and all(math.isfinite(loss) for loss in result.losses)
    assert result.seconds > 0
    assert 0 < result.trainable_parameters < 10_000_000
    assert trained.reported == [(step + 1, 3, loss) for step, loss in enumerate(result.losses)]


@pytest.mark.integration
def test_adapter_folder(trained: Trained, base_model: Path) -> None:
    adapter_dir = trained.adapter_dir
    assert (adapter_dir / "adapter_model.safetensors").is_file()
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base_model.resolve())
    assert Path(config["base_model_name_or_path"]).is_absolute()
    assert config["r"] == 8 and config["lora_alpha"] == 16
    assert [p.name for p in adapter_dir.parent.iterdir()] == ["adapter"]  # no staging left


def _logits(model, tokenizer, messages: list[dict[str, str]]):
    import torch

    prompt = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        return model(**prompt).logits


@pytest.mark.integration
def test_adapter_reloads_through_from_pretrained(trained: Trained, base_model: Path) -> None:
    """What inspect's hf/ provider does: model_path=<adapter dir>, tokenizer_path=<base>.

    Note: transformers 5.24 gates `active_adapters()`, `set_adapter()` etc. on peft >= 0.22
    (newer than peft 0.21.2 on PyPI), but not loading; so check `peft_config` instead.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model)
    tuned = AutoModelForCausalLM.from_pretrained(trained.adapter_dir, device_map="cpu")
    assert list(getattr(tuned, "peft_config", {})) == ["default"], "adapter not loaded"
    assert getattr(tuned, "_hf_peft_config_loaded", False)

    base = AutoModelForCausalLM.from_pretrained(base_model, device_map="cpu")
    messages = EXAMPLES[0].prompt
    assert _greedy(tuned, tokenizer, messages) != _greedy(base, tokenizer, messages)

    reference = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_model), trained.adapter_dir
    )
    assert torch.allclose(
        _logits(tuned, tokenizer, messages), _logits(reference, tokenizer, messages), atol=1e-4
    )


@pytest.mark.integration
def test_training_is_reproducible(trained: Trained, base_model: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    again = train_lora_adapter(base_model, EXAMPLES, FAST, tmp_path / "again")
    assert again.losses == trained.result.losses
    first = load_file(trained.adapter_dir / "adapter_model.safetensors")
    second = load_file(tmp_path / "again" / "adapter_model.safetensors")
    assert first.keys() == second.keys()
    assert all((first[name] == second[name]).all() for name in first)


def _same_weights(first_dir: Path, second_dir: Path) -> bool:
    from safetensors.torch import load_file

    first = load_file(first_dir / "adapter_model.safetensors")
    second = load_file(second_dir / "adapter_model.safetensors")
    return first.keys() == second.keys() and all(
        first[name].dtype == second[name].dtype and (first[name] == second[name]).all()
        for name in first
    )


@pytest.mark.integration
def test_shared_base_trains_the_same_adapters(
    trained: Trained, base_model: Path, tmp_path: Path
) -> None:
    """Two users on one loaded base, one after the other, equal two fresh loads."""
    from safetensors.torch import load_file

    other_user = [
        TrainingExample(prompt=example.prompt, target="Dear all, the meeting moves. Lee")
        for example in EXAMPLES
    ]
    fresh_other = tmp_path / "fresh-other"
    train_lora_adapter(base_model, other_user, FAST, fresh_other)

    trainer = SharedBaseTrainer()
    try:
        first = trainer(base_model, EXAMPLES, FAST, tmp_path / "shared-first")
        loaded = trainer._loaded
        second = trainer(base_model, other_user, FAST, tmp_path / "shared-second")
        assert trainer._loaded is loaded, "the base was loaded again"
        assert not hasattr(loaded.model, "peft_config"), "the base is still wrapped"
    finally:
        trainer.close()
    assert first.losses == trained.result.losses
    assert _same_weights(trained.adapter_dir, tmp_path / "shared-first")
    assert _same_weights(fresh_other, tmp_path / "shared-second")
    assert not _same_weights(tmp_path / "shared-first", tmp_path / "shared-second")
    assert second.steps == 3
    weights = load_file(tmp_path / "shared-first" / "adapter_model.safetensors")
    assert {str(tensor.dtype) for tensor in weights.values()} == {"torch.float32"}


@pytest.mark.integration
def test_killed_training_leaves_no_adapter(base_model: Path, tmp_path: Path) -> None:
    def interrupt(step: int, max_steps: int, loss: float) -> None:
        raise KeyboardInterrupt

    adapter_dir = tmp_path / "adapter"
    with pytest.raises(KeyboardInterrupt):
        train_lora_adapter(base_model, EXAMPLES, FAST, adapter_dir, on_step=interrupt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_tokenize_example_masks_the_prompt(base_model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model)
    features = tokenize_example(tokenizer, EXAMPLES[0], max_seq_len=384)
    ids, labels = features["input_ids"], features["labels"]
    assert len(ids) == len(labels) == len(features["attention_mask"])
    first_target = next(i for i, label in enumerate(labels) if label != IGNORE_INDEX)
    assert all(label == IGNORE_INDEX for label in labels[:first_target])
    assert labels[first_target:] == ids[first_target:]
    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids[:first_target]).endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(ids[first_target:-1]) == TARGET

    long = TrainingExample(
        prompt=[{"role": "user", "content": "word " * 200}], target="Reply starts here. " * 40
    )
    cut = tokenize_example(tokenizer, long, max_seq_len=64)
    assert len(cut["input_ids"]) == 64
    start = next(i for i, label in enumerate(cut["labels"]) if label != IGNORE_INDEX)
    assert tokenizer.decode(cut["input_ids"][start:]).startswith("Reply starts here.")
    assert tokenizer.decode(cut["input_ids"][:start]).endswith("<|im_start|>assistant\n")


# --- validation and configuration (fast) --------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("rank", 0, "rank=0"),
        ("rank", 2.5, "rank=2.5"),
        ("alpha", True, "alpha=True"),
        ("dropout", 1.0, "dropout=1.0"),
        ("learning_rate", 0.0, "learning_rate=0.0"),
        ("max_steps", 0, r"max_steps=0: must be an integer in \[1, "),
        ("batch_size", -1, "batch_size=-1"),
        ("max_seq_len", 8, "max_seq_len=8"),
        ("seed", -1, "seed=-1"),
        ("quantization", "int8", "quantization='int8': must be one of none, nf4"),
        ("target_modules", "all", "target_modules='all'"),
        ("target_modules", (), "target_modules=()"),
    ],
)
def test_settings_validation(field: str, value: object, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        LoraSettings(**{field: value})


def test_settings_to_dict() -> None:
    settings = LoraSettings(target_modules=["q_proj", "v_proj"])  # type: ignore[arg-type]
    assert settings.target_modules == ("q_proj", "v_proj")
    values = settings.to_dict()
    assert values["target_modules"] == ["q_proj", "v_proj"]
    assert LoraSettings(**{**values, "target_modules": tuple(values["target_modules"])}) == settings
    json.dumps(LoraSettings().to_dict())


def test_training_example_validation() -> None:
    with pytest.raises(ValueError, match="role"):
        TrainingExample(prompt=[{"role": "robot", "content": "hi"}], target="x")
    with pytest.raises(ValueError, match="non-empty"):
        TrainingExample(prompt=[{"role": "user", "content": "hi"}], target="  ")


def test_nf4_config_builder() -> None:
    import torch

    cpu = nf4_quantization_config(cuda=False)
    assert cpu.load_in_4bit and not cpu.load_in_8bit
    assert cpu.bnb_4bit_quant_type == "nf4"
    assert cpu.bnb_4bit_use_double_quant
    assert cpu.bnb_4bit_compute_dtype == torch.float32
    assert nf4_quantization_config(cuda=True).bnb_4bit_compute_dtype == torch.bfloat16


def test_nf4_without_bitsandbytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a, **k: None if name == "bitsandbytes" else real_find_spec(name, *a, **k),
    )
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text("{}")
    with pytest.raises(PrefbenchInputError, match=r"pip install 'prefbench\[gpu\]'"):
        train_lora_adapter(
            tmp_path / "base", EXAMPLES, LoraSettings(quantization="nf4"), tmp_path / "adapter"
        )
    assert not (tmp_path / "adapter").exists()


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(PrefbenchInputError, match="no config.json"):
        train_lora_adapter(tmp_path, EXAMPLES, FAST, tmp_path / "adapter")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="at least one"):
        train_lora_adapter(tmp_path, [], FAST, tmp_path / "adapter")


@pytest.mark.parametrize(
    ("quantization", "cuda", "dtype"),
    [("nf4", True, "bfloat16"), ("nf4", False, "float32"), ("none", True, "float32")],
)
def test_adapters_are_saved_in_the_compute_dtype(quantization: str, cuda: bool, dtype: str) -> None:
    import torch

    base = LoadedBase(Path("base"), quantization, tokenizer=None, model=None, cuda=cuda)
    assert adapter_save_dtype(base) == getattr(torch, dtype)
