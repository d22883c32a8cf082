"""report.md: the report's findings as text (tables for priorities and plan overlap)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from semplan.cluster import PriorityAnalysis
from semplan.report._io import write_text_atomic
from semplan.report.html import MAX_UNIQUE_CLAUSES_PER_PLAN, TEMPLATES


def markdown_cell(value: object) -> str:
    """Text safe inside a Markdown table cell: one line, pipes and HTML escaped."""
    text = " ".join(str(value).split())
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=False,  # Markdown: cells are escaped by the `cell` filter instead
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["cell"] = markdown_cell
    environment.filters["percent"] = lambda value: f"{value:.0%}"
    return environment


def render_markdown(
    analysis: PriorityAnalysis, title: str = "semplan report", metadata: Mapping[str, Any] | None = None
) -> str:
    plans = []
    for plan in analysis.plans:
        unique = analysis.unique_clauses_least_echoed_first(plan)
        plans.append(
            {
                "plan": plan,
                "n_clauses": len(analysis.plan_clauses(plan)),
                "unique_priorities": analysis.unique_priorities(plan),
                "unique_clauses": [
                    {"clause_id": c.clause_id, "text": c.text, "path": c.path or ""}
                    for c in unique[:MAX_UNIQUE_CLAUSES_PER_PLAN]
                ],
                "unique_total": len(unique),
            }
        )
    text = (
        _environment()
        .get_template("report.md.j2")
        .render(
            title=title,
            analysis=analysis,
            metadata=dict(metadata or {}),
            plans=plans,
            tier_counts=analysis.tier_counts(),
            n_unique=sum(r.unique for r in analysis.results),
            n_outliers=len(analysis.outliers),
            n_assigned=sum(r.assigned for r in analysis.results),
            plan_similarity=[
                (a, [(b, float(analysis.plan_similarity[i, j])) for j, b in enumerate(analysis.plans)])
                for i, a in enumerate(analysis.plans)
            ],
            clause_text=lambda clause_id: analysis.clause(clause_id).text,
        )
    )
    # Collapse the blank-line runs the template's loops leave behind.
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip() or (lines and lines[-1].strip()):
            lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"


def write_markdown(analysis: PriorityAnalysis, path: str | os.PathLike, **options: Any) -> Path:
    return write_text_atomic(path, render_markdown(analysis, **options))
