"""Errors a user can act on. The CLI prints each as one line, `Error: …`, and exits non-zero."""


class SemplanError(Exception):
    """Base of every error semplan reports to a user."""


class InputError(SemplanError):
    """A plan file is missing, empty, binary or in a format semplan cannot read."""


class ModelError(SemplanError):
    """A model cannot be found, built or loaded."""


class MissingDependency(SemplanError):
    """An optional package is not installed; the message names the install command."""


class StoreError(SemplanError):
    """An on-disk index is missing, damaged, locked or of another format version."""


class ModelMismatch(StoreError):
    """An index is opened with a model other than the one it was built with."""
