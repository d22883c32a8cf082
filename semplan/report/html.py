"""report.html: one self-contained page (inline plotly.js, no network) people read.

All text goes through jinja2's autoescaping; the figures travel as JSON in a
<script type="application/json"> element with `<`, `>` and `&` escaped
(plots.script_json), so a clause such as `<script>alert(1)</script>` is shown as text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from semplan.cluster import PriorityAnalysis
from semplan.errors import MissingDependency
from semplan.report import plots
from semplan.report._io import write_text_atomic

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Embedding every plan's full text keeps the links to source positions inside the page;
# beyond this many characters the page would get unwieldy, so links give file + offsets.
MAX_EMBEDDED_SOURCE_CHARS = 3_000_000
# Clauses listed under one priority / one plan's unique list before "… more in clauses.csv".
MAX_CLAUSES_PER_PRIORITY = 60
MAX_UNIQUE_CLAUSES_PER_PLAN = 40


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent"] = lambda value: f"{value:.0%}"
    return environment


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as error:  # pragma: no cover - plotly is a dependency
        raise MissingDependency("report.html needs plotly: pip install plotly") from error
    return get_plotlyjs()


def anchor(clause_id: str) -> str:
    """The element id of a clause in the page's source view (`plan#n` → `c-plan-n`)."""
    return "c-" + clause_id.replace("#", "-").replace(" ", "_")


@dataclass(frozen=True)
class ClauseView:
    clause_id: str
    plan_id: str
    text: str
    path: str
    start: int | None
    end: int | None
    anchor: str
    score: float | None
    assigned: bool
    central: bool
    best_match_id: str | None
    best_match_score: float | None


def _clause_view(analysis: PriorityAnalysis, clause_id: str, central_id: str | None = None) -> ClauseView:
    clause = analysis.clause(clause_id)
    result = analysis.result(clause_id)
    return ClauseView(
        clause_id=clause_id,
        plan_id=clause.plan_id,
        text=clause.text,
        path=clause.path or "",
        start=clause.spans[0][0] if clause.spans else None,
        end=clause.spans[-1][1] if clause.spans else None,
        anchor=anchor(clause_id),
        score=result.score,
        assigned=result.assigned,
        central=clause_id == central_id,
        best_match_id=result.best_match_id,
        best_match_score=result.best_match_score,
    )


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


def render_html(
    analysis: PriorityAnalysis,
    sources: Mapping[str, str] | None = None,
    source_paths: Mapping[str, str | None] | None = None,
    title: str = "semplan report",
    metadata: Mapping[str, Any] | None = None,
) -> str:
    """The report page as a string. `sources` (plan → decoded text) adds a source view the
    clause links jump to; without it (or when too big) links show file path and offsets."""
    sources = dict(sources or {})
    source_paths = dict(source_paths or {})
    embed_sources = bool(sources) and sum(len(t) for t in sources.values()) <= MAX_EMBEDDED_SOURCE_CHARS

    priority_views = []
    for priority in analysis.priorities:
        by_plan: dict[str, list[ClauseView]] = {}
        for clause_id in priority.clause_ids[:MAX_CLAUSES_PER_PRIORITY]:
            view = _clause_view(analysis, clause_id, priority.central_clause_id)
            by_plan.setdefault(view.plan_id, []).append(view)
        priority_views.append(
            {
                "priority": priority,
                "central": _clause_view(analysis, priority.central_clause_id, priority.central_clause_id),
                "by_plan": [(plan, by_plan[plan]) for plan in analysis.plans if plan in by_plan],
                "hidden": max(0, priority.size - MAX_CLAUSES_PER_PRIORITY),
            }
        )

    plan_views = []
    for plan in analysis.plans:
        unique = analysis.unique_clauses_least_echoed_first(plan)
        plan_views.append(
            {
                "plan": plan,
                "colour": plots.plan_colour(analysis.plans.index(plan)),
                "path": source_paths.get(plan),
                "n_clauses": len(analysis.plan_clauses(plan)),
                "unique_priorities": analysis.unique_priorities(plan),
                "unique_clauses": [
                    _clause_view(analysis, c.clause_id) for c in unique[:MAX_UNIQUE_CLAUSES_PER_PLAN]
                ],
                "unique_total": len(unique),
                "outliers": [_clause_view(analysis, c.clause_id) for c in analysis.plan_outliers(plan)],
                "source": source_html(analysis, plan, sources[plan])
                if embed_sources and plan in sources
                else None,
            }
        )

    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        analysis=analysis,
        metadata=dict(metadata or {}),
        plans=plan_views,
        priorities=priority_views,
        tier_counts=analysis.tier_counts(),
        n_outliers=len(analysis.outliers),
        n_assigned=sum(r.assigned for r in analysis.results),
        n_unique=sum(r.unique for r in analysis.results),
        plan_similarity=[
            (a, [(b, float(analysis.plan_similarity[i, j])) for j, b in enumerate(analysis.plans)])
            for i, a in enumerate(analysis.plans)
        ],
        embed_sources=embed_sources,
        source_paths=source_paths,
        figures_json=Markup(plots.script_json(plots.figures(analysis))),
        plotly_js=Markup(_plotly_js()),
    )


def write_html(analysis: PriorityAnalysis, path: str | os.PathLike, **options: Any) -> Path:
    return write_text_atomic(path, render_html(analysis, **options))
