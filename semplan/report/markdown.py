"""report.md: the report's findings as text (tables for priorities and plan overlap)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from semplan._fs import write_text_atomic
from semplan.report.view import ReportView, jinja_environment


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
    # Markdown: no autoescaping; cells are escaped by the `cell` filter instead.
    environment = jinja_environment(autoescape=False, keep_trailing_newline=True)
    environment.filters["cell"] = markdown_cell
    return environment


def render_markdown(view: ReportView) -> str:
    text = _environment().get_template("report.md.j2").render(report=view, analysis=view.analysis)
    # Collapse the blank-line runs the template's loops leave behind.
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip() or (lines and lines[-1].strip()):
            lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"


def write_markdown(view: ReportView, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, render_markdown(view))
