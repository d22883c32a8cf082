"""Tables for the terminal: fixed and flexible columns fitted to a width in display columns (see _format)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from semplan.cli import shown
from semplan.cli._format import ELLIPSIS, first_columns
from semplan.normalize import display_width


def padded(text: str, width: int, align: str = "<") -> str:
    """Plain `text` cut to `width` columns and padded to exactly `width`."""
    text = shown(" ".join(text.split()))
    if display_width(text) > width:
        text = first_columns(text, width - 1) + ELLIPSIS
    room = " " * (width - display_width(text))
    return room + text if align == ">" else text + room


@dataclass(frozen=True)
class Column:
    """A table column: a heading, a fixed width or `None` for a share of what is left, right or left aligned."""

    heading: str
    width: int | None = None
    align: str = "<"
    minimum: int = 8


class Table:
    """Rows of plain cells in columns fitted to a width: fixed columns keep their width, the flexible ones share
    the rest (at least their minimum) and cut their cells with `…`."""

    def __init__(self, columns: Sequence[Column], width: int, gap: int = 2):
        self.columns = list(columns)
        self.gap = gap
        flexible = [column for column in self.columns if column.width is None]
        fixed = sum(column.width or 0 for column in self.columns) + gap * (len(self.columns) - 1)
        share = max(0, width - fixed) // max(1, len(flexible))
        self.widths = [column.width if column.width is not None else max(column.minimum, share)
                       for column in self.columns]

    def line(self, cells: Sequence[str], style: Callable[[int, str], str] | None = None) -> str:
        rendered = []
        for i, (column, cell, width) in enumerate(zip(self.columns, cells, self.widths, strict=True)):
            text = padded(cell, width, column.align)
            if i == len(self.columns) - 1:
                text = text.rstrip()
            rendered.append(style(i, text) if style else text)
        return (" " * self.gap).join(rendered)

    def heading(self) -> str:
        return self.line([column.heading for column in self.columns])
