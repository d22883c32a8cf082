"""text → clauses: boilerplate removal, structure, exact offsets into the decoded source.

The segmenter never edits the source. It builds a *view*: the kept characters of the source in
order, each remembering its offset, with paragraph breaks between kept lines. Boilerplate lines
and document-site page markers are simply absent from the view, so a clause cut from the view
maps back to one source span, or to two when it runs across a removed page marker.

Structure is read from the view left to right: section headings (`一、`), numbered items (`1.`,
`1 ·`, `1 0 ·`, `4. .` …) accepted only when the number follows the previous one, unnumbered
subheadlines, and the lead (总体思路) paragraph. Inside each item the text is cut into sentences.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from semplan.normalize import matching_text

CLAUSE_KINDS = ("lead", "item_title", "sentence")

# Clauses shorter than this (in letters, digits and CJK characters) merge into a neighbour.
MIN_CLAUSE_CHARS = 8
# A first sentence up to this long is an item's title.
MAX_TITLE_CHARS = 40
# An unpunctuated first sentence longer than this is checked for a title fused to its body.
FUSED_TITLE_MIN = 24
# A subheadline is a short unpunctuated paragraph followed by a longer one.
MAX_SUBHEADLINE_CHARS = 40
# Text before the lead or first heading is front matter (titles, datelines, a transmittal letter)
# and is dropped, but only when it is at most this share of the text: more means the structure
# was misread, and dropping it would lose the plan.
FRONT_MATTER_SHARE = 1 / 3

_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUMERALS = ["", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"]


@dataclass(frozen=True)
class Clause:
    """One sentence (or item title, or lead sentence) of a plan, pointing back into its source.

    `spans` are half-open `[start, end)` character offsets into the decoded source text;
    `text == "".join(source[s:e] for s, e in spans)` always holds. `match_text` is the
    normalised form used for encoding and matching only, never shown as source.
    """

    plan_id: str
    n: int  # 1-based position of the clause within its plan
    kind: str  # one of CLAUSE_KINDS
    text: str
    match_text: str
    spans: tuple[tuple[int, int], ...]
    section_number: int | None = None
    section_title: str | None = None
    item_number: int | None = None
    item_title: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CLAUSE_KINDS:
            raise ValueError(f"clause kind {self.kind!r} is not one of {CLAUSE_KINDS}")
        if not self.spans:
            raise ValueError("a clause needs at least one span")
        previous_end = 0
        for start, end in self.spans:
            if start < previous_end or end <= start:
                raise ValueError(f"clause spans {self.spans} are not ordered, non-empty and disjoint")
            previous_end = end

    @property
    def clause_id(self) -> str:
        return f"{self.plan_id}#{self.n}"

    @property
    def path(self) -> str:
        """Human-readable location: `一、section › 3. item`."""
        parts = []
        if self.section_number is not None or self.section_title:
            numeral = chinese_numeral(self.section_number) + "、" if self.section_number else ""
            parts.append(f"{numeral}{self.section_title or ''}")
        if self.item_number is not None or self.item_title:
            number = f"{self.item_number}. " if self.item_number is not None else ""
            parts.append(f"{number}{self.item_title or ''}".strip())
        return " › ".join(parts)

    def to_dict(self) -> dict:
        """A JSON-ready record: every field, plus `clause_id` and `path`; spans as lists."""
        return {
            "clause_id": self.clause_id,
            "plan_id": self.plan_id,
            "n": self.n,
            "kind": self.kind,
            "section_number": self.section_number,
            "section_title": self.section_title,
            "item_number": self.item_number,
            "item_title": self.item_title,
            "path": self.path,
            "spans": [list(span) for span in self.spans],
            "text": self.text,
            "match_text": self.match_text,
        }

    def source_text(self, source: str) -> str:
        """The clause's text read back from the source through its spans."""
        return "".join(source[start:end] for start, end in self.spans)


def chinese_numeral(number: int | None) -> str:
    if number is None or number < 1:
        return ""
    if number <= 10:
        return _CN_NUMERALS[number]
    tens, ones = divmod(number, 10)
    if number < 100:
        return ("" if tens == 1 else _CN_NUMERALS[tens]) + "十" + _CN_NUMERALS[ones]
    return str(number)


