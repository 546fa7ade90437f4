"""Content hashes that key cached stages: same inputs, same hash, nothing recomputed."""

import hashlib
import json
from typing import Any

from pydantic import BaseModel

__all__ = ["fingerprint"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def fingerprint(value: Any) -> str:
    """sha256 (hex) of a JSON-able value (pydantic models allowed), key order ignored."""
    encoded = json.dumps(value, sort_keys=True, ensure_ascii=False, default=_jsonable)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
