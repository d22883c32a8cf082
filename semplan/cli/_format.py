"""Terminal text that fits: widths in display columns, lines wrapped or cut to the terminal.

Every command's text output goes through here. A line is built from styled pieces
(`Piece`: text and click.style keywords) so that wrapping and cutting count only what the
terminal shows: a CJK character takes two columns, a combining mark none, colour codes none.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from semplan.cli import shown
from semplan.normalize import char_width, display_width

# Without a terminal (a pipe, a file, a test) lines are cut to this width unless --width or COLUMNS says otherwise.
DEFAULT_WIDTH = 100
MIN_WIDTH = 40
ELLIPSIS = "…"


def last_columns(text: str, width: int) -> str:
    """The longest tail of `text` that fits in `width` columns."""
    used = 0
    for start in range(len(text) - 1, -1, -1):
        used += char_width(text[start])
        if used > width:
            return text[start + 1 :]
    return text


def first_columns(text: str, width: int) -> str:
    """The longest head of `text` that fits in `width` columns."""
    used = 0
    for end, ch in enumerate(text):
        used += char_width(ch)
        if used > width:
            return text[:end]
    return text


def terminal_width(requested: int | None = None) -> int:
    """The width to fit lines to: --width, else $COLUMNS, else the terminal's, else DEFAULT_WIDTH when stdout is
    not a terminal."""
    if requested:
        return max(MIN_WIDTH, requested)
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(MIN_WIDTH, int(columns))
    if sys.stdout is not None and sys.stdout.isatty():
        return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)
    return DEFAULT_WIDTH


width_option = click.option(
    "--width", "width", type=click.IntRange(min=MIN_WIDTH), default=None, metavar="COLUMNS",
    help=f"Fit text output to this many columns [default: the terminal's, or $COLUMNS, or {DEFAULT_WIDTH}].",
)


@dataclass(frozen=True)
class Piece:
    """A run of text with one style (click.style keywords); control characters are escaped when it is shown."""

    text: str
    style: dict[str, Any] = field(default_factory=dict)

    def styled(self, text: str) -> str:
        return click.style(text, **self.style) if self.style and text else text


def pieces(*parts: str | Piece) -> list[Piece]:
    """Plain strings and pieces as pieces, their text made safe for a terminal line (`shown`)."""
    given = [part if isinstance(part, Piece) else Piece(part) for part in parts]
    return [Piece(shown(piece.text), piece.style) for piece in given]


def _breaks(text: str, width: int) -> list[tuple[int, int]]:
    """(start, end) of each line of `text` broken at `width` columns: at a space when a Latin word would be cut
    (and the space is not far back), anywhere in CJK text."""
    lines = []
    start, used, position = 0, 0, 0
    while position < len(text):
        cost = char_width(text[position])
        if used + cost <= width or position == start:
            used += cost
            position += 1
            continue
        end = position
        space = text.rfind(" ", start, position)
        if text[position] != " " and cost == 1 and space > start and display_width(text[space:position]) < width // 3:
            end = space
        lines.append((start, end))
        start = end
        while start < len(text) and text[start] == " ":
            start += 1
        position, used = start, 0
    if start < len(text) or not lines:
        lines.append((start, len(text)))
    return lines


def _render(parts: Sequence[Piece], start: int, end: int) -> str:
    """The styled text of characters start…end of the pieces laid end to end."""
    rendered, offset = [], 0
    for piece in parts:
        low, high = max(start, offset), min(end, offset + len(piece.text))
        if low < high:
            rendered.append(piece.styled(piece.text[low - offset : high - offset]))
        offset += len(piece.text)
    return "".join(rendered).rstrip(" ")


def wrapped(parts: Sequence[str | Piece], width: int, indent: int = 0, first_indent: int | None = None) -> list[str]:
    """The pieces as lines of at most `width` columns; continuation lines indented by `indent` spaces, the first by
    `first_indent` (default `indent`)."""
    first = indent if first_indent is None else first_indent
    given = pieces(*parts)
    text = "".join(piece.text for piece in given)
    breaks = _breaks(text, max(1, width - max(first, indent)))
    return [" " * (first if i == 0 else indent) + _render(given, start, end) for i, (start, end) in enumerate(breaks)]


def echo_lines(lines: Iterable[str]) -> None:
    for line in lines:
        click.echo(line)


def cut(parts: Sequence[str | Piece], width: int) -> str:
    """The pieces on one line of at most `width` columns, ending in `…` when something was left out."""
    given = pieces(*parts)
    text = "".join(piece.text for piece in given)
    if display_width(text) <= width:
        return _render(given, 0, len(text))
    return _render(given, 0, len(first_columns(text, max(0, width - 1)))) + ELLIPSIS