def segment_document(doc) -> list[Clause]:
    """Clauses of a `semplan.read.Document`."""
    return segment(doc.text, doc.plan_id)


def segment(text: str, plan_id: str) -> list[Clause]:
    """Cut a decoded plan into clauses; a pure function of its arguments."""
    view = _build_view(text)
    structure = _read_structure(view)
    pieces = _cut(view, structure)
    clauses = []
    for piece in pieces:
        spans = view.spans(piece.start, piece.end)
        clause_text = "".join(text[s:e] for s, e in spans)
        if _BOILERPLATE_INLINE.search(clause_text):
            continue
        clauses.append(
            Clause(
                plan_id=plan_id,
                n=len(clauses) + 1,
                kind=piece.kind,
                text=clause_text,
                match_text=matching_text(clause_text),
                spans=spans,
                section_number=piece.section_number,
                section_title=piece.section_title,
                item_number=piece.item_number,
                item_title=piece.item_title,
            )
        )
        assert clauses[-1].source_text(text) == clause_text
    return clauses


# --- boilerplate ------------------------------------------------------------------------------

# Lines of web and document-site chrome, in two strengths. Strong patterns never occur in a
# plan's prose, so any line up to _BOILERPLATE_LINE_MAX characters holding one is dropped (a long
# line is a paragraph that quotes them). Weak patterns are words a sentence can use (分享经验,
# 联系我们的学校), so they drop only a short line without sentence punctuation.
_BOILERPLATE_STRONG = re.compile(
    r"设为首页|加入收藏|扫一扫在手机|在手机上?打开当前页|浏览次数|访问量[:：]|发布时间[:：]|上传人[:：]|上传时间[:：]|"
    r"文档编号[:：]|第\s*\d+\s*页\s*/\s*共\s*\d+\s*页|_第\d+页$|点击查看更多|展开阅读全文|备案号|ICP备|公网安备|"
    r"经营许可证|由会员分享|^返回\s*下载|^资源描述$|^相关资源$|^猜你喜欢$|^相关搜索$|\.(docx?|pdf|wps)$"
)
_BOILERPLATE_WEAK = re.compile(
    r"联系我们|当前位置|欢迎访问|^今天是|^分享(到)?[:：]?|^来源[:：]|点击(数|量|率)|打印本页|关闭窗口|^【?字体[:：]|文字大小"
)
_BOILERPLATE_LINE_MAX = 160
_BOILERPLATE_WEAK_MAX = 40
# Unambiguous chrome anywhere in a clause: the last guard, for chrome glued onto body text.
_BOILERPLATE_INLINE = re.compile(
    r"设为首页|加入收藏|扫一扫在手机打开|浏览次数|上传人[:：]|文档编号[:：]|第\s*\d+\s*页\s*/\s*共\s*\d+\s*页|"
    r"点击查看更多|展开阅读全文|备案号[:：]"
)


def _is_boilerplate_line(line: str) -> bool:
    line = line.strip()
    if len(line) <= _BOILERPLATE_LINE_MAX and _BOILERPLATE_STRONG.search(line):
        return True
    return (len(line) <= _BOILERPLATE_WEAK_MAX and not any(mark in line for mark in "。！？!?；;")
            and bool(_BOILERPLATE_WEAK.search(line)))


# A document site's page marker: `4、` or `4、、` at the start of a page chunk.
# Only the first 、 is the marker: in `政策公开\n\n4、、过程公开` the second one is the text's own.
_PAGE_MARKER = re.compile(r"[ \t\u3000\xa0]*(\d{1,3})、[ \t\u3000\xa0]*")
_TERMINALS = "。！？!?；;"
# A lead is cut at full stops only: its `;` separate the aims of one sentence, and the issue
# wants the (twice-scraped) lead of the 2019 plan to come out as one lead clause.
_FULL_STOPS = "。！？!?"
_CLOSERS = "”’」』）)\"'》〉】"
_SENTENCE_END = _TERMINALS + "：:"


