"""The report's charts as static inline SVG: they print, need no script library, and every label is drawn.

The page used to inline the whole plotly.js (most of the page: docs/analyst-output.md) to draw
three heatmaps and a scatter whose names showed only on hover. Here each cell carries its count as text and
a `<title>` for the hover, rows are labelled with the priority's name, and the map's priority
labels are placed where they cover no other label and as few dots as possible. All text is
escaped (markupsafe), so clause text can never become markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from markupsafe import Markup, escape

from semplan.normalize import char_width
from semplan.report.view import ReportView, plan_colour

# The plans × priorities heatmap shows this many priorities (widest coverage first); the rest behind "show all".
TOP_PRIORITIES = 30
MAX_MAP_LABELS = 40
FONT = 12
ROW = 20
LABEL_WIDTH = 330
MAP_WIDTH, MAP_HEIGHT, MAP_PAD = 1100, 620, 16
BLUES = ("#deebf7", "#08519c")
REDS = ("#fee8c8", "#b30000")


def text_width(text: str, size: float = FONT) -> float:
    """Pixels a label takes in a sans-serif font: a CJK character about a square, a Latin one a bit over half."""
    return sum(size if char_width(ch) == 2 else 0.6 * size * char_width(ch) for ch in text)


def clipped(text: str, pixels: float, size: float = FONT) -> str:
    """`text` cut with `…` to fit `pixels`."""
    if text_width(text, size) <= pixels:
        return text
    while text and text_width(text + "…", size) > pixels:
        text = text[:-1]
    return text + "…"


def _mix(low: str, high: str, t: float) -> str:
    a, b = (int(low[i : i + 2], 16) for i in (1, 3, 5)), (int(high[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def _svg(width: float, height: float, body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{escape(label)}" '
        f'font-family="Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif" font-size="{FONT}">'
        + "".join(body) + "</svg>"
    )


@dataclass(frozen=True)
class Row:
    label: str
    href: str | None
    values: Sequence[float | None]  # None: no cell (a plan against itself)
    texts: Sequence[str]
    hovers: Sequence[str]


def grid(rows: Sequence[Row], columns: Sequence[str], colours: tuple[str, str], label: str,
         top: float | None = None, cell: int = 64) -> Markup:
    """A heatmap: labelled rows, column headings slanted above, each cell coloured by its value (0 pale grey,
    else from colours[0] to colours[1] at `top`, default the largest value), its text inside and its hover as
    a `<title>`."""
    values = [v for row in rows for v in row.values if v is not None]
    top = top or max(values, default=0) or 1
    header = 20 + max((text_width(c) for c in columns), default=0) * 0.72
    width = LABEL_WIDTH + cell * len(columns) + 40
    height = header + ROW * len(rows) + 6
    body = []
    for j, column in enumerate(columns):
        x = LABEL_WIDTH + cell * j + cell / 2
        body.append(f'<text transform="translate({x:.1f},{header - 6:.1f}) rotate(-40)">{escape(column)}</text>')
    for i, row in enumerate(rows):
        y = header + ROW * i
        name = escape(clipped(row.label, LABEL_WIDTH - 12))
        text = f'<text x="4" y="{y + ROW * 0.7:.1f}"><title>{escape(row.label)}</title>{name}</text>'
        body.append(f'<a href="{escape(row.href)}">{text}</a>' if row.href else text)
        for j, (value, cell_text, hover) in enumerate(zip(row.values, row.texts, row.hovers, strict=True)):
            if value is None:
                continue
            shade = value / top
            fill = "#f4f4f4" if not value else _mix(*colours, min(1.0, shade))
            ink = "#fff" if value and shade > 0.55 else "#222"
            x = LABEL_WIDTH + cell * j
            body.append(f'<g><title>{escape(hover)}</title><rect x="{x + 1}" y="{y + 1}" width="{cell - 2}" '
                        f'height="{ROW - 2}" fill="{fill}"/>'
                        + (f'<text x="{x + cell / 2:.1f}" y="{y + ROW * 0.7:.1f}" text-anchor="middle" fill="{ink}">'
                           f"{escape(cell_text)}</text>" if cell_text else "") + "</g>")
    return _svg(width, height, body, label)


def _coverage_rows(view: ReportView, priorities: Sequence[Any]) -> list[Row]:
    plans = view.analysis.plans
    rows = []
    for priority in priorities:
        counts = dict(priority.coverage)
        name = f"P{priority.priority_id} {priority.label}"
        rows.append(Row(name, f"#p-{priority.priority_id}", [counts.get(plan, 0) for plan in plans],
                        [str(counts[plan]) if counts.get(plan) else "" for plan in plans],
                        [f"{plan} · {name}: {counts.get(plan, 0)} clause(s)" for plan in plans]))
    return rows


def priorities_heatmap(view: ReportView) -> tuple[Markup, Markup | None]:
    """Priorities (rows, named, widest coverage first) × plans: each plan's clauses in each priority. The first
    TOP_PRIORITIES rows, and the rest as a second chart on the same scale (None when there is no rest)."""
    analysis = view.analysis
    top = max((count for p in analysis.priorities for _, count in p.coverage), default=1)
    head, rest = analysis.priorities[:TOP_PRIORITIES], analysis.priorities[TOP_PRIORITIES:]
    first = grid(_coverage_rows(view, head), analysis.plans, BLUES, "plans × priorities", top)
    more = grid(_coverage_rows(view, rest), analysis.plans, BLUES, "plans × the other priorities", top) if rest else None
    return first, more


def plan_matrix(view: ReportView) -> Markup:
    """Plan × plan: share of the row plan's clauses with a match in the column plan (the diagonal left out)."""
    analysis = view.analysis
    shares = np.asarray(analysis.plan_similarity, dtype=float)
    rows = [
        Row(plan, None, [None if i == j else float(shares[i, j]) for j in range(len(analysis.plans))],
            ["" if i == j else f"{shares[i, j]:.0%}" for j in range(len(analysis.plans))],
            [f"{plan} → {other}: {shares[i, j]:.0%} of {plan}'s clauses have a match" for j, other in
             enumerate(analysis.plans)])
        for i, plan in enumerate(analysis.plans)
    ]
    return grid(rows, analysis.plans, BLUES, "plan × plan similarity", cell=90)


