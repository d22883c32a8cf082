"""Plotly figures as plain {data, layout} dicts, drawn by the plotly.js inlined in report.html.

Plotly renders a small HTML subset inside hover text and labels (<b>, <br>, <a>), so
every piece of clause text put into a figure is HTML-escaped here first; plotly shows
the entities as the original characters.
"""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np

from semplan.report.view import ReportView, plan_colour

# The heatmap and the map label stay legible up to about this many priorities.
MAX_HEATMAP_PRIORITIES = 120
MAX_MAP_LABELS = 40
# Above this many points plotly's WebGL scatter stays responsive; SVG does not.
WEBGL_FROM = 5000


def _escape(text: str, limit: int | None = None) -> str:
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=True)


def priorities_heatmap(view: ReportView) -> dict[str, Any]:
    """Plans (rows) × priorities (columns, report order): clauses of each plan in each priority."""
    analysis = view.analysis
    shown = analysis.priorities[:MAX_HEATMAP_PRIORITIES]
    columns = [f"P{p.priority_id}" for p in shown]
    z = [[dict(p.coverage).get(plan, 0) for p in shown] for plan in analysis.plans]
    hover = [
        [
            f"{_escape(plan)}<br>P{p.priority_id} {_escape(p.label)}<br>{count} clause(s)"
            for p, count in zip(shown, row, strict=True)
        ]
        for plan, row in zip(analysis.plans, z, strict=True)
    ]
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "x": columns,
                "y": [_escape(plan) for plan in analysis.plans],
                "text": hover,
                "hoverinfo": "text",
                "colorscale": [[0, "#f7f7f7"], [0.001, "#deebf7"], [1, "#08519c"]],
                "colorbar": {"title": {"text": "clauses"}},
                "xgap": 1,
                "ygap": 1,
            }
        ],
        "layout": {
            "height": 120 + 32 * len(analysis.plans),
            "margin": {"l": 130, "r": 20, "t": 10, "b": 60},
            "xaxis": {"tickangle": -90, "tickfont": {"size": 9}},
            "yaxis": {"autorange": "reversed"},
        },
    }


def clause_map(view: ReportView) -> dict[str, Any] | None:
    """Every clause at its 2-D UMAP position, one trace per plan, the biggest priorities labelled."""
    analysis = view.analysis
    if analysis.map_xy is None or not len(view.clauses):
        return None
    xy = np.asarray(analysis.map_xy)
    scatter = "scattergl" if len(xy) >= WEBGL_FROM else "scatter"
    plan_index = {plan: i for i, plan in enumerate(analysis.plans)}
    by_plan: dict[str, list[int]] = {plan: [] for plan in analysis.plans}
    for i, clause in enumerate(view.clauses):
        by_plan[clause.plan_id].append(i)
    data: list[dict[str, Any]] = []
    for plan, rows in by_plan.items():
        hover = []
        for i in rows:
            clause = view.clauses[i]
            where = f"P{clause.priority_id} {_escape(clause.priority_label)}" if not clause.outlier else "outlier"
            hover.append(f"{_escape(clause.clause_id)} · {where}<br>{_escape(clause.text, 80)}")
        data.append(
            {
                "type": scatter,
                "mode": "markers",
                "name": _escape(plan),
                "x": [round(float(xy[i, 0]), 4) for i in rows],
                "y": [round(float(xy[i, 1]), 4) for i in rows],
                "text": hover,
                "hoverinfo": "text",
                "marker": {"size": 6, "opacity": 0.75, "color": plan_colour(plan_index[plan])},
            }
        )
    labelled = sorted(analysis.priorities, key=lambda p: (-p.size, p.priority_id))[:MAX_MAP_LABELS]
    label_x, label_y, label_text = [], [], []
    for priority in labelled:
        rows = [view.row(clause_id) for clause_id in priority.clause_ids]
        label_x.append(round(float(np.median(xy[rows, 0])), 4))
        label_y.append(round(float(np.median(xy[rows, 1])), 4))
        label_text.append(
            _escape(f"P{priority.priority_id} {priority.keywords[0] if priority.keywords else ''}")
        )
    data.append(
        {
            "type": "scatter",
            "mode": "text",
            "name": "priority labels",
            "x": label_x,
            "y": label_y,
            "text": label_text,
            "textfont": {"size": 11, "color": "#222"},
            "hoverinfo": "skip",
        }
    )
    return {
        "data": data,
        "layout": {
            "height": 620,
            "margin": {"l": 20, "r": 20, "t": 10, "b": 20},
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "legend": {"orientation": "h"},
            "hovermode": "closest",
        },
    }