@dataclass
class _View:
    """The kept characters of a source, each with its source offset; -1 marks a paragraph break."""

    text: str
    origin: list[int]

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


def _lines(text: str) -> list[tuple[int, int]]:
    lines = []
    start = 0
    for match in re.finditer(r"\r\n|\r|\n", text):
        lines.append((start, match.start()))
        start = match.end()
    lines.append((start, len(text)))
    return lines


def _is_blank(line: str) -> bool:
    return not line.strip()


def _build_view(text: str) -> _View:
    lines = [(s, e) for s, e in _lines(text) if not _is_blank(text[s:e])]
    lines = [(s, e) for s, e in lines if not _is_boilerplate_line(text[s:e])]
    page_markers = _page_markers(text, lines)

    paragraphs: list[list[tuple[int, int]]] = []
    join_next = False
    for index, (start, end) in enumerate(lines):
        marker = page_markers.get(index)
        if marker is not None:
            number, marker_end = marker
            start = marker_end
            # The first chunk opens the text; every later chunk continues the previous one, often
            # mid-word (`加强高` / `11、考选课`).
            joins = number != min(n for n, _ in page_markers.values()) and bool(paragraphs)
            if start >= end:
                join_next = joins
                continue
        else:
            joins = join_next
        join_next = False
        if joins:
            paragraphs[-1].append((start, end))
        else:
            paragraphs.append([(start, end)])

    chars: list[str] = []
    origin: list[int] = []
    for index, ranges in enumerate(paragraphs):
        if index:
            chars.append("\n")
            origin.append(-1)
        for start, end in ranges:
            chars.append(text[start:end])
            origin.extend(range(start, end))
    return _View("".join(chars), origin)


def _page_markers(text: str, lines: list[tuple[int, int]]) -> dict[int, tuple[int, int]]:
    """Line index → (page number, end of marker) for a run of page markers `1、` … `N、`.

    Numbered items written `1、` look the same, so a run counts as page markers only when most
    of its markers cut a sentence: the line before ends without final punctuation, or the marker
    is doubled (`4、、`).
    """
    found: dict[int, tuple[int, int]] = {}
    expected = 1
    for index, (start, end) in enumerate(lines):
        match = _PAGE_MARKER.match(text, start, end)
        if match and int(match.group(1)) == expected:
            found[index] = (expected, match.end())
            expected += 1
    if len(found) < 2:
        return {}
    cuts = 0
    for index, (_number, marker_end) in found.items():
        if index == 0 or _number == 1:
            continue
        previous = text[lines[index - 1][0]:lines[index - 1][1]].rstrip()
        doubled = text.startswith("、", marker_end)
        if doubled or (previous and previous[-1] not in _SENTENCE_END + _CLOSERS):
            cuts += 1
    return found if cuts * 2 >= len(found) - 1 and cuts >= 1 else {}


# --- structure --------------------------------------------------------------------------------

_SECTION = re.compile(r"([一二三四五六七八九十]{1,3})、|[（(]([一二三四五六七八九十]{1,3})[）)]")
_ITEM = re.compile(
    r"(?<![\d.．·・])(?<!\d )(\d(?:[ \u00a0]?\d){0,2})[ \u00a0]*([.．·・、])(?:[ \u00a0]*[.．·・])?[ \u00a0]*"
)
# Only 总体思路 marks the lead: 总体要求 also occurs inside sentences (按照市委市政府总体要求).
_LEAD_KEY = re.compile(r"总体思路|總體思路")
# Where a lead sentence starts when the scraper glued the title on: `…工作要点2019年全市教育…`.
_TITLE_BEFORE_YEAR = re.compile(r"(?:要点|計劃|计划|安排|要點)(?=\s*(?:19|20)[\dXx]{2}年)")
_SPACE = " \t\u00a0\u3000"


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
class _Event:
    kind: str  # "section", "item", "subheadline"
    start: int  # where the marker starts in the view
    content: int  # where the text after the marker starts
    number: int | None


@dataclass
class _Structure:
    lead: tuple[int, int] | None
    body_start: int
    events: list[_Event]


