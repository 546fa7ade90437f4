"""prefbench's folder in the user cache dir: converted offline models, content hashes."""

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "cache_root"]

CACHE_DIR_ENV = "PREFBENCH_CACHE_DIR"


def cache_root(cache_dir: Path | None = None) -> Path:
    """Return prefbench's cache folder.

    `cache_dir` when given, else `$PREFBENCH_CACHE_DIR` when set, else the platform's user
    cache dir (`platformdirs.user_cache_dir("prefbench")`, e.g. `~/.cache/prefbench`).
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser().resolve()
    from_env = os.environ.get(CACHE_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_cache_dir("prefbench")).resolve()
