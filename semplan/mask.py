"""Names masked for matching: a plan's place names and placeholders become one neutral token.

Two clauses about special education, one from 清远市 and one from 大庆市, should match on what
they commit to, not part on where they are; and twelve clauses of one plan whose only common
ground is 清远市 should not make a priority. So the text semplan encodes and clusters has its
place names replaced by `MASK_TOKEN`; the text shown to people is never touched.

What counts as a name (docs/clustering-design.md has what each rule catches and misses):

- the committed gazetteer (semplan/data/gazetteer-zh.txt): every province, prefecture and
  county of the statistical division codes by full name (清远市, 新巴尔虎右旗), matched anywhere;
  the bare names of provinces and prefectures (清远, 广东) and two-character full names (沛县),
  matched only where jieba cuts them as a word, since as substrings they hide inside ordinary
  words (确保定期 holds 保定, 振兴县域 holds 兴县);
- the plan's own place names: jieba's place-name tag (`ns`) on a word with an administrative
  suffix (江岸区, 某某旗), and its bare name, so a district the gazetteer lacks is caught in the
  plan that names it;
- names the caller knows from the plan's metadata (its region, its issuing body);
- anonymisation placeholders (XX县, ××): a name all the same.

Pure functions over text; no I/O beyond reading the bundled gazetteer once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

GAZETTEER_PATH = Path(__file__).resolve().parent / "data" / "gazetteer-zh.txt"
# The neutral token names become: "somewhere" in the plans' own idiom (某地, like 某校, 某县), so
# a masked clause still reads as a sentence to the encoder.
MASK_TOKEN = "某地"

# A place name's administrative suffix, longest first.
_SUFFIXES = ("特别行政区", "自治区", "自治州", "自治县", "自治旗", "地区", "新区", "省", "市", "县", "区", "旗", "盟", "州", "镇", "乡")
# A word with a suffix is not a name when it starts like one of these: 全市, 各县区, 本区, 城市.
_GENERIC_HEADS = tuple("全本各该我外城县市省区地一两三每多")
_GENERIC_WORDS = frozenset({"县区", "市区", "城区", "郊区", "辖区", "山区", "地区", "新区", "中心区", "中心镇"})
# Kinds of place, not places: 文明城市, 产业园区, 百强县, 涉藏州县.
_GENERIC_ENDINGS = ("城市", "社区", "园区", "校区", "片区", "景区", "名县", "强县", "大县", "州县", "市县", "区县")
# XX县, ××市, 某某区: an anonymised name, with its suffix (not the 区 of 区域).
# A name's suffix that is the first character of an ordinary word: 中南部县城 holds no 南部县.
_SUFFIX_WORDS = frozenset({"县城", "县域", "县级", "区域", "区级", "市场", "市民", "市级", "市区", "市县", "市直", "省级", "省内", "省外", "州市"})
# Not a number written as XX: 20XX年, 不少于XXX名, XX所 stay as they are (masked, 不少于XXX名 became
# 不少于某地名, a place where a head count was).
_PLACEHOLDER = re.compile(
    r"(?<![A-Za-z0-9])(?:[Xx×]{2,}|某某)(?![A-Za-z0-9%％年月日名所个人次万亿元项期届])"
    r"(?:[省市县旗盟镇乡]|区(?![域间别分]))?"
)


@dataclass(frozen=True)
class Gazetteer:
    names: frozenset[str]  # matched anywhere in the text (3 characters or more)
    words: frozenset[str]  # matched only as a whole jieba word (bare names, 2-character names)
    longest: int


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The bundled gazetteer: full names (matched anywhere) and word-only names."""
    names: set[str] = set()
    words: set[str] = set()
    section = None
    for line in GAZETTEER_PATH.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[names]" and len(line) >= 3:
            names.add(line)
        else:
            words.add(line)
    return Gazetteer(frozenset(names), frozenset(words), max(map(len, names | words), default=0))


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    # Load the dictionary now: jieba loads it on the first cut and then replaces its frequency
    # table, so a caller that read `jieba.dt.FREQ` before that first cut held an empty table.
    jieba.initialize()
    return jieba


