"""Matching text: the normalised form of a clause used for encoding and matching, never for display.

The sample plans write the same sentence in different ways: full- and half-width punctuation,
traditional characters machine-converted from simplified (Daqing), stray spaces from OCR and
scraping (`呼教发〔2 0 2 1〕`, `请认真学 习领会 ,`), and three quote styles (`“…"`, `『…』`, `"…"`).
`matching_text` folds all of these so that equal clauses get equal strings; it also drops
footnote references (`［1］`) that glossary-carrying reports put inside sentences.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Every quote style in the corpus folds to one ASCII double quote; single quotes to one ASCII quote.
_QUOTES = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "„": '"',
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "〝": '"',
        "〞": '"',
        "‘": "'",
        "’": "'",
        "‚": "'",
    }
)

_CJK = r"\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
# Spaces next to a CJK character or CJK punctuation carry no meaning in Chinese text.
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
# `2 0 2 1` and `1 0 ·`: OCR spaces between digits.
_SPACE_IN_NUMBER = re.compile(r"(?<=\d)\s+(?=\d)")
# Spaces before half-width punctuation that NFKC produced from full-width forms: `工作要点 ,`.
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[,.;:!?)\]])|(?<=[(\[])\s+")
# `3一5所`, `2020一2035`: the character 一 typed as a range dash between digits.
_DASH_BETWEEN_DIGITS = re.compile(r"(?<=\d)[一—–－~～](?=\d)")
_WHITESPACE = re.compile(r"\s+")
# A footnote reference inside a sentence (`“一降三减”［1］良好态势`) says nothing about the
# sentence; at the start of a text it is a glossary entry's number and stays.
_FOOTNOTE_REFERENCE = re.compile(r"(?<=\S)\[\d{1,3}\](?!\[)")
# Zero-width characters (a BOM left inside a pasted text, ZWSP from web pages) carry nothing.
_ZERO_WIDTH = re.compile("[\u200b-\u200d\u2060\ufeff]")


@functools.cache
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC t2s); simplified text passes through unchanged."""
    # OpenCC takes UTF-8: a lone surrogate (possible in a str, never in decoded files) becomes "?".
    if not text.isascii():
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    return _t2s().convert(text)


def matching_text(text: str) -> str:
    """The form of `text` used for encoding and matching: width, script, spacing and quotes folded."""
    folded = unicodedata.normalize("NFKC", _ZERO_WIDTH.sub("", text))
    folded = to_simplified(folded)
    folded = folded.translate(_QUOTES)
    folded = _WHITESPACE.sub(" ", folded).strip()
    folded = _SPACE_IN_NUMBER.sub("", folded)
    folded = _SPACE_NEAR_CJK.sub("", folded)
    folded = _SPACE_BEFORE_PUNCT.sub("", folded)
    folded = _DASH_BETWEEN_DIGITS.sub("-", folded)
    return _FOOTNOTE_REFERENCE.sub("", folded)


def char_width(ch: str) -> int:
    """Columns a terminal (or a monospaced cell) gives `ch`: 2 for wide and full-width (CJK) characters, 0 for
    combining marks and format characters (zero-width joiners, soft hyphens), else 1."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def display_width(text: str) -> int:
    """Columns `text` takes on a terminal: CJK characters count two (plain text: no escape sequences)."""
    return sum(char_width(ch) for ch in text)
