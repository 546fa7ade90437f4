"""Generation systems (one module each) and their build steps (`prefbench.solvers.training`).

Importing this package imports each of its modules, so every built-in system registers
itself (`@generation_system`): a new system is one new module here and nothing else. Helper
modules (the registry, the writer, adapters) register nothing; subpackages and private
modules are left to their importers.
"""

import importlib
import pkgutil

from prefbench.solvers.registry import (
    GenerationSystem,
    generation_system,
    lookup_system,
    system_names,
)

for _module in pkgutil.iter_modules(__path__):
    if not _module.ispkg and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["GenerationSystem", "generation_system", "lookup_system", "system_names"]
