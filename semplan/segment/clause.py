"""The clause record: one sentence of a plan, with half-open spans into its decoded source.

Spans are also the one thing every output shows of a clause's position, so their two written
forms live here beside the record: `format_spans` (every span, `12-40+45-60`, for tools) and
`span_extent` (first start, last end, for people and for context around a clause).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from semplan.errors import InvalidArgument

# `heading`: a section, subsection or Markdown heading; `note`: a sentence of a glossary, notes or
# annex section; `table_row`: one row of a table, its cells joined by a separator from the source.
CLAUSE_KINDS = ("lead", "item_title", "sentence", "heading", "note", "table_row")

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
    subsection_number: int | None = None  # `（一）` under `一、`
    subsection_title: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CLAUSE_KINDS:
            raise InvalidArgument(f"clause kind {self.kind!r} is not one of {CLAUSE_KINDS}")
        if not self.spans:
            raise InvalidArgument("a clause needs at least one span")
        previous_end = 0
        for start, end in self.spans:
            if start < previous_end or end <= start:
                raise InvalidArgument(f"clause spans {self.spans} are not ordered, non-empty and disjoint")
            previous_end = end

    @property
    def clause_id(self) -> str:
        return f"{self.plan_id}#{self.n}"

    @property
    def path(self) -> str:
        """Human-readable location: `一、section › （二）subsection › 3. item`."""
        parts = []
        if self.section_number is not None or self.section_title:
            numeral = chinese_numeral(self.section_number) + "、" if self.section_number else ""
            parts.append(f"{numeral}{self.section_title or ''}")
        if self.subsection_number is not None or self.subsection_title:
            numeral = f"（{chinese_numeral(self.subsection_number)}）" if self.subsection_number else ""
            parts.append(f"{numeral}{self.subsection_title or ''}")
        if self.item_number is not None or self.item_title:
            number = f"{self.item_number}. " if self.item_number is not None else ""
            parts.append(f"{number}{self.item_title or ''}".strip())
        return " › ".join(parts)

    @property
    def extent(self) -> tuple[int, int]:
        """`(start of the first span, end of the last)`: where the clause sits in its source."""
        return span_extent(self.spans)

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
            "subsection_number": self.subsection_number,
            "subsection_title": self.subsection_title,
            "path": self.path,
            "spans": [list(span) for span in self.spans],
            "text": self.text,
            "match_text": self.match_text,
        }

    def source_text(self, source: str) -> str:
        """The clause's text read back from the source through its spans."""
        return "".join(source[start:end] for start, end in self.spans)


def span_extent(spans: Sequence[Sequence[int]]) -> tuple[int, int]:
    """First start and last end of ordered spans (a clause across a removed page marker has two)."""
    return spans[0][0], spans[-1][1]


def format_spans(spans: Sequence[Sequence[int]]) -> str:
    """Every span as `start-end`, joined by `+`: `12-40+45-60`."""
    return "+".join(f"{start}-{end}" for start, end in spans)


def chinese_numeral(number: int | None) -> str:
    if number is None or number < 1:
        return ""
    if number <= 10:
        return _CN_NUMERALS[number]
    tens, ones = divmod(number, 10)
    if number < 100:
        return ("" if tens == 1 else _CN_NUMERALS[tens]) + "十" + _CN_NUMERALS[ones]
    return str(number)
