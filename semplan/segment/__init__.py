"""text → clauses: boilerplate removal, structure, exact offsets into the decoded source.

The segmenter never edits the source; it reads a view of it and cuts clauses whose spans point
back into the source, so every clause can be shown where it stands. One module per step, in
the order `segment` runs them (docs/segmentation-design.md explains the rules):

    lines      source → view: kept lines with their offsets; chrome and page markers left out
    structure  view → sections, items, subheadlines and the lead
    cut        view + structure → pieces (the lead's sentences, item titles, sentences)
    clause     the `Clause` record and how its spans are written
    stats      per-plan counts and lengths
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from semplan.normalize import matching_text
from semplan.segment.clause import CLAUSE_KINDS, Clause, chinese_numeral, format_spans, span_extent
from semplan.segment.cut import cut
from semplan.segment.lines import build_view, has_inline_boilerplate, view_paragraph
from semplan.segment.stats import PlanStats, item_number_gaps, plan_stats
from semplan.segment.structure import read_structure

if TYPE_CHECKING:
    from semplan.read import Document


def segment_document(doc: Document) -> list[Clause]:
    """Clauses of a `semplan.read.Document`."""
    return segment(doc.text, doc.plan_id)


def segment(text: str, plan_id: str) -> list[Clause]:
    """Cut a decoded plan into clauses; a pure function of its arguments."""
    view = build_view(text)
    structure = read_structure(view)
    pieces = cut(view, structure)
    clauses = []
    for piece in pieces:
        spans = view.spans(piece.start, piece.end)
        clause_text = "".join(text[s:e] for s, e in spans)
        if has_inline_boilerplate(clause_text):
            continue
        clauses.append(
            Clause(
                plan_id=plan_id,
                n=len(clauses) + 1,
                kind=piece.kind,
                text=clause_text,
                match_text=matching_text(clause_text),
                spans=spans,
                section_number=piece.section_number,
                section_title=piece.section_title,
                item_number=piece.item_number,
                item_title=piece.item_title,
            )
        )
        assert clauses[-1].source_text(text) == clause_text
    return clauses


__all__ = [
    "CLAUSE_KINDS",
    "Clause",
    "PlanStats",
    "chinese_numeral",
    "format_spans",
    "item_number_gaps",
    "plan_stats",
    "segment",
    "segment_document",
    "span_extent",
    "view_paragraph",
]
