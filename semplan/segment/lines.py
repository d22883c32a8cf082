"""The view: a source's kept lines, each character remembering its offset in the source.

Boilerplate lines (web and document-site chrome) and a document site's page markers are simply
absent from the view, so a clause cut from it maps back to one source span, or to two when it
runs across a removed page marker. The source itself is never edited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Sentence punctuation shared by the structure reader and the cutter.
TERMINALS = "。！？!?；;"
# A lead is cut at full stops only: its `;` separate the aims of one sentence, and the issue
# wants the (twice-scraped) lead of the 2019 plan to come out as one lead clause.
FULL_STOPS = "。！？!?"
CLOSERS = "”’」』）)\"'》〉】"
SENTENCE_END = TERMINALS + "：:"
SPACE = " \t\u00a0\u3000"

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

# A document site's page marker: `4、` or `4、、` at the start of a page chunk.
# Only the first 、 is the marker: in `政策公开\n\n4、、过程公开` the second one is the text's own.
_PAGE_MARKER = re.compile(r"[ \t\u3000\xa0]*(\d{1,3})、[ \t\u3000\xa0]*")


def is_boilerplate_line(line: str) -> bool:
    line = line.strip()
    if len(line) <= _BOILERPLATE_LINE_MAX and _BOILERPLATE_STRONG.search(line):
        return True
    return (len(line) <= _BOILERPLATE_WEAK_MAX and not any(mark in line for mark in "。！？!?；;")
            and bool(_BOILERPLATE_WEAK.search(line)))


def has_inline_boilerplate(text: str) -> bool:
    """Chrome glued into a clause's own text (the view keeps it when the line was long)."""
    return bool(_BOILERPLATE_INLINE.search(text))


@dataclass
class View:
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


def build_view(text: str) -> View:
    lines = [(s, e) for s, e in _lines(text) if not _is_blank(text[s:e])]
    lines = [(s, e) for s, e in lines if not is_boilerplate_line(text[s:e])]
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
    return View("".join(chars), origin)


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
        if doubled or (previous and previous[-1] not in SENTENCE_END + CLOSERS):
            cuts += 1
    return found if cuts * 2 >= len(found) - 1 and cuts >= 1 else {}


def view_paragraph(text: str, position: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return start, len(text) if end < 0 else end


def letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalnum())