def _at_boundary(text: str, position: int) -> bool:
    """True at a paragraph start or right after a sentence (allowing spaces and closing quotes)."""
    index = position - 1
    while index >= 0 and text[index] in _SPACE:
        index -= 1
    if index < 0 or text[index] == "\n":
        return True
    while index >= 0 and text[index] in _CLOSERS:
        index -= 1
    return index >= 0 and text[index] in _TERMINALS


def _at_paragraph_start(text: str, position: int) -> bool:
    index = position - 1
    while index >= 0 and text[index] in _SPACE:
        index -= 1
    return index < 0 or text[index] == "\n"


def _item_number(match: re.Match, text: str) -> int | None:
    after = match.end()
    while after < len(text) and text[after] in _SPACE:
        after += 1
    # `90.5%`, `2 · 0`, `0.5%`: a number that continues is not an item marker.
    if after < len(text) and (text[after].isdigit() or text[after] in "%％"):
        return None
    if after >= len(text) or text[after] == "\n":
        return None
    return int(re.sub(r"\D", "", match.group(1)))


def _read_structure(view: _View) -> _Structure:
    text = view.text
    candidates: list[tuple[int, str, re.Match]] = []
    for match in _SECTION.finditer(text):
        candidates.append((match.start(), "section", match))
    for match in _ITEM.finditer(text):
        candidates.append((match.start(), "item", match))
    candidates.sort(key=lambda candidate: (candidate[0], candidate[1] != "section"))

    events: list[_Event] = []
    section_family: int | None = None  # 1: `一、`, 2: `（一）`
    section_number = 0
    item_number = 0
    items_in_section = 0
    for position, kind, match in candidates:
        if events and position < events[-1].content:
            continue
        if kind == "section":
            family = 1 if match.group(1) else 2
            number = _chinese_number(match.group(1) or match.group(2))
            if section_family is not None and family != section_family:
                continue
            if number != section_number + 1 or not _at_boundary(text, position):
                continue
            section_family = family
            section_number = number
            items_in_section = 0
            events.append(_Event("section", position, match.end(), number))
            continue
        number = _item_number(match, text)
        if number is None:
            continue
        allowed = {item_number + 1}
        if events and events[-1].kind == "section" and items_in_section == 0:
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
        events.append(_Event("item", position, match.end(), number))

    first_event = events[0].start if events else len(text)
    lead = _find_lead(text, first_event)
    if lead and lead[0] > len(text) * FRONT_MATTER_SHARE:
        lead = None  # 总体思路 deep inside a text is a sentence about it, not the plan's lead
    events.extend(_subheadlines(text, events, lead))
    events.sort(key=lambda event: event.start)
    if lead:
        body_start = lead[0]
    elif events and events[0].start <= len(text) * FRONT_MATTER_SHARE:
        body_start = events[0].start  # title, dateline, transmittal letter before the first heading
    else:
        body_start = 0
    events = [event for event in events if event.start >= body_start]
    return _Structure(lead, body_start, events)


def _ends_heading(text: str, events: list[_Event], position: int) -> bool:
    """An item marker glued to the end of its section heading: `…推进XX教育现代化1.抓好…`."""
    if not events or events[-1].kind != "section":
        return False
    between = text[events[-1].content:position]
    return len(between) <= 80 and "\n" not in between and not any(ch in _TERMINALS for ch in between)


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
        if text[index] in _TERMINALS or text[index] in "：:":
            start = index + 1
            break
    for match in _TITLE_BEFORE_YEAR.finditer(text, start, key):
        start = match.end()
    while start < key and text[start] in _SPACE:
        start += 1
    return start, min(paragraph_end, first_event)


def view_paragraph(text: str, position: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return start, len(text) if end < 0 else end


def _letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalnum())


def _subheadlines(text: str, events: list[_Event], lead: tuple[int, int] | None) -> list[_Event]:
    marked = {view_paragraph(text, event.start)[0] for event in events}
    found = []
    paragraphs = []
    position = 0
    while position <= len(text):
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        paragraphs.append((position, end))
        position = end + 1
    for index, (p_start, p_end) in enumerate(paragraphs[:-1]):
        if p_start in marked or (lead and p_start < lead[1]):
            continue
        line = text[p_start:p_end].strip()
        following = text[paragraphs[index + 1][0]:paragraphs[index + 1][1]].strip()
        if not line or not 2 <= _letters(line) <= MAX_SUBHEADLINE_CHARS:
            continue
        if line[-1] in _SENTENCE_END + ",，、" or _letters(following) <= max(MAX_SUBHEADLINE_CHARS, 2 * len(line)):
            continue
        found.append(_Event("subheadline", p_start, p_start, None))
    return found


