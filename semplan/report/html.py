"""report.html: one self-contained page (charts as inline SVG, no script library, no network) people read.

All text goes through jinja2's autoescaping, and the charts escape every label they draw
(plots.py), so a clause such as `<script>alert(1)</script>` is shown as text.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from semplan._fs import write_text_atomic
from semplan.report import plots
from semplan.report.view import ReportView, anchor, jinja_environment

if TYPE_CHECKING:
    from semplan.cluster import PriorityAnalysis


@lru_cache(maxsize=1)
def _environment() -> Any:
    return jinja_environment(autoescape=True)


def source_html(analysis: PriorityAnalysis, plan_id: str, source: str) -> Markup:
    """A plan's decoded text with every clause's spans marked; the first span carries the
    clause's anchor. Escaped piece by piece, so the result is safe to insert as is."""
    marks: list[tuple[int, int, str, bool]] = []
    for clause in analysis.plan_clauses(plan_id):
        for k, (start, end) in enumerate(clause.spans):
            marks.append((start, end, clause.clause_id, k == 0))
    marks.sort()
    pieces: list[str] = []
    position = 0
    for start, end, clause_id, first in marks:
        if start < position or end > len(source):
            continue  # overlapping or out-of-range span: show the text unmarked rather than twice
        pieces.append(str(escape(source[position:start])))
        element_id = f' id="{escape(anchor(clause_id))}"' if first else ""
        pieces.append(f'<mark{element_id} title="{escape(clause_id)}">{escape(source[start:end])}</mark>')
        position = end
    pieces.append(str(escape(source[position:])))
    return Markup("".join(pieces))


def render_html(view: ReportView) -> str:
    """The report page as a string. With embedded sources the clause links jump into them;
    without (none given, or too big) links show file path and offsets."""
    return _environment().get_template("report.html.j2").render(
        report=view,
        analysis=view.analysis,
        marked_source=lambda plan: source_html(view.analysis, plan.plan, plan.source),
        charts=plots.charts(view),
        top_priorities=plots.TOP_PRIORITIES,
    )


def write_html(view: ReportView, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, render_html(view))
