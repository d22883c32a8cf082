"""report.json: the whole analysis, machine-readable."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from semplan._fs import write_text_atomic
from semplan.report.view import ReportView


def report_data(view: ReportView) -> dict[str, Any]:
    """`analysis.to_dict()` plus where it came from: the view's metadata (index, model) and the
    plans' source files under `sources`.

    Format 2: `plans` are objects (plan_id, title, issuer, region, body, level, year, doc_type,
    sources, n_clauses); each priority has `by_year` (its clauses per year, "unknown" for plans
    without one; they sum to its size) and `trend` ({direction, first_year, last_year}, null unless
    the plans span two years); `years` lists each year's plans and new and dropped priorities.
    """
    data: dict[str, Any] = {"format": "semplan-report", "format_version": 2}
    data.update(view.metadata)
    if view.source_paths:
        data["sources"] = dict(view.source_paths)
    data.update(view.analysis.to_dict())
    data["plans"] = [plan.to_dict() for plan in view.plans]
    if view.by_year is not None:
        for priority in data["priorities"]:
            entry = view.by_year.priority(priority["priority_id"])
            priority["by_year"] = {group: count for group, count in entry.counts.items() if count}
            priority["trend"] = entry.trend()
    over_time = view.over_time
    data["years"] = [change.to_dict("year") for change in over_time.changes] if over_time is not None else []
    return data


def write_json(view: ReportView, path: str | os.PathLike) -> Path:
    text = json.dumps(report_data(view), ensure_ascii=False, indent=1)
    return write_text_atomic(path, text + "\n")