# --- cutting ----------------------------------------------------------------------------------


@dataclass
class _Piece:
    kind: str
    start: int
    end: int
    section_number: int | None
    section_title: str | None
    item_number: int | None
    item_title: str | None


# Verbs that open the body of an item whose title was fused to it without punctuation:
# `持之以恒加强党的建设出台基层党组织…`.
_BODY_VERBS = re.compile(
    r"出台|坚持|推动|推进|加强|加快|加大|落实|深入|深化|持续|严格|建立|健全|完善|实施|开展|提高|提升|强化|"
    r"着力|围绕|切实|进一步|认真|贯彻|扎实|不断|全面"
)
_PUNCTUATION = re.compile(r"[,，、:：;；“”\"『』「」《》()（）\[\]]")


def _cut(view: _View, structure: _Structure) -> list[_Piece]:
    text = view.text
    pieces: list[_Piece] = []
    events = structure.events
    first_event = events[0].start if events else len(text)
    body_start = structure.body_start
    if structure.lead:
        lead_start, body_start = structure.lead
        pieces += _sentences(text, lead_start, body_start, "lead", None, None, None, None, terminals=_FULL_STOPS)
    pieces += _sentences(text, body_start, first_event, "sentence", None, None, None, None)

    section_number: int | None = None
    section_title: str | None = None
    for index, event in enumerate(events):
        end = events[index + 1].start if index + 1 < len(events) else len(text)
        if event.kind == "section":
            section_number = event.number
            heading_end = min(end, view_paragraph(text, event.content)[1])
            for position in range(event.content, heading_end):
                if text[position] in _TERMINALS:
                    heading_end = position + 1
                    break
            section_title = _strip(text[event.content:heading_end]).rstrip(":：,，;；。") or None
            pieces += _sentences(text, heading_end, end, "sentence", section_number, section_title, None, None)
        elif event.kind == "subheadline":
            title_end = view_paragraph(text, event.start)[1]
            title = _strip(text[event.start:title_end])
            pieces.append(_Piece("item_title", event.start, title_end, section_number, section_title, None, title))
            pieces += _sentences(text, title_end, end, "sentence", section_number, section_title, None, title)
        else:
            title_end = _title_end(text, event.content, end)
            title = _strip(text[event.content:title_end]).rstrip("。！？!?；;") if title_end else None
            body_start = event.content
            if title_end:
                pieces.append(
                    _Piece("item_title", event.content, title_end, section_number, section_title, event.number, title)
                )
                body_start = title_end
            pieces += _sentences(text, body_start, end, "sentence", section_number, section_title, event.number, title)
    return [piece for piece in (_trimmed(text, piece) for piece in pieces) if piece is not None]


