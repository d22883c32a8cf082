"""Labelled TSV files in (sentence pairs, labelled texts), aligned text tables out.

Both formats are plain `<TAB>`-separated lines with no header, so a file can be written by hand
or cut from a spreadsheet; blank lines and `#` comments are skipped, and every error names the
file and line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from semplan.errors import EvalError

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")


@dataclass(frozen=True)
class SentencePair:
    sentence1: str
    sentence2: str
    score: float
    line: int  # 1-based line in the source file, for error messages


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: str
    line: int


def _tsv_rows(path: str | Path, n_fields: int, layout: str) -> Iterable[tuple[int, list[str]]]:
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EvalError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EvalError(f"{path}: is a directory, expected a {layout} file") from None
    except UnicodeDecodeError as error:
        raise EvalError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise EvalError(f"{path}: cannot read ({error.strerror or error})") from None
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != n_fields:
            raise EvalError(
                f"{path}:{number}: expected {n_fields} tab-separated fields ({layout}), got {len(fields)}"
            )
        fields = [value.strip() for value in fields]
        if not all(fields):
            raise EvalError(f"{path}:{number}: empty field ({layout})")
        yield number, fields


def read_sentence_pairs(path: str | Path) -> list[SentencePair]:
    """`sentence1<TAB>sentence2<TAB>score` lines, no header; blank lines and `#` comments are skipped."""
    pairs = []
    for number, (first, second, score_text) in _tsv_rows(path, 3, "sentence1<TAB>sentence2<TAB>score"):
        try:
            score = float(score_text)
        except ValueError:
            raise EvalError(f"{path}:{number}: score {score_text!r} is not a number") from None
        if not math.isfinite(score):
            raise EvalError(f"{path}:{number}: score {score_text!r} is not a finite number")
        pairs.append(SentencePair(first, second, score, number))
    if not pairs:
        raise EvalError(f"{path}: no sentence pairs")
    return pairs


def read_labelled_texts(path: str | Path) -> list[LabelledText]:
    """`text<TAB>label` lines, no header; blank lines and `#` comments are skipped."""
    texts = [
        LabelledText(text, label, number) for number, (text, label) in _tsv_rows(path, 2, "text<TAB>label")
    ]
    if not texts:
        raise EvalError(f"{path}: no labelled texts")
    return texts


def text_language(text: str) -> str:
    """Language of a text: "zh" when it has more CJK ideographs than Latin-script words, else "en".

    Words, not letters, on the Latin side: one ideograph carries about as much as one English word,
    so "落实双减 (double reduction)" is Chinese with a gloss, not English.
    """
    ideographs = len(_CJK.findall(text))
    latin_words = len(_LATIN_WORD.findall(text))
    return "zh" if ideographs > latin_words else "en"


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as left-aligned columns two spaces apart, the first row being the header."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )
