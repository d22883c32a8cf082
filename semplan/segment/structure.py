"""A plan's structure, read from the view left to right: sections, items, subheadlines, the lead.

Section headings (`一、`, `（一）`) and numbered items (`1.`, `1 ·`, `1 0 ·`, `4. .` …) count only
when their number follows the previous one, since the same marks occur inside sentences and
scraping garbles them; unnumbered subheadlines are short unpunctuated paragraphs; the lead is
the 总体思路 paragraph. Everything before the body is front matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from semplan.segment._chars import is_notes_heading
from semplan.segment.lines import CLOSERS, SENTENCE_END, SPACE, TERMINALS, View, letters, view_paragraph

# A subheadline is a short unpunctuated paragraph followed by a longer one.
MAX_SUBHEADLINE_CHARS = 40
# Text before the lead or first heading is front matter (titles, datelines, a transmittal letter)
# and is dropped, but only when it is at most this share of the text: more means the structure
# was misread, and dropping it would lose the plan.
FRONT_MATTER_SHARE = 1 / 3

_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_SECTION = re.compile(r"([一二三四五六七八九十]{1,3})、|[（(]([一二三四五六七八九十]{1,3})[）)]")
_ITEM = re.compile(
    r"(?<![\d.．·・])(?<!\d )(\d(?:[ \u00a0]?\d){0,2})[ \u00a0]*([.．·・、])(?:[ \u00a0]*[.．·・])?[ \u00a0]*"
)
# Only 总体思路 marks the lead: 总体要求 also occurs inside sentences (按照市委市政府总体要求).
_LEAD_KEY = re.compile(r"总体思路|總體思路")
# Where a lead sentence starts when the scraper glued the title on: `…工作要点2019年全市教育…`.
_TITLE_BEFORE_YEAR = re.compile(r"(?:要点|計劃|计划|安排|要點)(?=\s*(?:19|20)[\dXx]{2}年)")


def _chinese_number(numeral: str) -> int | None:
    if numeral == "十":
        return 10
    if "十" in numeral:
        tens, _, ones = numeral.partition("十")
        value = (_CN_DIGITS.get(tens, 0) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)
        return value if (not tens or tens in _CN_DIGITS) and (not ones or ones in _CN_DIGITS) else None
    if len(numeral) == 1:
        return _CN_DIGITS.get(numeral)
    return None


@dataclass
class Event:
    kind: str  # "section", "subsection", "item", "subheadline", "heading" (Markdown; number = level)
    start: int  # where the marker starts in the view
    content: int  # where the text after the marker starts
    number: int | None


@dataclass
class Structure:
    lead: tuple[int, int] | None
    body_start: int
    events: list[Event]
    notes: int | None = None  # where a notes section (注释, 名词解释, 附件) starts; it runs to the end


def _at_boundary(text: str, position: int) -> bool:
    """True at a paragraph start or right after a sentence (allowing spaces and closing quotes)."""
    index = position - 1
    while index >= 0 and text[index] in SPACE:
        index -= 1
    if index < 0 or text[index] == "\n":
        return True
    while index >= 0 and text[index] in CLOSERS:
        index -= 1
    return index >= 0 and text[index] in TERMINALS


def _at_paragraph_start(text: str, position: int) -> bool:
    index = position - 1
    while index >= 0 and text[index] in SPACE:
        index -= 1
    return index < 0 or text[index] == "\n"


def _item_number(match: re.Match, text: str) -> int | None:
    after = match.end()
    while after < len(text) and text[after] in SPACE:
        after += 1
    # `90.5%`, `2 · 0`, `0.5%`: a number that continues is not an item marker.
    if after < len(text) and (text[after].isdigit() or text[after] in "%％"):
        return None
    if after >= len(text) or text[after] == "\n":
        return None
    return int(re.sub(r"\D", "", match.group(1)))


def read_structure(view: View) -> Structure:
    text = view.text
    notes = _find_notes(view)
    limit = notes if notes is not None else len(text)
    candidates: list[tuple[int, str, re.Match]] = []
    for match in _SECTION.finditer(text, 0, limit):
        candidates.append((match.start(), "section", match))
    for match in _ITEM.finditer(text, 0, limit):
        candidates.append((match.start(), "item", match))
    candidates = [c for c in candidates if view.mark_at(c[0]) is None]
    candidates += [(start, "heading", None) for start, kind in view.marks.items()
                   if kind.startswith("heading") and start < limit]
    candidates.sort(key=lambda candidate: (candidate[0], candidate[1] != "section"))

    events: list[Event] = []
    section_family: int | None = None  # 1: `一、`, 2: `（一）`
    section_number = subsection_number = 0
    item_number = 0
    items_in_section = 0
    last_content = 0
    for position, kind, match in candidates:
        if position < last_content:
            continue
        if kind == "heading":
            events.append(Event("heading", position, position, int(view.marks[position][-1])))
            items_in_section = 0
            continue
        if kind == "section":
            family = 1 if match.group(1) else 2
            number = _chinese_number(match.group(1) or match.group(2))
            if not _at_boundary(text, position):
                continue
            # A heading on a line of its own may skip a number or two: the source's own numbering
            # has gaps, or a copy left a part out.
            jump = {1, 2, 3, 4} if _at_paragraph_start(text, position) and _short_heading(text, match.end()) else {1}
            if section_family in (None, family) and number - section_number in jump and (section_number or number == 1):
                section_family, section_number, subsection_number = family, number, 0
                event_kind = "section"
            elif (section_family == 1 and family == 2 and section_number
                  and number - subsection_number in (jump if subsection_number else {1})):
                # `（一）` under `一、`: the second level of a government work report.
                subsection_number = number
                event_kind = "subsection"
            else:
                continue
            items_in_section = 0
            events.append(Event(event_kind, position, match.end(), number))
            last_content = match.end()
            continue
        number = _item_number(match, text)
        if number is None:
            continue
        allowed = {item_number + 1}
        if events and events[-1].kind in ("section", "subsection", "heading") and items_in_section == 0:
            allowed.add(1)  # numbering may restart in each section (the county plan does)
        at_paragraph_start = _at_paragraph_start(text, position)
        if at_paragraph_start and item_number:
            allowed |= {item_number + 2, item_number + 3}  # a gap in the source's own numbering
        if match.group(2) == "、" and not at_paragraph_start:
            continue
        if number not in allowed:
            continue
        if not (_at_boundary(text, position) or _ends_heading(text, events, position)):
            continue
        item_number = number
        items_in_section += 1
        events.append(Event("item", position, match.end(), number))
        last_content = match.end()
    first_event = events[0].start if events else limit
    lead = _find_lead(text, first_event)
    if lead and lead[0] > len(text) * FRONT_MATTER_SHARE:
        lead = None  # 总体思路 deep inside a text is a sentence about it, not the plan's lead
    events.extend(_subheadlines(view, events, lead, limit))
    events.sort(key=lambda event: event.start)
    if lead:
        body_start = lead[0]
    elif events and events[0].start <= len(text) * FRONT_MATTER_SHARE:
        body_start = events[0].start  # title, dateline, transmittal letter before the first heading
    else:
        body_start = 0
    events = [event for event in events if event.start >= body_start]
    return Structure(lead, body_start, events, notes)


def _find_notes(view: View) -> int | None:
    """Where a glossary, notes or annex section starts (its heading paragraph), or None.

    Not in the first third of a text: there, 附件 heads a list of attachments in the header."""
    text = view.text
    position = text.find("\n", int(len(text) * FRONT_MATTER_SHARE))
    while 0 <= position < len(text):
        start, end = view_paragraph(text, position + 1)
        if view.mark_at(start) in (None, "heading1", "heading2", "heading3") and is_notes_heading(text[start:end]):
            return start
        position = text.find("\n", end)
        if position < 0:
            break
    return None


def _short_heading(text: str, content: int) -> bool:
    """The heading's first sentence (or its paragraph) is short enough to be a heading."""
    end = view_paragraph(text, content)[1]
    for position in range(content, end):
        if text[position] in TERMINALS:
            end = position
            break
    return letters(text[content:end]) <= MAX_SUBHEADLINE_CHARS


def _ends_heading(text: str, events: list[Event], position: int) -> bool:
    """An item marker glued to the end of its section heading: `…推进XX教育现代化1.抓好…`."""
    if not events or events[-1].kind not in ("section", "subsection"):
        return False
    between = text[events[-1].content:position]
    return len(between) <= 80 and "\n" not in between and not any(ch in TERMINALS for ch in between)


def _find_lead(text: str, first_event: int) -> tuple[int, int] | None:
    """The lead paragraph: the last 总体思路 sentence before the first heading (a scraped preview
    may repeat a broken copy of it first, which then counts as front matter)."""
    keys = [match.start() for match in _LEAD_KEY.finditer(text, 0, first_event)]
    if not keys:
        return None
    key = keys[-1]
    paragraph_start, paragraph_end = view_paragraph(text, key)
    start = paragraph_start
    for index in range(key - 1, paragraph_start - 1, -1):
        if text[index] in TERMINALS or text[index] in "：:":
            start = index + 1
            break
    for match in _TITLE_BEFORE_YEAR.finditer(text, start, key):
        start = match.end()
    while start < key and text[start] in SPACE:
        start += 1
    return start, min(paragraph_end, first_event)


def _subheadlines(view: View, events: list[Event], lead: tuple[int, int] | None, limit: int) -> list[Event]:
    text = view.text
    marked = {view_paragraph(text, event.start)[0] for event in events}
    found = []
    paragraphs = []
    position = 0
    while position <= limit:
        end = text.find("\n", position, limit)
        end = limit if end < 0 else end
        if view.mark_at(position) is None:
            paragraphs.append((position, end))
        position = end + 1
    for index, (p_start, p_end) in enumerate(paragraphs[:-1]):
        if p_start in marked or (lead and p_start < lead[1]):
            continue
        line = text[p_start:p_end].strip()
        following = text[paragraphs[index + 1][0]:paragraphs[index + 1][1]].strip()
        if not line or not 2 <= letters(line) <= MAX_SUBHEADLINE_CHARS:
            continue
        if line[-1] in SENTENCE_END + ",，、" or letters(following) <= max(MAX_SUBHEADLINE_CHARS, 2 * len(line)):
            continue
        found.append(Event("subheadline", p_start, p_start, None))
    return found