def years_heatmap(view: ReportView) -> Markup | None:
    """Priorities (new, rising, falling, gone, then steady) × years: each priority's share of the year's clauses."""
    over_time = view.over_time
    if over_time is None:
        return None
    years = [group for group in over_time.groups if group != "unknown"]
    rows = [
        Row(f"{entry.direction} · P{entry.priority_id} {entry.label}", f"#p-{entry.priority_id}",
            [100 * entry.shares[year] for year in years],
            [_percent(100 * entry.shares[year]) if entry.counts[year] else "" for year in years],
            [f"P{entry.priority_id} {entry.label} · {year}: {entry.counts[year]} clause(s), "
             f"{100 * entry.shares[year]:.1f}% of the year's clauses · {entry.direction}" for year in years])
        for entry in over_time.by_direction()
    ]
    return grid(rows, years, REDS, "priorities over the years (% of each year's clauses)", cell=56)


def _percent(value: float) -> str:
    return f"{value:.0f}" if value >= 9.5 else f"{value:.1f}"


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    def overlaps(self, other: Box) -> bool:
        return (self.x < other.x + other.width and other.x < self.x + self.width
                and self.y < other.y + other.height and other.y < self.y + self.height)

    def holds(self, points: np.ndarray) -> int:
        inside = ((points[:, 0] >= self.x - 3) & (points[:, 0] <= self.x + self.width + 3)
                  & (points[:, 1] >= self.y - 3) & (points[:, 1] <= self.y + self.height + 3))
        return int(inside.sum())


