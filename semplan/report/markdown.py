"""report.md: the report's findings as text (tables for priorities and plan overlap)."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from semplan._fs import write_text_atomic
from semplan.report.view import EvidenceView, ReportView, jinja_environment
from semplan.shared_terms import highlight_with

# Characters that start Markdown syntax inline: emphasis, code spans, links and images (`[x](…)`,
# `![x](…)`), strikethrough, table cells. A backslash makes each literal (CommonMark §2.4).
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]!~|])")


def markdown_cell(value: object) -> str:
    """Text that renders as itself anywhere in report.md: one line, no HTML, no link, emphasis or code.

    Plan ids come from file names and clause text from scraped pages, so either may hold
    `<img onerror=…>` or `[x](javascript:…)`; they must reach the reader as text.
    """
    return _escaped(" ".join(str(value).split()))


def _escaped(text: str) -> str:
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", re.sub(r"\s+", " ", text))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_code(value: object) -> str:
    """A code span of `value` that no backtick inside it can close early."""
    text = " ".join(str(value).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def markdown_marked(evidence: EvidenceView) -> str:
    """The evidence clause as a table cell, the terms it shares with the core in bold."""
    marked = highlight_with(evidence.text, evidence.shared_spans, lambda piece: f"**{_escaped(piece)}**", _escaped)
    return marked.strip()


@lru_cache(maxsize=1)
def _environment() -> Any:
    # Markdown: no autoescaping; cells are escaped by the `cell` filter instead.
    environment = jinja_environment(autoescape=False, keep_trailing_newline=True)
    environment.filters["cell"] = markdown_cell
    environment.filters["code"] = markdown_code
    environment.filters["marked"] = markdown_marked
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
