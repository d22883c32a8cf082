"""Characters and source lines: what every segmentation step reads a line with.

Punctuation classes are shared by the line, structure and cut steps so that "a sentence ends
here" means one thing everywhere. `SourceLine` is one physical line of the source with its
content bounds; the line steps (markup, chrome, joins) annotate it, and `lines.build_view`
turns the kept parts into the view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Sentence punctuation shared by the structure reader and the cutter.
TERMINALS = "。！？!?；;"
# A lead is cut at full stops only: its `;` separate the aims of one sentence.
FULL_STOPS = "。！？!?"
CLOSERS = "”’」』）)\"'》〉】"
OPENERS = "“‘「『（(《〈【［["
SENTENCE_END = TERMINALS + "：:"
SPACE = " \t\u00a0\u3000"
# Zero-width characters carry nothing; a line holding only these is blank (a page-break artefact
# of a transcription: `人\n\u200b\n民`).
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_EDGE = SPACE + ZERO_WIDTH + "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\r"
# Punctuation that cannot start a paragraph: a line opening with one continues the line before.
CONTINUATION_START = "，。、；：）)》」』”’!?！？%％…,.;:〉】"


def letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalnum())


def closed(text: str) -> bool:
    """True when `text` ends a sentence (allowing closing quotes and brackets after the mark)."""
    index = len(text) - 1
    while index >= 0 and (text[index] in CLOSERS or text[index] in _EDGE):
        index -= 1
    return index >= 0 and text[index] in SENTENCE_END


@dataclass
class SourceLine:
    """One physical line: `start`/`end` bound its content (edge spaces stripped); `cuts` are
    ranges inside it that the line steps removed (markup, inline chrome, a page marker)."""

    number: int  # 0-based line number in the source
    start: int
    end: int
    text: str
    blanks_before: int = 0  # blank lines since the previous non-blank line
    zero_width_gap: bool = False  # every blank line before it held only zero-width characters
    role: str = "text"  # text | chrome | markup | table_row | table_skipped
    reason: str = ""  # why a line was left out (for tests and debugging)
    heading_level: int = 0  # a Markdown heading `#`…`######`
    cuts: list[tuple[int, int]] = field(default_factory=list)
    join: bool = False  # continues the previous kept line (a soft wrap or markup break)
    forced_join: bool = False  # a page chunk: always continues the previous paragraph
    pieces: list[tuple[int, int]] | None = None  # a table row: its cells and separators

    def kept(self) -> list[tuple[int, int]]:
        """The line's content ranges minus its cuts, in order, without empty or blank pieces."""
        if self.pieces is not None:
            return list(self.pieces)
        ranges = []
        position = self.start
        for cut_start, cut_end in sorted(self.cuts):
            if cut_start > position:
                ranges.append((position, cut_start))
            position = max(position, cut_end)
        if position < self.end:
            ranges.append((position, self.end))
        return ranges

    def visible(self, source: str) -> str:
        return "".join(source[s:e] for s, e in self.kept()).strip(_EDGE)


def strip_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    return start, end


def split_lines(text: str) -> list[SourceLine]:
    """Non-blank physical lines with their content bounds and the blank lines before each."""
    bounds = []
    start = 0
    for match in re.finditer(r"\r\n|\r|\n", text):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(text)))
    lines: list[SourceLine] = []
    blanks = 0
    zero_width_only = True
    for number, (line_start, line_end) in enumerate(bounds):
        content_start, content_end = strip_bounds(text, line_start, line_end)
        if content_start >= content_end:
            blanks += 1
            zero_width_only = zero_width_only and any(ch in ZERO_WIDTH for ch in text[line_start:line_end])
            continue
        lines.append(SourceLine(number, content_start, content_end, text[content_start:content_end],
                                blanks_before=blanks, zero_width_gap=blanks > 0 and zero_width_only))
        blanks = 0
        zero_width_only = True
    return lines


# Marks that open a unit of a plan: a line starting with one starts a paragraph.
_UNIT_START = re.compile(
    r"(?:[一二三四五六七八九十]{1,3}、|[（(][一二三四五六七八九十]{1,3}[）)]|\d{1,3}[ \u00a0]?[.．、·](?!\d)|"
    r"［\d{1,3}］|\[\d{1,3}\]|#{1,6}\s|[-*+•●■◆▪]\s|\||第[一二三四五六七八九十百\d]{1,4}[章节条部分篇])"
)
_SECTION_START = re.compile(r"[一二三四五六七八九十]{1,3}、|[（(][一二三四五六七八九十]{1,3}[）)]")
MAX_HEADING_LINE_LETTERS = 40
# The heading of a notes section: glossary, notes, annexes.
NOTES_HEADING = re.compile(
    r"(?:附件\s*[0-9一二三四五六七八九十]*|附注|注释|注解|注|名词解释|名词注释|参考文献|.{0,30}名词(?:解释|注释))[:：]?"
)
MAX_NOTES_HEADING_LETTERS = 30


def is_notes_heading(text: str) -> bool:
    text = text.strip(_EDGE)
    return letters(text) <= MAX_NOTES_HEADING_LETTERS and bool(NOTES_HEADING.fullmatch(text))


def unit_marker_end(text: str) -> int:
    """Length of the heading, item, list or note marker `text` opens with (0 when none)."""
    match = _UNIT_START.match(text)
    return match.end() if match else 0


def is_heading_line(text: str) -> bool:
    """A line that is a numbered section heading and nothing more: `一、2018年工作回顾`."""
    match = _SECTION_START.match(text)
    return bool(match) and not closed(text) and letters(text) <= MAX_HEADING_LINE_LETTERS


def prose(text: str) -> bool:
    """Text that reads as part of a sentence: inner punctuation after any marker, or long."""
    body = text[unit_marker_end(text):]
    # An open quote or bracket not yet closed (`实施科技“双向`) is a sentence in progress too.
    unclosed = any(body.count(opener) > body.count(closer) for opener, closer in ("“”", "（）", "《》", "「」", "『』"))
    return unclosed or any(mark in body for mark in "，、,；;") or letters(body) >= MAX_HEADING_LINE_LETTERS


def starts_unit(text: str) -> bool:
    """True when a line opens with a heading, item, list or note marker (or is a notes heading)."""
    return bool(_UNIT_START.match(text)) or is_notes_heading(text)