@lru_cache(maxsize=1)
def _posseg() -> Any:
    _jieba()
    import jieba.posseg

    return jieba.posseg


def _bare(name: str) -> str | None:
    """清远市 → 清远, 江岸区 → 江岸; None when what is left is under two characters."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


def _looks_like_place(word: str) -> bool:
    return (
        len(word) >= 3
        and word.endswith(_SUFFIXES)
        and word not in _GENERIC_WORDS
        and not word.endswith(_GENERIC_ENDINGS)
        and not word.startswith(_GENERIC_HEADS)
    )


def _is_name_word(word: str) -> bool:
    """Whether jieba's dictionary leaves `word` free to be a name: tagged as a place or person
    name, or not a dictionary word at all (中心 is a noun, 北方 a direction: 中心区 and 北方地区
    are not places)."""
    posseg = _posseg()
    tag = posseg.dt.word_tag_tab.get(word)
    if tag is None or not _jieba().dt.FREQ.get(word):
        return True
    return tag in ("ns", "nr", "nrt", "nz")


def plan_names(texts: Iterable[str], extra: Iterable[str] = ()) -> frozenset[str]:
    """The names one plan adds to the gazetteer: its own place names (dictionary words jieba tags
    `ns` with an administrative suffix, whose bare name is not an ordinary word, and that bare
    name) and `extra` (from the plan's metadata: its region, its issuing body)."""
    found: set[str] = {name.strip() for name in extra if name and len(name.strip()) >= 2}
    posseg = _posseg()
    frequencies = _jieba().dt.FREQ
    for text in texts:
        for token in posseg.lcut(text):
            word = token.word
            # Words jieba's HMM made up (海冰区, 涉藏州县) are not in its dictionary: left out.
            if token.flag != "ns" or not frequencies.get(word) or not _looks_like_place(word):
                continue
            bare = _bare(word)
            if bare is None or _is_name_word(bare):
                found.add(word)
                if bare is not None and not bare.startswith(_GENERIC_HEADS):
                    found.add(bare)
    return frozenset(found)


def mask_names(text: str, names: Iterable[str] = (), *, token: str = MASK_TOKEN) -> str:
    """`text` with every place name replaced by `token` (see the module docstring for what
    counts as one); `names` are the plan's own (from `plan_names`)."""
    own = frozenset(names)
    gaz = gazetteer()
    anywhere = gaz.names | {name for name in own if len(name) >= 3}
    as_word = gaz.words | gaz.names | own
    longest = max([gaz.longest, *map(len, own)])
    text = _PLACEHOLDER.sub("\0", text)
    pieces: list[str] = []
    start = i = 0
    while i < len(text):
        for length in range(min(longest, len(text) - i), 2, -1):
            if text[i : i + length] in anywhere and text[i + length - 1 : i + length + 1] not in _SUFFIX_WORDS:
                pieces.append(text[start:i])
                pieces.append("\0")
                i = start = i + length
                break
        else:
            i += 1
    pieces.append(text[start:])
    masked = []
    for piece in pieces:
        if piece == "\0" or not any(word in piece for word in _candidates(piece, as_word)):
            masked.append(piece)
            continue
        masked.extend("\0" if word in as_word else word for word in _jieba().lcut(piece))
    # A place written as two names in a row (清远市清城区) is one token.
    return re.sub("\0+", lambda _: token, "".join(masked))


def _candidates(piece: str, as_word: frozenset[str]) -> list[str]:
    """Word-only names that occur in `piece` as substrings (cheap test before cutting it)."""
    return [piece[i : i + n] for n in range(2, 8) for i in range(len(piece) - n + 1) if piece[i : i + n] in as_word]


def mask_plan(texts: Sequence[str], extra: Iterable[str] = (), *, token: str = MASK_TOKEN) -> list[str]:
    """Each of one plan's texts masked with the gazetteer and the plan's own names."""
    names = plan_names(texts, extra)
    return [mask_names(text, names, token=token) for text in texts]
