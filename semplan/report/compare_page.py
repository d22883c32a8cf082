"""The page of `semplan compare --html`: plans A and B side by side, by section, coloured by status.

One self-contained file (no network, no plotly). All text goes through jinja2's autoescaping; the
word diff is built here from escaped pieces (`<del>` for what A had, `<ins>` for what B has).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from semplan._fs import write_text_atomic
from semplan.report.view import jinja_environment

if TYPE_CHECKING:
    from semplan.compare import ComparedPair, Comparison

STATUS_LABELS = {"same": "same", "reworded": "reworded", "added": "added in B", "removed": "removed from A"}


@lru_cache(maxsize=1)
def _environment() -> Any:
    return jinja_environment(autoescape=True)


def side_html(pair: ComparedPair, side: str) -> Markup:
    """One side of a pair: its text, with the words the other side lacks marked (`<del>` in A, `<ins>` in B)."""
    clause = pair.a if side == "a" else pair.b
    if clause is None:
        return Markup("")
    if not pair.diff:
        return escape(clause.text)
    tag = "del" if side == "a" else "ins"
    pieces = []
    for piece in pair.diff:
        text = piece.a if side == "a" else piece.b
        if not text:
            continue
        pieces.append(str(escape(text)) if piece.op == "equal" else f"<{tag}>{escape(text)}</{tag}>")
    return Markup("".join(pieces))


def sections(comparison: Comparison) -> list[tuple[str, dict[str, Any], list[ComparedPair]]]:
    """The pairs grouped by section, in reading order, each section with its counts."""
    counts = {row["section"]: row for row in comparison.sections()}
    return [(section, counts[section], pairs) for section, pairs in comparison.by_section()]


def render_compare_html(comparison: Comparison) -> str:
    return _environment().get_template("compare.html.j2").render(
        comparison=comparison,
        counts=comparison.counts(),
        moved=sum(pair.moved for pair in comparison.pairs),
        sections=sections(comparison),
        side=side_html,
        labels=STATUS_LABELS,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_compare_html(comparison: Comparison, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, render_compare_html(comparison))
