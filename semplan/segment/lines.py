"""The view: a source's kept text, each character remembering its offset in the source.

`build_view` runs the line steps in order: split the source into lines, mark tables and cut
markup (`markup`), find chrome (`chrome`), remove a document site's page markers, decide which
line breaks are soft (`joins`) and join those lines into paragraphs. Whatever a step leaves out
is simply absent from the view, so a clause cut from it maps back to one source span per piece
of a line it covers. The source itself is never edited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from semplan.segment._chars import (
    CLOSERS,
    FULL_STOPS,
    SENTENCE_END,
    SPACE,
    TERMINALS,
    SourceLine,
    letters,
    split_lines,
)
from semplan.segment.chrome import RepeatedLines, inline_cuts, mark_chrome
from semplan.segment.joins import mark_joins, read_layout
from semplan.segment.markup import mark_tables, strip_markup

__all__ = ["CLOSERS", "FULL_STOPS", "SENTENCE_END", "SPACE", "TERMINALS", "LineReport", "View", "build_view",
           "letters", "view_paragraph"]

# A document site's page marker: `4、` or `4、、` at the start of a page chunk.
# Only the first 、 is the marker: in `政策公开\n\n4、、过程公开` the second one is the text's own.
_PAGE_MARKER = re.compile(r"(\d{1,3})、[ \t\u3000\xa0]*")
# Prose lines at least this long (or of several sentences) lose only the chrome phrases in them.
_INLINE_CHROME_MIN = 40


@dataclass(frozen=True)
class LineReport:
    """What the line steps left out or joined, for `semplan segment --stats`."""

    chrome_lines: int = 0
    markup_lines: int = 0
    soft_breaks: int = 0  # line breaks inside a paragraph that were dropped
    table_rows_skipped: int = 0
    chrome: tuple[tuple[int, str, str], ...] = ()  # (line number, reason, text) of each chrome line


@dataclass
class View:
    """The kept characters of a source, each with its source offset; -1 marks a paragraph break.

    `marks` maps the view offset where a paragraph starts to its kind when it is not prose:
    `table_row`, or `heading1`…`heading6` for a Markdown heading.
    """

    text: str
    origin: list[int]
    marks: dict[int, str] = field(default_factory=dict)
    report: LineReport = field(default_factory=LineReport)

    def spans(self, start: int, end: int) -> tuple[tuple[int, int], ...]:
        runs: list[tuple[int, int]] = []
        for position in range(start, end):
            offset = self.origin[position]
            if offset < 0:
                continue
            if runs and runs[-1][1] == offset:
                runs[-1] = (runs[-1][0], offset + 1)
            else:
                runs.append((offset, offset + 1))
        return tuple(runs)

    def mark_at(self, position: int) -> str | None:
        """The kind of the marked paragraph holding view offset `position`, if any."""
        return self.marks.get(view_paragraph(self.text, position)[0])


def build_view(text: str, repeated: RepeatedLines | None = None) -> View:
    lines = split_lines(text)
    lines, table_rows_skipped = mark_tables(text, lines)
    for line in lines:
        if line.role == "text":
            strip_markup(text, line)
    mark_chrome(lines, repeated)
    for line in lines:
        if line.role == "text" and (len(line.text) > _INLINE_CHROME_MIN or line.text.count("。") > 1):
            line.cuts.extend(inline_cuts(line))
            if not letters(line.visible(text)):
                line.role, line.reason = "chrome", "chrome phrases only"
    _cut_page_markers(text, lines)
    soft_breaks = mark_joins(text, lines, read_layout(text, lines))

    paragraphs: list[tuple[list[tuple[int, int]], str | None]] = []
    previous_end = None
    for line in lines:
        if line.role not in ("text", "table_row"):
            continue
        ranges = [(s, e) for s, e in line.kept() if s < e]
        if not ranges:
            continue
        kind = "table_row" if line.role == "table_row" else f"heading{line.heading_level}" if line.heading_level else None
        if (line.join or line.forced_join) and paragraphs and paragraphs[-1][1] is None and kind is None:
            separator = _latin_separator(text, previous_end, ranges[0][0])
            paragraphs[-1][0].extend([separator, *ranges] if separator else ranges)
        else:
            paragraphs.append((ranges, kind))
        previous_end = ranges[-1][1]

    chars: list[str] = []
    origin: list[int] = []
    marks: dict[int, str] = {}
    for index, (ranges, kind) in enumerate(paragraphs):
        if index:
            chars.append("\n")
            origin.append(-1)
        if kind:
            marks[len(origin)] = kind
        for start, end in ranges:
            piece = text[start:end]
            chars.append(" " if piece in ("\n", "\r") else piece)
            origin.extend(range(start, end))
    report = LineReport(
        chrome_lines=sum(line.role == "chrome" for line in lines),
        markup_lines=sum(line.role in ("markup", "table_skipped") for line in lines),
        soft_breaks=soft_breaks,
        table_rows_skipped=table_rows_skipped,
        chrome=tuple((line.number + 1, line.reason, line.text) for line in lines if line.role == "chrome"),
    )
    return View("".join(chars), origin, marks, report)


def _latin_separator(text: str, previous_end: int | None, next_start: int) -> tuple[int, int] | None:
    """Two Latin words joined across a line break keep one source character between them."""
    if previous_end is None or previous_end >= next_start:
        return None
    if not (text[previous_end - 1].isascii() and text[previous_end - 1].isalpha()
            and text[next_start].isascii() and text[next_start].isalpha()):
        return None  # `PM\n2.5`, `2025\n年`: a subscript or a number wrapped away from its unit joins directly
    gap = text[previous_end:next_start]
    where = gap.find(" ")
    if where < 0:
        where = max(gap.find("\n"), gap.find("\r"))
    return (previous_end + where, previous_end + where + 1) if where >= 0 else None


def _cut_page_markers(text: str, lines: list[SourceLine]) -> None:
    """Cut a run of page markers `1、` … `N、` out of their lines; each later page chunk continues
    the previous paragraph, often mid-word (`加强高` / `11、考选课`).

    Numbered items written `1、` look the same, so a run counts as page markers only when most
    of its markers cut a sentence: the line before ends without final punctuation, or the marker
    is doubled (`4、、`).
    """
    kept = [line for line in lines if line.role == "text"]
    found: dict[int, tuple[int, int]] = {}
    expected = 1
    for index, line in enumerate(kept):
        match = _PAGE_MARKER.match(text, line.start, line.end)
        if match and int(match.group(1)) == expected:
            found[index] = (expected, match.end())
            expected += 1
    if len(found) < 2:
        return
    cuts = 0
    for index, (number, marker_end) in found.items():
        if index == 0 or number == 1:
            continue
        previous = kept[index - 1].text.rstrip()
        doubled = text.startswith("、", marker_end)
        if doubled or (previous and previous[-1] not in SENTENCE_END + CLOSERS):
            cuts += 1
    if not (cuts * 2 >= len(found) - 1 and cuts >= 1):
        return
    join_next = False
    for index, line in enumerate(kept):
        marker = found.get(index)
        if marker is not None:
            number, marker_end = marker
            line.cuts.append((line.start, marker_end))
            joins = number != 1 and index > 0
            if not letters(line.visible(text)):
                line.role, line.reason = "markup", "page marker"
                join_next = join_next or joins
                continue
            line.forced_join = joins or join_next
        elif join_next:
            line.forced_join = True
        join_next = False


def view_paragraph(text: str, position: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return start, len(text) if end < 0 else end
