"""Web and document-site chrome: found by a line's shape, its neighbours and repetition across plans.

A list of phrases (设为首页, 浏览次数 …) finds the chrome someone has seen before; the shape of a
line finds the rest. Chrome lines carry no sentence punctuation and consist of a few kinds of
token: dates and times, counters (`999+`, 阅读量), file sizes and page counts, the verbs of a
viewer (下载, 打印, 收藏, 分享 …), a document site's words (VIP, 专免, 侵权投诉), separators
(`|`, `>>`, `×`), hex ids. A line made of such tokens, or a run of short menu lines, or a photo
caption ending in its credit, or anything after a footer anchor (责任编辑, 打印本页, a licence box)
at the end of a page, is chrome. Across the plans of one index, a short unpunctuated line that
recurs in several of them is boilerplate too (as passim and TextPAIR treat repeated passages)
when it stands in a plan's header or footer or in a menu run, and is not structure (a numbered
heading, a subheadline) or a piece of a sentence.

Chrome is never found by dropping a sentence that mentions a chrome phrase: inside prose only the
chrome itself is cut out of the line.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

from semplan.segment._chars import (
    CONTINUATION_START,
    TERMINALS,
    SourceLine,
    closed,
    letters,
    prose,
    starts_unit,
)

# Strong phrases never occur in a plan's prose: a line up to STRONG_LINE_MAX characters holding one
# is chrome (a longer line, or one of several sentences, is prose that quotes it). Counter labels
# (浏览次数, 发布时间) can be prose (`网站浏览次数达到100万`): they make chrome only of a line
# without a full stop.
_STRONG = re.compile(
    r"设为首页|加入收藏|扫一扫在手机|在手机上?打开当前页|上传人[:：]|上传时间[:：]|"
    r"文档编号[:：]|第\s*\d+\s*页\s*/\s*共\s*\d+\s*页|_第\d+页$|点击查看更多|展开阅读全文|ICP备|公网安备|"
    r"经营许可证|由会员分享|^返回\s*下载|^资源描述$|^相关资源$|^猜你喜欢$|^相关搜索$|\.(docx?|pdf|wps)$"
)
_COUNTER_LABELS = re.compile(r"浏览次数|访问量[:：]|发布时间[:：]|备案号")
# Weak phrases are words a sentence can use (分享经验, 联系我们的学校): only a short line without
# sentence punctuation holding one is chrome.
_WEAK = re.compile(
    r"联系我们|当前位置|欢迎访问|^今天是|^分享(到)?[:：]?|^[（(]?来源[:：]|点击(数|量|率)|打印本页|关闭窗口|"
    r"^【?字体[:：]|文字大小|^责任编辑|^编辑[:：]"
)
STRONG_LINE_MAX = 160
WEAK_LINE_MAX = 40
# Chrome phrases cut out of prose lines. `_GLUED` ones are cut wherever they stand; `_BORDERED`
# ones only when they stand apart (line edge, space, `|`, punctuation), since 浏览次数 can be prose.
_GLUED = re.compile(r"设为首页|加入收藏|扫一扫在手机上?打开当前页|点击查看更多>*|展开阅读全文|第\s*\d+\s*页\s*/\s*共\s*\d+\s*页")
_BORDERED = re.compile(r"(?:浏览次数|访问量|上传人|文档编号|备案号|发布时间)[:：]?\s*[\d\-:\s]*")
_BORDER = " \t\u3000\xa0|｜>》】」』)）" + TERMINALS + "：:，,"

# Tokens chrome lines are made of. "strong" tokens hardly occur in a plan's headings.
_TOKENS = re.compile(
    r"(?P<date>(?:19|20)\d{2}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?)"
    r"|(?P<time>\d{1,2}\s*[:：时]\s*\d{2}(?:\s*[:：分]\s*\d{2}\s*秒?|分)?)"
    r"|(?P<counter>\d{2,}\+|(?:阅读|浏览|点击|访问|评论|点赞)(?:量|数|次数|人次)[:：]?\s*\d*)"
    r"|(?P<size>\d+(?:\.\d+)?\s*(?:[KMG]i?B\b|字节)|\d+\s*页(?![面岩]))"
    r"|(?P<site>VIP|vip|专免|会员|积分|下载券|侵权|投诉|举报|海报|二维码|扫一扫|上一篇|下一篇|纠错|责任编辑|"
    r"当前位置|发布时间|发表时间|进入专题|阅读全文|Public domain|\bfalse\b|\btrue\b)"
    r"|(?P<hex>\b[0-9a-f]{16,}\b)"
    r"|(?P<symbols>[|｜×»«]+|》》|《《|>+)"
    r"|(?P<word>下载|打印|收藏|分享到?|全屏|关闭(?:窗口)?|返回(?:顶部|首页|列表)?|点击|首页|来源|作者|编辑|时间|日期|"
    r"字号|字体|还原|加大|减小|相关(?:文档|阅读|链接|附件|报道|新闻|推荐)|【|】)"
)
_STRONG_TOKENS = ("date", "time", "counter", "size", "site", "hex", "symbols")
MAX_SHAPE_LINE = 80
# A photo caption: a line ending in the photographer's credit (`本报记者 戴冰摄`).
_CREDIT = re.compile(
    r"(?:记者|摄影师?|通讯员|供图)[\s\u3000]*(?:[\u4e00-\u9fff·][\s\u3000]*){1,8}摄[）)]?$|摄影[:：]\S{1,12}$|^图[为：:]"
)
MAX_CAPTION = 150
# A menu is a run of at least this many short lines (or chrome lines) with no blank line between.
MIN_MENU_RUN = 3
MAX_MENU_LETTERS = 8
# Where the footer of a page begins.
_FOOTER_ANCHOR = re.compile(
    r"^[【\[]?(?:(?:责任编辑|编辑|审核|校对)[:：]|扫一扫|打印本页|关闭窗口|相关(?:链接|附件|报道|阅读|文档|新闻|推荐)|"
    r"[（(]?来源[:：]|本作品|Public domain|版权所有|Copyright|打印|分享到)"
)
# The footer is the lines after the last long one (a paragraph of the plan).
MAX_FOOTER_LETTERS = 80
# A line recurring across plans is boilerplate when it is short and unpunctuated.
MAX_REPEATED_LETTERS = 40


def line_reason(text: str) -> str | None:
    """Why a line on its own is chrome, or None."""
    length = len(text)
    punctuated = any(mark in text for mark in TERMINALS)
    sentences = sum(text.count(mark) for mark in "。！？!?")
    if length <= STRONG_LINE_MAX and sentences <= 1 and _STRONG.search(text):
        return "chrome phrase"
    if length <= STRONG_LINE_MAX and sentences == 0 and _COUNTER_LABELS.search(text):
        return "chrome phrase"
    if length <= WEAK_LINE_MAX and not punctuated and _WEAK.search(text):
        return "chrome phrase"
    if length <= MAX_CAPTION and _CREDIT.search(text):
        return "photo caption"
    if punctuated or length > MAX_SHAPE_LINE or starts_unit(text):
        return None
    kinds = [match.lastgroup for match in _TOKENS.finditer(text)]
    if not kinds:
        return None
    remainder = letters(_TOKENS.sub("", text))
    if remainder <= 2:
        return "chrome tokens"
    if remainder <= 20 and len(kinds) >= 2 and any(kind in _STRONG_TOKENS for kind in kinds):
        return "chrome tokens"
    return None


def inline_cuts(line: SourceLine) -> list[tuple[int, int]]:
    """Chrome phrases inside a prose line, as source ranges to cut (the prose around them stays)."""
    cuts = []
    text = line.text
    for match in _GLUED.finditer(text):
        cuts.append(_widen(text, match.start(), match.end()))
    for match in _BORDERED.finditer(text):
        before = text[match.start() - 1] if match.start() else " "
        after = text[match.end()] if match.end() < len(text) else " "
        if before in _BORDER and (after in _BORDER or match.end() == len(text)):
            cuts.append(_widen(text, match.start(), match.end()))
    return [(line.start + start, line.start + end) for start, end in cuts]


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """Take the separators around a cut chrome phrase with it (`设为首页|`)."""
    while end < len(text) and text[end] in "|｜ \t\u3000":
        end += 1
    while start > 0 and text[start - 1] in "|｜ \t\u3000":
        start -= 1
    return start, end


def is_fragment(previous: SourceLine | None, line: SourceLine) -> bool:
    """A short line that continues an open prose line: a link or subscript cut out by markup."""
    if previous is None or line.blanks_before:
        return False
    return (prose(previous.text) and not closed(previous.text)
            and (letters(line.text) <= MAX_MENU_LETTERS or line.text[0] in CONTINUATION_START))


def mark_chrome(lines: list[SourceLine], repeated: RepeatedLines | None = None) -> None:
    """Set `role = "chrome"` on chrome lines: by shape, menu runs, the footer and repetition."""
    text_lines = [line for line in lines if line.role == "text"]
    recurring: set[int] = set()
    previous = None
    for line in text_lines:
        reason = line_reason(line.text)
        if reason:
            line.role, line.reason = "chrome", reason
        elif (repeated is not None and line.text in repeated and not starts_unit(line.text)
              and not is_fragment(previous, line)):
            # A link word cut out of a sentence (`双向\n揭榜\n挂帅`) recurs too, but stays.
            recurring.add(line.number)
        previous = line
    # Recurring lines before the first paragraph or after the last are the site's or edition's
    # header and footer. In the body a recurring short line may be a list item two plans share
    # (what semplan is looking for): it goes only as part of a menu run.
    long_lines = [index for index, line in enumerate(text_lines) if letters(line.text) > MAX_REPEATED_LETTERS]
    first, last = (long_lines[0], long_lines[-1]) if long_lines else (len(text_lines), -1)
    for index, line in enumerate(text_lines):
        if line.number in recurring and not first <= index <= last:
            line.role, line.reason = "chrome", "repeated across plans"
    _mark_menu_runs(text_lines)
    _mark_footer(text_lines)
    _keep_repeated_subheadlines(text_lines)


def _mark_menu_runs(lines: list[SourceLine]) -> None:
    """A run of short lines holding chrome is a menu."""
    run: list[SourceLine] = []

    def close() -> None:
        if len(run) >= MIN_MENU_RUN and any(line.role == "chrome" for line in run):
            for line in run:
                if line.role == "text":
                    line.role, line.reason = "chrome", "menu run"
        run.clear()

    previous = None
    for line in lines:
        short = (line.role == "text" and letters(line.text) <= MAX_MENU_LETTERS and not is_fragment(previous, line)
                 and not any(mark in line.text for mark in TERMINALS) and not starts_unit(line.text))
        if line.blanks_before or not (short or line.role == "chrome"):
            close()
        if short or line.role == "chrome":
            run.append(line)
        previous = line
    close()


def _mark_footer(lines: list[SourceLine]) -> None:
    first = len(lines)
    while first > 0 and (lines[first - 1].role == "chrome" or letters(lines[first - 1].text) <= MAX_FOOTER_LETTERS):
        first -= 1
    for index in range(first, len(lines)):
        if _FOOTER_ANCHOR.search(lines[index].text):
            for line in lines[index:]:
                if line.role == "text":
                    line.role, line.reason = "chrome", "page footer"
            return


def _keep_repeated_subheadlines(lines: list[SourceLine]) -> None:
    """A repeated short line followed by a long paragraph is a subheadline two plans share."""
    for line, following in zip(lines, lines[1:], strict=False):
        if line.reason == "repeated across plans" and following.role == "text" and not closed(line.text):
            if letters(following.text) > max(40, 2 * letters(line.text)):
                line.role, line.reason = "text", ""


def line_key(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


class RepeatedLines:
    """Short unpunctuated lines that recur in at least `min_plans` of a set of plans.

    Build it over every plan of one index run (`RepeatedLines.from_texts(texts)`) and pass it to
    `segment`: such a line is boilerplate of the site or edition the plans came from.
    """

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self.keys = frozenset(keys)

    @classmethod
    def from_texts(cls, texts: Iterable[str], min_plans: int = 2) -> RepeatedLines:
        return cls.from_line_keys((cls.line_keys(text) for text in texts), min_plans)

    @staticmethod
    def line_keys(text: str) -> set[str]:
        """The keys of one plan's lines that could be repeated chrome (short, unpunctuated)."""
        keys = set()
        for raw in text.splitlines():
            line = raw.strip()
            if line and letters(line) <= MAX_REPEATED_LETTERS and not any(m in line for m in TERMINALS):
                keys.add(line_key(line))
        return keys

    @classmethod
    def from_line_keys(cls, key_sets: Iterable[Iterable[str]], min_plans: int = 2) -> RepeatedLines:
        """From each plan's `line_keys`, computed where the plans were read (on other machines)."""
        counts: Counter[str] = Counter()
        for keys in key_sets:
            counts.update(set(keys))
        return cls(key for key, count in counts.items() if count >= min_plans and key)

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and line_key(text) in self.keys

    def __len__(self) -> int:
        return len(self.keys)
