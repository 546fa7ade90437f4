"""Errors that the command line turns into exit codes (docs/design.md §7)."""

__all__ = ["MissingModelPackageError", "PrefbenchInputError"]


class PrefbenchInputError(Exception):
    """Bad usage or bad input: exit code 2.

    The message must name the file or record at fault and say how to fix it.
    """


class MissingModelPackageError(PrefbenchInputError):
    """An offline demo model's PyPI package is not installed."""
