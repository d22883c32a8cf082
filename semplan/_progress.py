"""How long operations report progress: a `Progress` object the caller passes in.

Library code never prints. An operation (indexing, encoding, clustering) tells its `progress` which
stage it is in, how many units that stage has, how far it got, and what it is working on; the CLI
passes one object that draws a single bar on stderr for the whole command (semplan/cli/_progress.py),
a notebook or a test may pass its own, and the default `NO_PROGRESS` ignores everything.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def stage(self, name: str, total: int | None = None, unit: str = "") -> None:
        """A new stage begins: `total` units of `unit` (None: not counted), none done yet."""

    def advance(self, n: int = 1) -> None:
        """`n` more units of the current stage are done."""

    def detail(self, text: str) -> None:
        """What the stage is working on now (a file, a sub-step): shown beside the count."""


class NoProgress:
    """Progress that goes nowhere: the default of every operation."""

    def stage(self, name: str, total: int | None = None, unit: str = "") -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def detail(self, text: str) -> None:
        pass


NO_PROGRESS = NoProgress()


class Within:
    """A nested operation's progress as the detail of the outer stage, whose count it leaves alone:
    an encoder's "encode 120/212 texts" while indexing counts files."""

    def __init__(self, outer: Progress, label: str = ""):
        self.outer = outer
        self.label = label
        self._name, self._total, self._unit, self._done = "", None, "", 0

    def stage(self, name: str, total: int | None = None, unit: str = "") -> None:
        self._name, self._total, self._unit, self._done = name, total, unit, 0
        self._show()

    def advance(self, n: int = 1) -> None:
        self._done += n
        self._show()

    def detail(self, text: str) -> None:
        self.outer.detail(" ".join(part for part in (self.label, text) if part))

    def _show(self) -> None:
        count = f"{self._done}/{self._total}" if self._total is not None else str(self._done)
        self.detail(" ".join(part for part in (self._name, count, self._unit) if part))


def progress_or_none(progress: Progress | bool | None) -> Progress:
    """`progress`, or NO_PROGRESS for None and False (what `progress=False` meant before there was a Progress)."""
    return progress if progress is not None and not isinstance(progress, bool) else NO_PROGRESS
