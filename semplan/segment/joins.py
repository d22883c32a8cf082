"""Line-structure recovery: which line breaks are soft (a wrap, a markup break) and which end a paragraph.

Every reader hands over text whose line breaks mean different things: one paragraph per line
(web copies), paragraphs separated by blank lines with stray single breaks inside them
(Wikisource, Markdown), or lines hard-wrapped at a fixed width (text out of a PDF). The text
itself tells which: the distribution of line lengths, whether blank lines separate paragraphs,
how a line ends (sentence punctuation or not) and how the next one starts (a heading or item
marker must start a line; `，` or `）` cannot). A soft break is dropped from the view, so the
clause across it has one span per source line.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from semplan.segment._chars import (
    CONTINUATION_START,
    OPENERS,
    SourceLine,
    closed,
    is_heading_line,
    letters,
    prose,
    starts_unit,
)
from semplan.segment.chrome import MAX_MENU_LETTERS as MAX_FRAGMENT_LETTERS
from semplan.segment.chrome import is_fragment

# A text is hard-wrapped when this share of its lines (of at least MIN_WRAPPED_LINE characters)
# is within one character of the most common length.
WRAPPED_SHARE = 0.35
MIN_WRAPPED_LINES = 10
MIN_WRAPPED_LINE = 10
# Paragraphs are blank-line separated when at least this share of line breaks is doubled.
BLANK_SEPARATED_SHARE = 0.5
# A Latin word or number moved whole to the next line, as typesetting does (`资金\n311.5亿元`).
_LATIN_RUN = re.compile(r"[0-9A-Za-z.,%‰+\-/:]+")


@dataclass(frozen=True)
class Layout:
    blank_separated: bool
    wrap_width: int | None  # the width a hard-wrapped text was cut at


def read_layout(source: str, lines: list[SourceLine]) -> Layout:
    text_lines = [line for line in lines if line.role == "text"]
    breaks = len(text_lines) - 1
    doubled = sum(1 for line in text_lines[1:] if line.blanks_before)
    blank_separated = breaks >= 3 and doubled >= BLANK_SEPARATED_SHARE * breaks
    lengths = Counter(len(line.visible(source)) for line in text_lines)
    long_lines = sum(count for length, count in lengths.items() if length >= MIN_WRAPPED_LINE)
    wrap_width = None
    if long_lines >= MIN_WRAPPED_LINES:
        mode = max((length for length in lengths if length >= MIN_WRAPPED_LINE), key=lambda n: (lengths[n], n))
        near = lengths[mode - 1] + lengths[mode] + lengths[mode + 1]
        if near >= WRAPPED_SHARE * len(text_lines) and near >= MIN_WRAPPED_LINES:
            wrap_width = mode
    return Layout(blank_separated, wrap_width)


def mark_joins(source: str, lines: list[SourceLine], layout: Layout) -> int:
    """Set `join` on each line that continues the previous kept line; returns how many."""
    joined = 0
    previous: SourceLine | None = None
    previous_text = last_text = ""
    in_fragment = False
    removed_between = False
    for line in lines:
        if line.role in ("chrome", "markup", "table_skipped"):
            removed_between = True
            continue
        if line.role != "text":
            previous, removed_between, in_fragment = None, False, False
            continue
        text = line.visible(source)
        if not text:
            continue
        if line.forced_join:
            line.join = previous is not None
        elif previous is not None and not removed_between:
            line.join, in_fragment = _soft_break(previous, previous_text, last_text, line, text, layout, in_fragment)
        else:
            in_fragment = False
        joined += line.join and not line.forced_join
        previous_text = previous_text + text if line.join else text
        previous, last_text, removed_between = line, text, False
    return joined


def _soft_break(previous: SourceLine, before: str, last: str, line: SourceLine, text: str, layout: Layout,
                in_fragment: bool) -> tuple[bool, bool]:
    """(is the break before `line` soft, is `line` a markup fragment whose break after is soft too).

    `before` is the paragraph so far, `last` the previous line's own text."""
    if line.heading_level or previous.heading_level or starts_unit(line.text) or starts_unit(text) or closed(before):
        return False, False
    if text[0] in CONTINUATION_START or before[-1] in OPENERS:
        # `“\n揭榜\n挂帅”`: a short piece cut out by markup continues on the next line too.
        return True, letters(text) <= MAX_FRAGMENT_LETTERS and not closed(text)
    if before[-1].isascii() and before[-1].isalnum() and text[0].isascii() and text[0].islower():
        return True, False
    if line.zero_width_gap:
        return True, False
    if line.blanks_before:
        # A paragraph of a blank-separated text does not end mid-sentence: a page-wrapped one
        # split by blank lines (`休閒機\n\n能，`) continues.
        return layout.blank_separated and prose(before) and not is_heading_line(before), False
    if (layout.blank_separated or in_fragment) and not is_heading_line(before):
        return True, False
    width = layout.wrap_width
    if width:
        run = _LATIN_RUN.match(text)
        if len(last) >= width - max(2, width // 10) or (run and len(last) + len(run.group()) >= width):
            return True, False
    if is_fragment(previous, line) and not is_heading_line(before):
        return True, True
    return False, False
