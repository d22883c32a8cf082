"""report.json: the whole analysis, machine-readable."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from semplan.cluster import PriorityAnalysis
from semplan.report._io import write_text_atomic


def report_data(analysis: PriorityAnalysis, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """`analysis.to_dict()` plus where it came from (`metadata`: index, model, sources)."""
    data = {"format": "semplan-report", "format_version": 1}
    data.update(metadata or {})
    data.update(analysis.to_dict())
    return data


def write_json(
    analysis: PriorityAnalysis, path: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> Path:
    text = json.dumps(report_data(analysis, metadata), ensure_ascii=False, indent=1)
    return write_text_atomic(path, text + "\n")
