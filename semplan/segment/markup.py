"""Markup left in a text: tables, Markdown marks, images and inline tags.

Plans reach us as Markdown transcriptions with HTML tables inside, as reader output with pipe
tables (`semplan.read` writes .docx and .html tables that way), and as web text with stray tags.
None of the markup is text of the plan: it is cut out of its line, so a clause never holds it,
and a table row becomes one unit whose cells are joined by a separator found in the source.
"""

from __future__ import annotations

import re

from semplan.segment._chars import SourceLine, letters, strip_bounds

_TABLE_OPEN = re.compile(r"<table\b", re.I)
_TABLE_CLOSE = re.compile(r"</table\s*>", re.I)
_ROW = re.compile(r"<tr\b[^>]*>(.*?)(?:</tr\s*>|(?=<tr\b)|$)", re.I | re.S)
_CELL = re.compile(r"<t[dh]\b[^>]*>(.*?)(?:</t[dh]\s*>|(?=<t[dh]\b)|$)", re.I | re.S)
_TAG = re.compile(
    r"</?(?:a|b|i|u|p|br|span|strong|em|font|div|img|sup|sub|td|tr|th|table|tbody|thead|tfoot|ul|ol|li|"
    r"h[1-6]|center|hr|section|article|blockquote|pre|code|small|big|mark|del|ins|s|strike)\b[^<>]{0,300}/?>",
    re.I,
)
_IMAGE = re.compile(r"!\[[^\]\n]{0,200}\]\([^)\n]{0,300}\)")
_LINK = re.compile(r"\[([^\]\n]{1,200})\]\((?:https?://|/|\.{0,2}/?[\w-]+/)[^)\n]{0,300}\)")
_HEADING = re.compile(r"(#{1,6})[ \t\u3000]+")
_BULLET = re.compile(r"(?:[-*+•●■◆▪]|>)[ \t\u3000]+")
_PIPE_RULE = re.compile(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?")
# A Markdown heading that is a whole sentence or long is a list item written with `#`.
MAX_HEADING_LETTERS = 40


def mark_tables(source: str, lines: list[SourceLine]) -> tuple[list[SourceLine], int]:
    """Replace HTML table blocks by one line per row; mark pipe-table rows. Returns the lines and
    how many rows had no text (skipped)."""
    result: list[SourceLine] = []
    skipped = 0
    index = 0
    while index < len(lines):
        line = lines[index]
        if _TABLE_OPEN.search(line.text):
            close = index
            while close < len(lines) and not _TABLE_CLOSE.search(lines[close].text):
                close += 1
            close = min(close, len(lines) - 1)
            start, end = line.start, lines[close].end
            rows, empty = _html_rows(source, start, end, line)
            skipped += empty
            result.extend(rows)
            index = close + 1
            continue
        if _PIPE_RULE.fullmatch(line.text) and "|" in line.text:
            line.role, line.reason = "markup", "table rule"
        elif line.text.startswith("|") and line.text.endswith("|") and line.text.count("|") >= 3:
            cells = [cell.strip() for cell in line.text[1:-1].split("|")]
            if any(letters(cell) for cell in cells):
                first = line.start + 1
                last = line.end - 1
                first, last = strip_bounds(source, first, last)
                line.role, line.pieces = "table_row", [(first, last)]
            else:
                line.role, line.reason = "table_skipped", "empty table row"
                skipped += 1
        result.append(line)
        index += 1
    return result, skipped


def _html_rows(source: str, start: int, end: int, first: SourceLine) -> tuple[list[SourceLine], int]:
    rows: list[SourceLine] = []
    empty = 0
    block = source[start:end]
    for row in _ROW.finditer(block):
        pieces: list[tuple[int, int]] = []
        previous_end = None
        for cell in _CELL.finditer(block, row.start(1), row.end(1)):
            cell_pieces = _cell_pieces(source, start + cell.start(1), start + cell.end(1))
            if not cell_pieces:
                continue
            if previous_end is not None:
                separator = _separator(source, previous_end, cell_pieces[0][0])
                if separator is not None:
                    pieces.append(separator)
            pieces.extend(cell_pieces)
            previous_end = cell_pieces[-1][1]
        if pieces:
            row_line = SourceLine(first.number, pieces[0][0], pieces[-1][1], source[pieces[0][0]:pieces[-1][1]],
                                  role="table_row", blanks_before=1)
            row_line.pieces = pieces
            rows.append(row_line)
        else:
            empty += 1
    marker = SourceLine(first.number, start, end, source[start:end], role="table_skipped", reason="table markup",
                        blanks_before=first.blanks_before)
    return [marker, *rows], empty


def _cell_pieces(source: str, start: int, end: int) -> list[tuple[int, int]]:
    """A cell's text without tags or line breaks, as source ranges."""
    pieces = []
    position = start
    for match in [*_TAG.finditer(source, start, end), None]:
        piece_end = match.start() if match else end
        for part in re.finditer(r"[^\r\n]+", source[position:piece_end]):
            s, e = strip_bounds(source, position + part.start(), position + part.end())
            if s < e:
                pieces.append((s, e))
        if match:
            position = match.end()
    return pieces


def _separator(source: str, previous_end: int, next_start: int) -> tuple[int, int] | None:
    """One whitespace character between two cells, to stand between them in the row's text."""
    gap = source[previous_end:next_start]
    for char in ("\t", " ", "\u3000"):
        where = gap.rfind(char)
        if where >= 0:
            return previous_end + where, previous_end + where + 1
    return None


def strip_markup(source: str, line: SourceLine) -> None:
    """Cut Markdown marks, images, link targets and inline tags out of a text line."""
    text = line.text
    heading = _HEADING.match(text)
    if heading:
        rest = text[heading.end():].strip()
        is_item = letters(rest) > MAX_HEADING_LETTERS or (rest and rest[-1] in "。！？!?；;")
        line.cuts.append((line.start, line.start + heading.end()))
        if not is_item:
            line.heading_level = len(heading.group(1))
    else:
        bullet = _BULLET.match(text)
        if bullet:
            line.cuts.append((line.start, line.start + bullet.end()))
    for match in _IMAGE.finditer(text):
        line.cuts.append((line.start + match.start(), line.start + match.end()))
    for match in _LINK.finditer(text):
        line.cuts.append((line.start + match.start(), line.start + match.start(1)))
        line.cuts.append((line.start + match.end(1), line.start + match.end()))
    for match in _TAG.finditer(text):
        line.cuts.append((line.start + match.start(), line.start + match.end()))
    if line.cuts and not letters(line.visible(source)):
        line.role, line.reason = "markup", "markup only"
