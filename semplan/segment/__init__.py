"""text → clauses: line structure, chrome, structure, exact offsets into the decoded source.

The segmenter never edits the source; it reads a view of it and cuts clauses whose spans point
back into the source, so every clause can be shown where it stands. One module per step, in
the order `segment` runs them (docs/segmentation-design.md explains the rules):

    lines      source → view: runs the line steps below and joins lines into paragraphs
      markup     tables, Markdown marks, images and tags cut out of lines
      chrome     chrome lines by shape, menu runs, footers, repetition across plans
      joins      which line breaks are soft wraps or markup breaks
    structure  view → sections, subsections, items, subheadlines, the lead, a notes section
    cut        view + structure → pieces (lead, headings, item titles, sentences, notes, table rows)
    clause     the `Clause` record and how its spans are written
    stats      per-plan counts and lengths
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from semplan.normalize import matching_text
from semplan.segment.chrome import RepeatedLines
from semplan.segment.clause import CLAUSE_KINDS, Clause, chinese_numeral, format_spans, span_extent
from semplan.segment.cut import cut
from semplan.segment.lines import LineReport, build_view, view_paragraph
from semplan.segment.stats import PlanStats, Segmentation, item_number_gaps, plan_stats
from semplan.segment.structure import read_structure

if TYPE_CHECKING:
    from semplan.read import Document


def segment_text(text: str, plan_id: str, repeated: RepeatedLines | None = None) -> Segmentation:
    """Cut a decoded plan into clauses; a pure function of its arguments.

    `repeated` holds the lines that recur across the plans of one run (`RepeatedLines`); those
    lines are boilerplate unless they are structure.
    """
    view = build_view(text, repeated)
    structure = read_structure(view)
    clauses = []
    for piece in cut(view, structure):
        spans = view.spans(piece.start, piece.end)
        clause_text = "".join(text[s:e] for s, e in spans)
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
                subsection_number=piece.subsection_number,
                subsection_title=piece.subsection_title,
            )
        )
        assert clauses[-1].source_text(text) == clause_text
    return Segmentation(plan_id, clauses, view.report)


def segment(text: str, plan_id: str, repeated: RepeatedLines | None = None) -> list[Clause]:
    """The clauses of a decoded plan (`segment_text(...).clauses`)."""
    return segment_text(text, plan_id, repeated).clauses


def segment_document(doc: Document, repeated: RepeatedLines | None = None) -> list[Clause]:
    """Clauses of a `semplan.read.Document`."""
    return segment(doc.text, doc.plan_id, repeated)


def segment_documents(documents: Iterable[Document], min_plans: int = 2) -> list[Segmentation]:
    """Segment the plans of one run together: a short line recurring in `min_plans` of them is
    boilerplate of their site or edition (see `RepeatedLines`)."""
    documents = list(documents)
    repeated = RepeatedLines.from_texts((doc.text for doc in documents), min_plans=min_plans)
    return [segment_text(doc.text, doc.plan_id, repeated) for doc in documents]


__all__ = [
    "CLAUSE_KINDS",
    "Clause",
    "LineReport",
    "PlanStats",
    "RepeatedLines",
    "Segmentation",
    "chinese_numeral",
    "format_spans",
    "item_number_gaps",
    "plan_stats",
    "segment",
    "segment_document",
    "segment_documents",
    "segment_text",
    "span_extent",
    "view_paragraph",
]
