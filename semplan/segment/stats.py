"""Per-plan counts and clause lengths: how `semplan segment --stats` checks a segmentation."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from semplan.segment.clause import CLAUSE_KINDS, Clause
from semplan.segment.lines import LineReport


@dataclass(frozen=True)
class Segmentation:
    """A plan's clauses and what the line steps left out of them (chrome, markup, empty table rows)."""

    plan_id: str
    clauses: list[Clause]
    lines: LineReport


@dataclass(frozen=True)
class PlanStats:
    plan_id: str
    clauses: int
    by_kind: dict[str, int]
    sections: int
    items: int
    item_gaps: tuple[tuple[int, int], ...]  # (number before, number after) where numbering jumps
    min_chars: int
    median_chars: float
    p95_chars: int
    max_chars: int
    chrome_lines: int = 0  # lines left out as web or document-site chrome
    soft_breaks: int = 0  # line breaks joined inside a paragraph (wraps, markup breaks)
    table_rows_skipped: int = 0  # table rows without text


def item_number_gaps(clauses: Iterable[Clause]) -> list[tuple[int, int]]:
    """Places where a plan's item numbers skip (a restart at 1 in a new section is not a gap)."""
    gaps = []
    previous = None
    for clause in clauses:
        number = clause.item_number
        if number is None or number == previous:
            continue
        if previous is not None and number != previous + 1 and number != 1:
            gaps.append((previous, number))
        previous = number
    return gaps


def plan_stats(items: Iterable[Clause | Segmentation]) -> list[PlanStats]:
    """Per-plan counts and clause-length distribution, in the order plans first appear.

    Given `Segmentation`s, the counts of what the line steps left out are filled in too."""
    by_plan: dict[str, list[Clause]] = {}
    reports: dict[str, LineReport] = {}
    for item in items:
        if isinstance(item, Segmentation):
            by_plan.setdefault(item.plan_id, []).extend(item.clauses)
            reports[item.plan_id] = item.lines
        else:
            by_plan.setdefault(item.plan_id, []).append(item)
    result = []
    for plan_id, plan_clauses in by_plan.items():
        lengths = sorted(len(clause.text) for clause in plan_clauses) or [0]
        report = reports.get(plan_id, LineReport())
        result.append(
            PlanStats(
                plan_id=plan_id,
                clauses=len(plan_clauses),
                by_kind={kind: sum(c.kind == kind for c in plan_clauses) for kind in CLAUSE_KINDS},
                sections=len({c.section_number for c in plan_clauses if c.section_number is not None}),
                items=len({(c.section_number, c.item_number, c.item_title) for c in plan_clauses
                           if c.item_number is not None or c.item_title}),
                item_gaps=tuple(item_number_gaps(plan_clauses)),
                min_chars=lengths[0],
                median_chars=statistics.median(lengths),
                p95_chars=lengths[min(len(lengths) - 1, round(0.95 * (len(lengths) - 1)))],
                max_chars=lengths[-1],
                chrome_lines=report.chrome_lines,
                soft_breaks=report.soft_breaks,
                table_rows_skipped=report.table_rows_skipped,
            )
        )
    return result
