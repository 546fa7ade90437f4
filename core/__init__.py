"""The ground layer: errors, atomic files, fingerprints, templates, run-folder paths, models.

Every other package may import `core`; `core` imports none of them (an import-linter
contract in pyproject.toml keeps it so; docs/architecture.md draws the layers).
"""
