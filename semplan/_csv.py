"""CSV that is safe to open in a spreadsheet: one writer for every CSV semplan produces.

Two things go wrong when analysts double-click a CSV. Excel reads a file without a byte-order mark
in the system's code page, so Chinese turns to mojibake: every CSV starts with a UTF-8 BOM. And a
cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is taken as a formula (a plan
id from a file named `=HYPERLINK(...)` would run): such text cells get a leading `'`, as OWASP's
CSV-injection guidance advises. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

BOM = "\ufeff"
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value` as a spreadsheet will show it, never as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


class SafeWriter:
    """`csv.writer` that neutralises formula cells and writes the BOM before the first row."""

    def __init__(self, stream: TextIO, *, bom: bool = True):
        self._writer = csv.writer(stream, lineterminator="\n")
        # The csv module quotes a cell with "\n" (the line terminator) but not one with a bare "\r",
        # which Excel takes as a row break: the next "row" could then start with a formula.
        self._quoting_writer = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)
        self._stream = stream
        self._bom_pending = bom

    def writerow(self, row: Iterable[Any]) -> None:
        if self._bom_pending:
            self._stream.write(BOM)
            self._bom_pending = False
        cells = [safe_cell(value) for value in row]
        has_cr = any(isinstance(cell, str) and "\r" in cell for cell in cells)
        (self._quoting_writer if has_cr else self._writer).writerow(cells)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
