"""What a command shows on stderr while it runs: one progress bar, notices, and with --verbose the log.

One bar per command (tqdm), re-labelled at each stage of the library's `Progress` protocol: the
stage's name, its count of total (files, texts) with rate and time left when it counts, else the
time it has run, and what it is working on. It shows only when stderr is a terminal, unless
SEMPLAN_PROGRESS=1 forces it (tests, `script`); --quiet or SEMPLAN_PROGRESS=0 turns it off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any

import click

from semplan._progress import NO_PROGRESS, Progress

# A counted stage: `index: index:  60%|██████    | 3/5 files [00:07<00:05,  0.40 files/s, write x]`;
# one that is not: `cluster: umap [00:07, 635 clauses]`.
COUNTED = "{desc}: {percentage:3.0f}%|{bar:10}| {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
UNCOUNTED = "{desc} [{elapsed}{postfix}]"
_settings = {"quiet": False, "verbose": False}
_active: list[TerminalProgress] = []


def configure(*, quiet: bool, verbose: bool) -> None:
    """The `semplan` group's --quiet / --verbose, for the command that runs: the bar, the notices and
    the level of the `semplan` logger (WARNING, INFO, or DEBUG with each record's level and module)."""
    _settings.update(quiet=quiet, verbose=verbose)
    library = logging.getLogger("semplan")
    library.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    for handler in library.handlers:
        if isinstance(handler, _StderrHandler):
            handler.setFormatter(logging.Formatter(_VERBOSE_FORMAT if verbose else _NOTICE_FORMAT))


def notice(message: str) -> None:
    """A line on stderr about what the command did (not its result), unless --quiet."""
    if not _settings["quiet"]:
        write_stderr(message)


def write_stderr(message: str) -> None:
    """A line on stderr that does not tear the bar: it is cleared, the line written, the bar redrawn."""
    if _active:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    else:
        click.echo(message, err=True)


def _wanted() -> bool:
    forced = os.environ.get("SEMPLAN_PROGRESS", "")
    if _settings["quiet"] or forced == "0":
        return False
    if forced == "1":
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class TerminalProgress:
    """The command's one bar on stderr: `stage: n/total unit [elapsed<left, rate] detail`."""

    def __init__(self, command: str):
        self.command = command
        self.bar: Any = None

    def stage(self, name: str, total: int | None = None, unit: str = "") -> None:
        from tqdm import tqdm

        bar_format = COUNTED if total is not None else UNCOUNTED
        description, unit = f"{self.command}: {name}", f" {unit}" if unit else ""
        if self.bar is None:
            self.bar = tqdm(total=total, desc=description, unit=unit, bar_format=bar_format, file=sys.stderr,
                            leave=True, dynamic_ncols=True, mininterval=0.2)  # fmt: skip
            _active.append(self)
            return
        self.bar.refresh()  # the stage's last count, which the rate limit may not have drawn yet
        self.bar.bar_format, self.bar.unit, self.bar.total = bar_format, unit, total
        self.bar.set_description_str(description, refresh=False)
        self.bar.set_postfix_str("", refresh=False)
        self.bar.reset(total=total)  # restarts the clock: rate and time left are the stage's own

    def advance(self, n: int = 1) -> None:
        if self.bar is not None and n:
            self.bar.update(n)

    def detail(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            _active.remove(self)
            self.bar = None

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def command_progress(command: str) -> contextlib.AbstractContextManager[Progress]:
    """`with command_progress("index") as progress:` the bar of a command, or NO_PROGRESS when it is off."""
    return TerminalProgress(command) if _wanted() else contextlib.nullcontext(NO_PROGRESS)


_NOTICE_FORMAT = "semplan: %(message)s"
_VERBOSE_FORMAT = "semplan: %(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a message comes (click's test runner swaps it),
    around the progress bar when one is drawn."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        try:
            write_stderr(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


def show_library_notices() -> None:
    """The library logs its notices (the torch fallback, a first ONNX export); the CLI shows them on stderr."""
    library = logging.getLogger("semplan")
    if any(isinstance(handler, _StderrHandler) for handler in library.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(_NOTICE_FORMAT))
    library.addHandler(handler)
    library.setLevel(logging.INFO)
