"""Why two clauses match: the words and numbers they share, located in both texts for highlighting.

Both texts are folded character by character (NFKC width, traditional → simplified), so offsets
stay offsets into the texts as shown. Shared are: jieba words of two or more characters that are
not stop words (semplan/data/stopwords-zh.txt: 加强, 推进, 工作 … say nothing about a match) nor
place names (a shared place is no evidence of a shared commitment); numbers (80%, 2025); and,
for names jieba cuts apart (安吉游戏 → 安吉 / 游戏), common runs of three or more characters.
A pair that scores as `same` but shares no content word is a paraphrase (职教20条 /
国家职业教育改革实施方案): the model's judgement alone, worth a reader's second look.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from semplan.mask import MASK_TOKEN, mask_names
from semplan.normalize import to_simplified

STOP_WORDS_PATH = Path(__file__).resolve().parent / "data" / "stopwords-zh.txt"
_NUMBER = re.compile(r"\d+(?:\.\d+)?%?")
_CONTENT = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
MIN_COMMON_RUN = 3


@dataclass(frozen=True)
class SharedTerms:
    """Terms two texts share (folded forms) and where they are in each text (half-open, merged)."""

    terms: tuple[str, ...]
    spans_a: tuple[tuple[int, int], ...]
    spans_b: tuple[tuple[int, int], ...]

    @property
    def content_terms(self) -> tuple[str, ...]:
        """The shared terms that are words, not bare numbers."""
        return tuple(term for term in self.terms if _CONTENT.search(term))

    def to_dict(self) -> dict[str, Any]:
        return {"shared_terms": list(self.terms)}


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    lines = STOP_WORDS_PATH.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.Tokenizer()


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """`text` with each character width-folded and simplified; the same length as `text`."""
    folded = []
    for ch in text:
        one = unicodedata.normalize("NFKC", ch)
        one = to_simplified(one) if not one.isascii() else one
        folded.append(one if len(one) == 1 else ch)
    return "".join(folded)


def _is_place(term: str) -> bool:
    return MASK_TOKEN in mask_names(term)


@lru_cache(maxsize=4096)
def _tokens(folded: str) -> tuple[tuple[str, int, int], ...]:
    """jieba's (word, start, end) for `folded`, once per text: words and word boundaries both read it."""
    return tuple(_tokenizer().tokenize(folded))


@lru_cache(maxsize=4096)
def _words(folded: str) -> frozenset[str]:
    stops = _stop_words()
    return frozenset(
        word for word, _, _ in _tokens(folded)
        if len(word) >= 2 and _CONTENT.search(word) and word not in stops
    )


def _common_runs(a: str, b: str) -> set[str]:
    """Maximal common runs of CJK characters, MIN_COMMON_RUN or longer."""
    runs: set[str] = set()
    for run_a in _CJK_RUN.findall(a):
        for run_b in _CJK_RUN.findall(b):
            # longest-common-substring table, keeping every maximal run
            previous = [0] * (len(run_b) + 1)
            for i in range(1, len(run_a) + 1):
                current = [0] * (len(run_b) + 1)
                for j in range(1, len(run_b) + 1):
                    if run_a[i - 1] == run_b[j - 1]:
                        current[j] = previous[j - 1] + 1
                for j in range(1, len(run_b) + 1):
                    length = current[j]
                    if length >= MIN_COMMON_RUN and (j == len(run_b) or i == len(run_a) or run_a[i] != run_b[j]):
                        runs.add(run_a[i - length : i])
                previous = current
    return runs


@lru_cache(maxsize=4096)
def _word_boundaries(folded: str) -> frozenset[int]:
    return frozenset(offset for _, start, end in _tokens(folded) for offset in (start, end))


def _trimmed_to_words(run: str, a: str, b: str) -> str:
    """`run` without the edge characters that are inside a longer word in both texts: 扩大普惠性
    and 加大普惠性 share 大普惠性, but what they share as words is 普惠性. (An edge that is a word
    boundary in one text stays: jieba cuts the same phrase differently in different contexts.)"""
    start_a, start_b = a.find(run), b.find(run)
    bounds_a, bounds_b = _word_boundaries(a), _word_boundaries(b)
    start, end = 0, len(run)
    while start < end and not (start_a + start in bounds_a or start_b + start in bounds_b):
        start += 1
    while end > start and not (start_a + end in bounds_a or start_b + end in bounds_b):
        end -= 1
    return run[start:end] if end - start >= MIN_COMMON_RUN else ""


def shared_terms(text_a: str, text_b: str) -> SharedTerms:
    """What `text_a` and `text_b` share (see the module docstring)."""
    a, b = fold(text_a), fold(text_b)
    terms = set(_words(a) & _words(b))
    terms |= set(_NUMBER.findall(a)) & set(_NUMBER.findall(b))
    stops = _stop_words()
    for run in filter(None, (_trimmed_to_words(run, a, b) for run in _common_runs(a, b))):
        # a run made of stop words and words already found adds nothing
        if not any(run in term for term in terms) and any(
            word not in stops and len(word) >= 2 for word, _, _ in _tokenizer().tokenize(run)
        ):
            terms.add(run)
    terms = {term for term in terms if not _is_place(term)}
    terms = {term for term in terms if not any(term != longer and term in longer for longer in terms)}
    ordered = tuple(sorted(terms, key=lambda term: (a.find(term), -len(term))))
    return SharedTerms(ordered, _locate(a, ordered), _locate(b, ordered))


def _locate(folded: str, terms: Sequence[str]) -> tuple[tuple[int, int], ...]:
    spans = []
    for term in terms:
        start = folded.find(term)
        while start >= 0:
            spans.append((start, start + len(term)))
            start = folded.find(term, start + len(term))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((start, end) for start, end in merged)


def highlight(text: str, spans: Sequence[tuple[int, int]], mark) -> str:
    """`text` with each span passed through `mark` (bold for a terminal, <mark> for HTML) and the
    rest through nothing; callers escape for their medium inside `mark` and `plain`."""
    return highlight_with(text, spans, mark, lambda piece: piece)


def highlight_with(text: str, spans: Sequence[tuple[int, int]], mark, plain) -> str:
    out, position = [], 0
    for start, end in spans:
        out.append(plain(text[position:start]))
        out.append(mark(text[start:end]))
        position = end
    out.append(plain(text[position:]))
    return "".join(out)
