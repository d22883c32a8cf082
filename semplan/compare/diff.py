"""A word-level diff of two clauses, with changed figures called out (`2000个 → 3000个`, `50% → 55%`).

Words are jieba's, except that a figure with its unit (`2000个`, `96.5%`, `3-5所`, `一百周年`) is one
word, so a changed number shows as one replaced word and not as a digit-by-digit edit. Words are
compared by a folded form (width and spacing) so that a full-width comma or an OCR space is no
change; the pieces shown are the clauses' own text.
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

OPS = ("equal", "delete", "insert", "replace")
_UNITS = "个所人元项家名支次座条套台辆间户张本篇门件倍岁周年月日天万亿千百"
_CN_DIGITS = "零〇一二两三四五六七八九十百千万亿"
FIGURE = re.compile(
    # 一 between digits is a range dash in scraped plans (3一5所).
    rf"\d+(?:[.,]\d+)*(?:\s*[-~～—一至到]\s*\d+(?:\.\d+)?)?\s*(?:%|‰|个百分点|[{_UNITS}]{{1,2}})?"
    rf"|[{_CN_DIGITS}]+(?:个百分点|[{_UNITS}]{{1,2}})"
)


@dataclass(frozen=True)
class DiffPiece:
    """One run of the diff: `equal` (a == b), `delete` (only in a), `insert` (only in b), `replace`."""

    op: str
    a: str
    b: str

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class FigureChange:
    """A figure of clause a and what stands in its place in clause b (either may be None)."""

    a: str | None
    b: str | None

    def __str__(self) -> str:
        return f"{self.a or '—'} → {self.b or '—'}"

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b}


@cache
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def words(text: str) -> list[str]:
    """jieba's words of `text`, each figure with its unit kept as one word; they join back to `text`."""
    pieces: list[str] = []
    position = 0
    for figure in FIGURE.finditer(text):
        if figure.start() > position:
            pieces.extend(_jieba().lcut(text[position : figure.start()], HMM=False))
        pieces.append(figure.group(0))
        position = figure.end()
    if position < len(text):
        pieces.extend(_jieba().lcut(text[position:], HMM=False))
    # Spaces go with the word before them: an OCR space (`抓起 , 推进`) is then no word of its own to diff.
    merged: list[str] = []
    for piece in pieces:
        if merged and not piece.strip():
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def _fold(word: str) -> str:
    return "".join(unicodedata.normalize("NFKC", word).split())


def is_figure(word: str) -> bool:
    return FIGURE.fullmatch(word.strip()) is not None


def word_diff(a: str, b: str) -> tuple[DiffPiece, ...]:
    """The runs that turn `a` into `b`, in order; `"".join(p.a …) == a` and `"".join(p.b …) == b`."""
    a_words, b_words = words(a), words(b)
    matcher = difflib.SequenceMatcher(None, [_fold(w) for w in a_words], [_fold(w) for w in b_words], autojunk=False)
    pieces = []
    for op, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        a_text, b_text = "".join(a_words[a_start:a_end]), "".join(b_words[b_start:b_end])
        if op == "equal" and a_text != b_text:
            pieces.append(DiffPiece("equal", a_text, b_text))
        elif a_text or b_text:
            pieces.append(DiffPiece(op, a_text, b_text))
    return tuple(pieces)


def figure_changes(pieces: tuple[DiffPiece, ...]) -> tuple[FigureChange, ...]:
    """The figures the diff changes: within each changed run, a's figures paired in order with b's."""
    changes = []
    for piece in pieces:
        if piece.op == "equal":
            continue
        a_figures = [match.group(0).strip() for match in FIGURE.finditer(piece.a)]
        b_figures = [match.group(0).strip() for match in FIGURE.finditer(piece.b)]
        for index in range(max(len(a_figures), len(b_figures))):
            a_figure = a_figures[index] if index < len(a_figures) else None
            b_figure = b_figures[index] if index < len(b_figures) else None
            if a_figure != b_figure:
                changes.append(FigureChange(a_figure, b_figure))
    return tuple(changes)


def inline_diff(pieces: tuple[DiffPiece, ...]) -> str:
    """The diff as one line of text, wdiff style: `[-removed-]{+inserted+}`."""
    parts = []
    for piece in pieces:
        if piece.op == "equal":
            parts.append(piece.b)
            continue
        if piece.a:
            parts.append(f"[-{piece.a}-]")
        if piece.b:
            parts.append(f"{{+{piece.b}+}}")
    return "".join(parts)
