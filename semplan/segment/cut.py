"""Cutting the view into pieces: the lead's sentences, each item's title and its sentences.

A piece is a range of the view with its place in the structure; `semplan.segment.segment` turns
each into a `Clause` through the view's offsets. A fragment shorter than MIN_CLAUSE_CHARS
means nothing alone (a tail such as `等。`), so it merges into a neighbour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from semplan.segment._chars import is_notes_heading
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
    subsection_number: int | None = None
    subsection_title: str | None = None


@dataclass
class _Place:
    """Where the cutter is in the plan: the section, subsection and item the next pieces belong to."""

    section_number: int | None = None
    section_title: str | None = None
    subsection_number: int | None = None
    subsection_title: str | None = None
    item_number: int | None = None
    item_title: str | None = None

    def piece(self, kind: str, start: int, end: int) -> Piece:
        return Piece(kind, start, end, self.section_number, self.section_title, self.item_number, self.item_title,
                     self.subsection_number, self.subsection_title)


def cut(view: View, structure: Structure) -> list[Piece]:
    text = view.text
    pieces: list[Piece] = []
    events = structure.events
    notes = structure.notes if structure.notes is not None else len(text)
    first_event = events[0].start if events else notes
    body_start = structure.body_start
    place = _Place()
    if structure.lead:
        lead_start, body_start = structure.lead
        pieces += _sentences(text, lead_start, body_start, "lead", place, terminals=FULL_STOPS)
    pieces += _body(view, body_start, first_event, place)

    for index, event in enumerate(events):
        end = events[index + 1].start if index + 1 < len(events) else notes
        if event.kind in ("section", "subsection", "heading"):
            heading_end = _heading_end(text, event.content, end)
            title = _strip(text[event.content:heading_end]).rstrip(":：,，;；。") or None
            if event.kind == "section":
                place = _Place(event.number, title)
            elif event.kind == "subsection":
                place = _Place(place.section_number, place.section_title, event.number, title)
            else:
                place = _Place(None, title)
            if letters(text[event.content:heading_end]):
                pieces.append(place.piece("heading", event.content, heading_end))
            pieces += _body(view, heading_end, end, place)
        elif event.kind == "subheadline":
            title_end = view_paragraph(text, event.start)[1]
            place.item_number, place.item_title = None, _strip(text[event.start:title_end])
            pieces.append(place.piece("item_title", event.start, title_end))
            pieces += _body(view, title_end, end, place)
        else:
            title_end = _title_end(text, event.content, end)
            title = _strip(text[event.content:title_end]).rstrip("。！？!?；;") if title_end else None
            place.item_number, place.item_title = event.number, title
            body_start = event.content
            if title_end:
                pieces.append(place.piece("item_title", event.content, title_end))
                body_start = title_end
            pieces += _body(view, body_start, end, place)
    if structure.notes is not None:
        pieces += _notes(view, structure.notes)
    return [piece for piece in (_trimmed(text, piece) for piece in pieces) if piece is not None]


def _heading_end(text: str, start: int, end: int) -> int:
    """A heading runs to its first sentence end or the end of its paragraph (or the next event)."""
    heading_end = min(end, view_paragraph(text, start)[1])
    for position in range(start, heading_end):
        if text[position] in TERMINALS:
            return position + 1
    return heading_end


def _body(view: View, start: int, end: int, place: _Place) -> list[Piece]:
    """Sentences of view[start:end]; a table row inside it is one `table_row` piece."""
    text = view.text
    pieces: list[Piece] = []
    position = start
    while position < end:
        paragraph_start, paragraph_end = view_paragraph(text, position)
        run_end = min(end, paragraph_end)
        if view.marks.get(paragraph_start) == "table_row":
            pieces.append(place.piece("table_row", max(position, paragraph_start), run_end))
            position = run_end + 1
            continue
        # Sentences run over consecutive prose paragraphs, up to the next table row.
        while run_end < end and view.marks.get(run_end + 1) != "table_row":
            run_end = min(end, view_paragraph(text, run_end + 1)[1])
        pieces += _sentences(text, position, run_end, "sentence", place)
        position = run_end + 1
    return pieces


def _notes(view: View, start: int) -> list[Piece]:
    """A notes section: its heading paragraphs, then one entry per marker (`［1］`, `1.`), each
    entry cut at full stops. A short term line ending in `：` stays with its definition."""
    text = view.text
    pieces: list[Piece] = []
    place = _Place()
    position = start
    while position < len(text):
        paragraph_start, paragraph_end = view_paragraph(text, position)
        paragraph = text[paragraph_start:paragraph_end]
        if view.marks.get(paragraph_start) == "table_row":
            pieces.append(place.piece("table_row", paragraph_start, paragraph_end))
        elif is_notes_heading(paragraph) or view.marks.get(paragraph_start, "").startswith("heading"):
            place = _Place(None, _strip(paragraph).rstrip(":：") or None)
            pieces.append(place.piece("heading", paragraph_start, paragraph_end))
        else:
            entry_end = paragraph_end
            while (entry_end < len(text) and _is_term(text[paragraph_start:entry_end])
                   and view.marks.get(entry_end + 1) is None):
                entry_end = view_paragraph(text, entry_end + 1)[1]
            pieces += _sentences(text, paragraph_start, entry_end, "note", place, terminals=FULL_STOPS,
                                 break_paragraphs=False)
            paragraph_end = entry_end
        position = paragraph_end + 1
    return pieces


def _is_term(text: str) -> bool:
    """`［1］一降三减：` on a line of its own: the term of a glossary entry, defined on the next line."""
    text = text.strip()
    return bool(text) and text[-1] in "：:" and letters(text) <= MAX_TITLE_CHARS and "\n" not in text


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


def _sentences(text: str, start: int, end: int, kind: str, place: _Place, terminals: str = TERMINALS,
               break_paragraphs: bool = True) -> list[Piece]:
    """Sentence pieces of view[start:end], split after `terminals` and at paragraph breaks,
    fragments under MIN_CLAUSE_CHARS merged into a neighbour."""
    bounds: list[list[int]] = []
    position = start
    piece_start = start
    while position < end:
        char = text[position]
        if char == "\n" and break_paragraphs:
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
    kept_whole: set[int] = set()
    for bound in bounds:
        short = letters(text[bound[0]:bound[1]]) < MIN_CLAUSE_CHARS
        # A short paragraph ending in `：` (`各位代表：`) introduces what follows: it merges forward.
        introduces = short and text[bound[0]:bound[1]].rstrip()[-1:] in "：:"
        # A paragraph of its own that is one exclamation (`各位代表！` between two parts of a speech) is
        # a salutation: kept whole, so that it can be recognised as formula rather than glued to a commitment.
        salutation = short and _own_paragraph(text, bound, start, end) and text[bound[0]:bound[1]].rstrip()[-1:] in "！!"
        if salutation:
            merged.append(bound)
            kept_whole.add(len(merged) - 1)
            continue
        previous_short = bool(merged) and len(merged) - 1 not in kept_whole and letters(
            text[merged[-1][0]:merged[-1][1]]) < MIN_CLAUSE_CHARS
        if merged and (short and not introduces or previous_short):
            merged[-1][1] = bound[1]
        else:
            merged.append(bound)
    if len(merged) > 1 and len(merged) - 1 not in kept_whole and letters(text[merged[-1][0]:merged[-1][1]]) < MIN_CLAUSE_CHARS:
        tail = merged.pop()  # a short `…：` at the end has nothing to introduce
        merged[-1][1] = tail[1]
    return [place.piece(kind, s, e) for s, e in merged]


def _own_paragraph(text: str, bound: list[int], start: int, end: int) -> bool:
    before = text[max(start, bound[0] - 1):bound[0]]
    after = text[bound[1]:min(end, bound[1] + 1)]
    return (bound[0] == start or before == "\n" or text[bound[0]] == "\n") and (bound[1] >= end or after == "\n")


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