def plan_matrix(view: ReportView) -> dict[str, Any]:
    """Plan × plan: share of the row plan's clauses with a match in the column plan."""
    analysis = view.analysis
    plans = [_escape(plan) for plan in analysis.plans]
    shares = np.asarray(analysis.plan_similarity, dtype=float)
    off_diagonal = ~np.eye(len(shares), dtype=bool)
    # The diagonal (a plan against itself) is left blank rather than drawn as 100%.
    z = [
        [round(float(v), 4) if off_diagonal[i, j] else None for j, v in enumerate(row)]
        for i, row in enumerate(shares)
    ]
    text = [
        [f"{v:.0%}" if off_diagonal[i, j] else "" for j, v in enumerate(row)] for i, row in enumerate(shares)
    ]
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "x": plans,
                "y": plans,
                "text": text,
                "texttemplate": "%{text}",
                "hovertemplate": "%{y} → %{x}: %{text} of %{y}'s clauses have a match<extra></extra>",
                "colorscale": [[0, "#f7fbff"], [1, "#08519c"]],
                "zmin": 0,
                "zmax": float(max(0.05, shares[off_diagonal].max())) if off_diagonal.any() else 1.0,
                "colorbar": {"tickformat": ".0%"},
                "xgap": 2,
                "ygap": 2,
            }
        ],
        "layout": {
            "height": 140 + 50 * len(plans),
            "margin": {"l": 130, "r": 20, "t": 10, "b": 110},
            "yaxis": {"autorange": "reversed"},
            "xaxis": {"tickangle": -30},
        },
    }


def years_heatmap(view: ReportView) -> dict[str, Any] | None:
    """Priorities (rows: new, rising, falling, gone, then steady) × years: each priority's share of that year's clauses."""
    over_time = view.over_time
    if over_time is None:
        return None
    years = [group for group in over_time.groups if group != "unknown"]
    shown = over_time.by_direction()[:MAX_HEATMAP_PRIORITIES]
    rows = [_escape(f"{entry.direction} · P{entry.priority_id} {entry.label}", 44) for entry in shown]
    z = [[round(100 * entry.shares[year], 2) for year in years] for entry in shown]
    hover = [
        [f"P{entry.priority_id} {_escape(entry.label)}<br>{year}: {entry.counts[year]} clause(s), "
         f"{100 * entry.shares[year]:.1f}% of the year's clauses<br>trend: {entry.direction}" for year in years]
        for entry in shown
    ]  # fmt: skip
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "x": years,
                "y": rows,
                "text": hover,
                "hoverinfo": "text",
                "colorscale": [[0, "#f7f7f7"], [0.001, "#fee8c8"], [1, "#b30000"]],
                "colorbar": {"title": {"text": "% of year"}},
                "xgap": 2,
                "ygap": 1,
            }
        ],
        "layout": {
            "height": 120 + 18 * len(shown),
            "margin": {"l": 300, "r": 20, "t": 40, "b": 20},
            "xaxis": {"type": "category", "side": "top"},
            "yaxis": {"autorange": "reversed", "tickfont": {"size": 10}},
        },
    }


def figures(view: ReportView) -> dict[str, dict[str, Any]]:
    """The report's figures by element id (the clause map is absent without 2-D coordinates, the
    years heatmap unless the plans span two years)."""
    found = {
        "fig-heatmap": priorities_heatmap(view),
        "fig-map": clause_map(view),
        "fig-plans": plan_matrix(view),
        "fig-years": years_heatmap(view),
    }
    return {key: figure for key, figure in found.items() if figure is not None}


def script_json(value: Any) -> str:
    """JSON safe to place inside a <script> element: no `<`, `>` or `&` survives literally,
    so clause text can never close the element (`</script>`) or open a comment."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
