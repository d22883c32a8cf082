"""Cutting the view into pieces: the lead's sentences, each item's title and its sentences.

A piece is a range of the view with its place in the structure; `semplan.segment.segment` turns
each into a `Clause` through the view's offsets. A fragment shorter than MIN_CLAUSE_CHARS
means nothing alone (a tail such as `等。`), so it merges into a neighbour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from semplan.segment.lines import CLOSERS, FULL_STOPS, TERMINALS, View, letters, view_paragraph
from semplan.segment.structure import Structure

# Clauses shorter than this (in letters, digits and CJK characters) merge into a neighbour.
MIN_CLAUSE_CHARS = 8
# A first sentence up to this long is an item's title.
MAX_TITLE_CHARS = 40
# An unpunctuated first sentence longer than this is checked for a title fused to its body.
FUSED_TITLE_MIN = 24

# Verbs that open the body of an item whose title was fused to it without punctuation:
# `持之以恒加强党的建设出台基层党组织…`.
_BODY_VERBS = re.compile(
    r"出台|坚持|推动|推进|加强|加快|加大|落实|深入|深化|持续|严格|建立|健全|完善|实施|开展|提高|提升|强化|"
    r"着力|围绕|切实|进一步|认真|贯彻|扎实|不断|全面"
)
_PUNCTUATION = re.compile(r"[,，、:：;；“”\"『』「」《》()（）\[\]]")


@dataclass
class Piece:
    kind: str
    start: int
    end: int
    section_number: int | None
    section_title: str | None
    item_number: int | None
    item_title: str | None


def cut(view: View, structure: Structure) -> list[Piece]:
    text = view.text
    pieces: list[Piece] = []
    events = structure.events
    first_event = events[0].start if events else len(text)
    body_start = structure.body_start
    if structure.lead:
        lead_start, body_start = structure.lead
        pieces += _sentences(text, lead_start, body_start, "lead", None, None, None, None, terminals=FULL_STOPS)
    pieces += _sentences(text, body_start, first_event, "sentence", None, None, None, None)

    section_number: int | None = None
    section_title: str | None = None
    for index, event in enumerate(events):
        end = events[index + 1].start if index + 1 < len(events) else len(text)
        if event.kind == "section":
            section_number = event.number
            heading_end = min(end, view_paragraph(text, event.content)[1])
            for position in range(event.content, heading_end):
                if text[position] in TERMINALS:
                    heading_end = position + 1
                    break
            section_title = _strip(text[event.content:heading_end]).rstrip(":：,，;；。") or None
            pieces += _sentences(text, heading_end, end, "sentence", section_number, section_title, None, None)
        elif event.kind == "subheadline":
            title_end = view_paragraph(text, event.start)[1]
            title = _strip(text[event.start:title_end])
            pieces.append(Piece("item_title", event.start, title_end, section_number, section_title, None, title))
            pieces += _sentences(text, title_end, end, "sentence", section_number, section_title, None, title)
        else:
            title_end = _title_end(text, event.content, end)
            title = _strip(text[event.content:title_end]).rstrip("。！？!?；;") if title_end else None
            body_start = event.content
            if title_end:
                pieces.append(
                    Piece("item_title", event.content, title_end, section_number, section_title, event.number, title)
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
        if text[position] in TERMINALS:
            sentence_end = position + 1
            break
    first = text[start:sentence_end].strip().rstrip(TERMINALS)
    length = letters(first)
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
               terminals: str = TERMINALS) -> list[Piece]:
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
            while position + 1 < end and text[position + 1] in CLOSERS + terminals:
                position += 1
            bounds.append([piece_start, position + 1])
            piece_start = position + 1
        position += 1
    bounds.append([piece_start, end])
    bounds = [b for b in bounds if letters(text[b[0]:b[1]]) > 0]

    merged: list[list[int]] = []
    for bound in bounds:
        short = letters(text[bound[0]:bound[1]]) < MIN_CLAUSE_CHARS
        if merged and (short or letters(text[merged[-1][0]:merged[-1][1]]) < MIN_CLAUSE_CHARS):
            merged[-1][1] = bound[1]
        else:
            merged.append(bound)
    return [
        Piece(kind, s, e, section_number, section_title, item_number, item_title) for s, e in merged
    ]


def _trimmed(text: str, piece: Piece) -> Piece | None:
    start, end = piece.start, piece.end
    while start < end and (text[start].isspace()):
        start += 1
    while end > start and (text[end - 1].isspace()):
        end -= 1
    if start >= end or letters(text[start:end]) == 0:
        return None
    piece.start, piece.end = start, end
    return piece