def place_labels(anchors: Sequence[tuple[float, float]], sizes: Sequence[tuple[float, float]], points: np.ndarray,
                 bounds: Box) -> list[Box | None]:
    """A box for each label (in order: the first gets the first choice) near its anchor, inside `bounds`,
    overlapping no box placed before it and covering as few `points` (dot centres, radius 3) as it can; None
    when no place near the anchor is free of other labels."""
    placed: list[Box] = []
    chosen: list[Box | None] = []
    directions = [(1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (-1, -1), (1, 1), (-1, 1)]
    for (ax, ay), (width, height) in zip(anchors, sizes, strict=True):
        best: tuple[int, float, Box] | None = None
        for distance in (6, 16, 30, 48, 70, 96):
            for dx, dy in directions:
                x = ax - width / 2 + dx * (distance + width / 2)
                y = ay - height / 2 + dy * (distance + height / 2)
                box = Box(x, y, width, height)
                if (x < bounds.x or y < bounds.y or x + width > bounds.x + bounds.width
                        or y + height > bounds.y + bounds.height or any(box.overlaps(other) for other in placed)):
                    continue
                score = (box.holds(points), distance)
                if best is None or score < best[:2]:
                    best = (*score, box)
            if best is not None and best[0] == 0:
                break
        chosen.append(best[2] if best else None)
        if best:
            placed.append(best[2])
    return chosen


def clause_map(view: ReportView) -> Markup | None:
    """Every clause at its 2-D UMAP position, coloured by plan, the biggest priorities labelled beside their dots."""
    analysis = view.analysis
    if analysis.map_xy is None or not len(view.clauses):
        return None
    xy = np.asarray(analysis.map_xy, dtype=float)
    legend_height = 26
    low, high = xy.min(axis=0), xy.max(axis=0)
    span = np.where(high - low > 0, high - low, 1.0)
    area = Box(MAP_PAD, legend_height + MAP_PAD, MAP_WIDTH - 2 * MAP_PAD, MAP_HEIGHT - legend_height - 2 * MAP_PAD)
    points = np.column_stack([area.x + (xy[:, 0] - low[0]) / span[0] * area.width,
                              area.y + (1 - (xy[:, 1] - low[1]) / span[1]) * area.height])
    plan_index = {plan: i for i, plan in enumerate(analysis.plans)}
    body, x = [], 4.0
    for plan in analysis.plans:
        body.append(f'<rect x="{x}" y="6" width="10" height="10" rx="2" fill="{plan_colour(plan_index[plan])}"/>'
                    f'<text x="{x + 14}" y="15">{escape(plan)}</text>')
        x += 30 + text_width(plan)
    for i, clause in enumerate(view.clauses):
        where = f"P{clause.priority_id} {clause.priority_label}" if not clause.outlier else "outlier"
        body.append(f'<circle cx="{points[i, 0]:.1f}" cy="{points[i, 1]:.1f}" r="3" '
                    f'fill="{plan_colour(plan_index[clause.plan_id])}" fill-opacity="0.75"><title>'
                    f'{escape(clause.clause_id)} · {escape(where)}\n{escape(clipped(clause.text, 480))}</title></circle>')
    labelled = sorted(analysis.priorities, key=lambda p: (-p.size, p.priority_id))[:MAX_MAP_LABELS]
    names = [f"P{p.priority_id} {p.keywords[0] if p.keywords else ''}".strip() for p in labelled]
    anchors = [tuple(np.median(points[[view.row(c) for c in p.clause_ids]], axis=0)) for p in labelled]
    boxes = place_labels(anchors, [(text_width(name, 11) + 6, 15) for name in names], points, area)
    for name, (ax, ay), box in zip(names, anchors, boxes, strict=True):
        if box is None:
            continue
        cx, cy = min(max(ax, box.x), box.x + box.width), min(max(ay, box.y), box.y + box.height)
        body.append(f'<g class="map-label"><line x1="{ax:.1f}" y1="{ay:.1f}" x2="{cx:.1f}" y2="{cy:.1f}" '
                    f'stroke="#555" stroke-width="0.8"/><rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
                    f'height="{box.height:.1f}" rx="3" fill="#fff" fill-opacity="0.9" stroke="#999" stroke-width="0.5"/>'
                    f'<text x="{box.x + 3:.1f}" y="{box.y + 11.5:.1f}" font-size="11">{escape(name)}</text></g>')
    return _svg(MAP_WIDTH, MAP_HEIGHT, body, "map of all clauses")


def charts(view: ReportView) -> dict[str, Markup | None]:
    """The report's charts by element id: `fig-heatmap` and `fig-heatmap-rest` (None when every priority fits
    the first), `fig-map` (None without 2-D coordinates), `fig-plans`, `fig-years` (None unless the plans span
    two years)."""
    heatmap, rest = priorities_heatmap(view)
    return {"fig-heatmap": heatmap, "fig-heatmap-rest": rest, "fig-map": clause_map(view),
            "fig-plans": plan_matrix(view), "fig-years": years_heatmap(view)}

