"""What a plug-in's code is: its package, version and a hash of its source and prompt files.

A stage key holds the identity of the code that computes the stage, so editing a plug-in
system's or judge's code, or its prompts, recomputes the stages that use it (and nothing
else). prefbench's own systems and judges are identified by prefbench's prompt files and
settings instead (`prefbench.harness.prompt_files`), so their keys do not move with every
edit of prefbench.

The files hashed: every `*.py` and `prompts/*.txt` file under the folder of the installed
distribution's top-level package (what a plug-in package ships), or, for a package that is
not installed (on `sys.path` only), under the module's own package folder; for a lone
module, its own file and the `prompts/*.txt` next to it. So editing any file of a plug-in
package recomputes the stages of every system and judge it registers. Files are read again
only when their size or modification time changed.
"""

import hashlib
import sys
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["code_identity", "source_files"]

OWN_PACKAGE = "prefbench"


def _package_folder(package_name: str) -> Path | None:
    paths = list(getattr(sys.modules.get(package_name), "__path__", None) or [])
    return Path(paths[0]).resolve() if len(paths) == 1 else None


def source_files(module_name: str, installed: bool) -> tuple[str, Path, list[Path]]:
    """The package the identity names, the folder its paths are relative to, its files."""
    source = getattr(sys.modules.get(module_name), "__file__", None)
    if source is None:
        return module_name, Path("."), []
    package = module_name.split(".")[0] if installed else module_name.rpartition(".")[0]
    root = _package_folder(package) if package else None
    if root is not None:
        files = [*root.rglob("*.py"), *root.rglob("prompts/*.txt")]
    else:
        package, root = module_name, Path(source).resolve().parent
        files = [Path(source).resolve(), *root.rglob("prompts/*.txt")]
    return package, root, sorted(path for path in set(files) if "__pycache__" not in path.parts)


@cache
def _content_fingerprint(states: tuple[tuple[str, str, int, int], ...]) -> str:
    """sha256 over the files' relative paths and contents (cached per size and mtime)."""
    digest = hashlib.sha256()
    for name, path, _, _ in states:
        content = Path(path).read_bytes()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


@cache
def _distribution(top: str) -> tuple[str, str] | None:
    """(name, version) of the installed distribution that ships top-level package `top`."""
    names = metadata.packages_distributions().get(top, [])
    for name in [*names, top, top.replace("_", "-")]:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def code_identity(function: Callable[..., Any] | None) -> dict[str, Any]:
    """`{"package", "version", "code"}` of the module defining `function`; `{}` for prefbench.

    `package` is the installed distribution shipping it (else the package or module hashed),
    `version` that distribution's version (None when not installed), `code` a sha256 of its
    source and prompt files (`source_files`).
    """
    module_name = getattr(function, "__module__", None) or ""
    if not module_name or module_name.split(".")[0] == OWN_PACKAGE:
        return {}
    distribution = _distribution(module_name.split(".")[0])
    package, root, files = source_files(module_name, installed=distribution is not None)
    states = tuple(
        (path.relative_to(root).as_posix(), str(path), path.stat().st_size, path.stat().st_mtime_ns)
        for path in files
    )
    return {
        "package": distribution[0] if distribution else package,
        "version": distribution[1] if distribution else None,
        "code": _content_fingerprint(states),
    }
