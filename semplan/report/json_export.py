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
    plans' source files under `sources`."""
    data: dict[str, Any] = {"format": "semplan-report", "format_version": 1}
    data.update(view.metadata)
    if view.source_paths:
        data["sources"] = dict(view.source_paths)
    data.update(view.analysis.to_dict())
    return data


def write_json(view: ReportView, path: str | os.PathLike) -> Path:
    text = json.dumps(report_data(view), ensure_ascii=False, indent=1)
    return write_text_atomic(path, text + "\n")
