"""Shared fixtures: offline environment, profile files, the shared data folder."""

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data` of the developers' checkout; skipped on a user's machine."""
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} is absent (it exists only beside the developers' checkout)")
    return SHARED_DATA


@pytest.fixture
def write_profile(tmp_path: Path):
    """Write a profile dict as YAML and return its path."""

    def write(profile: dict, name: str = "profile.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(profile), encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True)
def isolated_inspect_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own inspect model-call cache (its key leaves out model args)."""
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "inspect-cache"))
