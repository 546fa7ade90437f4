"""Free the calling thread's idle OpenMP worker pool, so another thread's torch runs at speed.

torch's CPU builds parallelise with GNU OpenMP (libgomp). Every thread that runs a parallel
torch operation keeps its own pool of workers for good. Once the pools of all threads hold
more threads than there are CPUs, libgomp stops letting idle workers spin and puts them to
sleep after about a hundred spins, so every later parallel region pays a futex wake-up. The
engine generates in its own thread while the main thread (model loading, LoRA training)
holds a pool of its own: measured on 2 cores, a 24 x 576 by 576 x 576 matmul took 1.8x as
long in the engine's thread as in the main thread, and a whole batch of SmolLM2 generation
10-40 % longer.

`free_idle_pool()` hands the calling thread's pool back (OpenMP 5.0
`omp_pause_resource_all`). It costs nothing when the thread has no pool; the next parallel
operation of that thread makes a new one (a thread start, microseconds). It does nothing
where torch does not use libgomp (macOS, Windows, Intel OpenMP builds).
"""

import ctypes
import sys
from functools import cache
from pathlib import Path

__all__ = ["free_idle_pool"]

OMP_PAUSE_HARD = 2
"""OpenMP's `omp_pause_hard`: stop the pool's threads and free them."""


@cache
def _libgomp() -> ctypes.CDLL | None:
    """The libgomp this process has loaded (torch's own copy), if any (torch imported)."""
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps if "libgomp" in line.rsplit("/", 1)[-1]}
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        if hasattr(library, "omp_pause_resource_all"):
            return library
    return None


def free_idle_pool() -> bool:
    """Free the calling thread's idle OpenMP workers; False where there is no libgomp.

    Call it from a thread that is done with torch for a while, before another thread's
    torch work: from the event loop before its requests go to the engine's thread, and from
    the engine's thread after each batch.
    """
    if "torch" not in sys.modules:  # no torch, no pool (and libgomp may load later)
        return False
    library = _libgomp()
    return library is not None and library.omp_pause_resource_all(OMP_PAUSE_HARD) == 0
