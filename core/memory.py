"""Give freed model memory back to the operating system between stages."""

import ctypes
import ctypes.util
import gc
from functools import cache

__all__ = ["release_memory"]


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def release_memory() -> None:
    """Collect garbage, then ask glibc to return free heap pages (no-op elsewhere).

    Without the trim, the resident size of a long run keeps the high-water mark of every
    model it ever loaded, although the models are gone.
    """
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
