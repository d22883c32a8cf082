"""Every error semplan raises on purpose. The CLI prints each as one line, `Error: …`, and exits 1.

Not-found and invalid-argument errors also subclass `KeyError` / `ValueError`, so code written
against the standard library's conventions (`except KeyError`) catches them too.
"""

from __future__ import annotations


class SemplanError(Exception):
    """Base of every error semplan reports to a user."""


class InvalidArgument(SemplanError, ValueError):
    """An argument is out of range or of the wrong kind (k < 1, an unknown role, a bad clause id)."""


class NotFound(SemplanError, KeyError):
    """A named thing (plan, clause, model, priority) does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputError(SemplanError):
    """A plan file (or a file of queries) is missing, empty, binary or in a format semplan cannot read."""


class ModelError(SemplanError):
    """A model cannot be found, built or loaded."""


class ModelNotFound(ModelError, NotFound):
    """No model of that name in the registry, on disk or in the hub cache."""


class MissingDependency(SemplanError):
    """An optional package is not installed; the message names the install command."""


class StoreError(SemplanError):
    """An on-disk index is missing, damaged, locked or of another format version."""


class LockBusy(StoreError):
    """Another process holds the lock of an index (or a model build) that this one wants to write."""


class PlanNotFound(StoreError, NotFound):
    """A plan id that is not in the index."""


class ClauseNotFound(StoreError, NotFound):
    """A clause id (`PLAN#N`) whose plan exists but has no clause N."""


class ModelMismatch(StoreError):
    """An index is opened with a model other than the one it was built with."""


class ClusteringError(SemplanError):
    """The clauses cannot be clustered as asked (too few, bad parameters)."""


class EvalError(SemplanError):
    """A labelled data file is malformed or does not fit the index it is evaluated on."""
