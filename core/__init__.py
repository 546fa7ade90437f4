"""The ground layer: errors, atomic files, fingerprints, templates, run-folder paths, models.

Every other package may import `core`; `core` imports none of them (an import-linter
contract in pyproject.toml keeps it so; docs/architecture.md draws the layers).

- `errors`: `PrefbenchInputError` (bad input: names the file, the record and the fix).
- `atomic`: files and folders that appear whole or not at all.
- `fingerprint`: the stable hash that keys cached stages.
- `templates`: versioned prompt template files.
- `run_folder`: the paths of a run folder.
- `offline_models`: the demo models shipped inside PyPI packages.
- `memory`, `quiet`: releasing model memory, silencing transformers' noise.
- `model_close`: closing inspect models from synchronous code (their async close).
"""

from prefbench.core.atomic import atomic_directory, atomic_write_text
from prefbench.core.errors import MissingModelPackageError, PrefbenchInputError
from prefbench.core.fingerprint import fingerprint
from prefbench.core.memory import release_memory
from prefbench.core.offline_models import (
    CACHE_DIR_ENV,
    MINILM_DISTRIBUTION,
    MINILM_NUM_LAYERS,
    SMOLLM2_NAME,
    cache_root,
    minilm_dir,
    smollm2_dir,
    smollm2_gguf_path,
)
from prefbench.core.quiet import quiet_transformers
from prefbench.core.run_folder import RunFolder
from prefbench.core.templates import USER_SEPARATOR, PromptTemplate, load_template

__all__ = [
    "CACHE_DIR_ENV",
    "MINILM_DISTRIBUTION",
    "MINILM_NUM_LAYERS",
    "SMOLLM2_NAME",
    "USER_SEPARATOR",
    "MissingModelPackageError",
    "PrefbenchInputError",
    "PromptTemplate",
    "RunFolder",
    "atomic_directory",
    "atomic_write_text",
    "cache_root",
    "fingerprint",
    "load_template",
    "minilm_dir",
    "quiet_transformers",
    "release_memory",
    "smollm2_dir",
    "smollm2_gguf_path",
]