def _strip(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\n", "")).strip()


def _title_end(text: str, start: int, end: int) -> int | None:
    """End of an item's title in the view, or None when the item has no separable title."""
    paragraph_end = min(end, view_paragraph(text, start)[1])
    sentence_end = paragraph_end
    for position in range(start, paragraph_end):
        if text[position] in _TERMINALS:
            sentence_end = position + 1
            break
    first = text[start:sentence_end].strip().rstrip(_TERMINALS)
    length = _letters(first)
    if length == 0:
        return None
    # Titles in the sample plans run 4–24 characters. A longer first sentence with no inner
    # punctuation is often a title fused to its body (`持之以恒加强党的建设出台基层党组织…`).
    if length <= MAX_TITLE_CHARS and (_PUNCTUATION.search(first) or length <= FUSED_TITLE_MIN):
        return sentence_end
    fused = _fused_title_end(text, start, sentence_end)
    if fused:
        return fused
    return sentence_end if length <= MAX_TITLE_CHARS else None


def _fused_title_end(text: str, start: int, end: int) -> int | None:
    """Where the body starts in a title fused to it: the first body verb 6–30 characters in,
    with no punctuation before it. Shorter prefixes are verb phrases of the title itself
    (`持之以恒加强…`); longer ones are not titles."""
    for match in _BODY_VERBS.finditer(text, start + 6, min(end, start + 31)):
        prefix = text[start:match.start()]
        if not _PUNCTUATION.search(prefix) and "\n" not in prefix:
            return match.start()
    return None


def _sentences(text, start, end, kind, section_number, section_title, item_number, item_title,
               terminals: str = _TERMINALS) -> list[_Piece]:
    """Sentence pieces of view[start:end], split after `terminals` and at paragraph breaks,
    fragments under MIN_CLAUSE_CHARS merged into a neighbour."""
    bounds: list[list[int]] = []
    position = start
    piece_start = start
    while position < end:
        char = text[position]
        if char == "\n":
            bounds.append([piece_start, position])
            piece_start = position + 1
        elif char in terminals:
            while position + 1 < end and text[position + 1] in _CLOSERS + terminals:
                position += 1
            bounds.append([piece_start, position + 1])
            piece_start = position + 1
        position += 1
    bounds.append([piece_start, end])
    bounds = [b for b in bounds if _letters(text[b[0]:b[1]]) > 0]

    merged: list[list[int]] = []
    for bound in bounds:
        short = _letters(text[bound[0]:bound[1]]) < MIN_CLAUSE_CHARS
        if merged and (short or _letters(text[merged[-1][0]:merged[-1][1]]) < MIN_CLAUSE_CHARS):
            merged[-1][1] = bound[1]
        else:
            merged.append(bound)
    return [
        _Piece(kind, s, e, section_number, section_title, item_number, item_title) for s, e in merged
    ]


def _trimmed(text: str, piece: _Piece) -> _Piece | None:
    start, end = piece.start, piece.end
    while start < end and (text[start].isspace()):
        start += 1
    while end > start and (text[end - 1].isspace()):
        end -= 1
    if start >= end or _letters(text[start:end]) == 0:
        return None
    piece.start, piece.end = start, end
    return piece


# --- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanStats:
    plan_id: str
    clauses: int
    by_kind: dict[str, int]
    sections: int
    items: int
    item_gaps: tuple[tuple[int, int], ...]  # (number before, number after) where numbering jumps
    min_chars: int
    median_chars: float
    p95_chars: int
    max_chars: int


def item_number_gaps(clauses: Iterable[Clause]) -> list[tuple[int, int]]:
    """Places where a plan's item numbers skip (a restart at 1 in a new section is not a gap)."""
    gaps = []
    previous = None
    for clause in clauses:
        number = clause.item_number
        if number is None or number == previous:
            continue
        if previous is not None and number != previous + 1 and number != 1:
            gaps.append((previous, number))
        previous = number
    return gaps


def plan_stats(clauses: list[Clause]) -> list[PlanStats]:
    """Per-plan counts and clause-length distribution, in the order plans first appear."""
    by_plan: dict[str, list[Clause]] = {}
    for clause in clauses:
        by_plan.setdefault(clause.plan_id, []).append(clause)
    result = []
    for plan_id, plan_clauses in by_plan.items():
        lengths = sorted(len(clause.text) for clause in plan_clauses)
        result.append(
            PlanStats(
                plan_id=plan_id,
                clauses=len(plan_clauses),
                by_kind={kind: sum(c.kind == kind for c in plan_clauses) for kind in CLAUSE_KINDS},
                sections=len({c.section_number for c in plan_clauses if c.section_number is not None}),
                items=len({(c.section_number, c.item_number, c.item_title) for c in plan_clauses
                           if c.item_number is not None or c.item_title}),
                item_gaps=tuple(item_number_gaps(plan_clauses)),
                min_chars=lengths[0],
                median_chars=statistics.median(lengths),
                p95_chars=lengths[min(len(lengths) - 1, round(0.95 * (len(lengths) - 1)))],
                max_chars=lengths[-1],
            )
        )
    return result
