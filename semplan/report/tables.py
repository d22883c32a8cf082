"""priorities.csv and clauses.csv: one row per priority, one row per clause."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from semplan.cluster import PriorityAnalysis
from semplan.report._io import write_text_atomic


def _csv_text(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _round(value: float | None, digits: int = 4) -> object:
    return "" if value is None else round(value, digits)


def priorities_table(analysis: PriorityAnalysis) -> tuple[list[str], list[list[object]]]:
    """One row per priority in report order, with one clause-count column per plan."""
    header = [
        "priority_id",
        "label",
        "keywords",
        "tier",
        "n_plans",
        "plans",
        "size",
        "cohesion",
        "central_clause_id",
        "central_clause",
    ] + [f"clauses_in:{plan}" for plan in analysis.plans]
    rows = []
    for priority in analysis.priorities:
        coverage = dict(priority.coverage)
        rows.append(
            [
                priority.priority_id,
                priority.label,
                " ".join(priority.keywords),
                priority.tier,
                priority.n_plans,
                " ".join(priority.plans),
                priority.size,
                _round(priority.cohesion),
                priority.central_clause_id,
                analysis.clause(priority.central_clause_id).text,
            ]
            + [coverage.get(plan, 0) for plan in analysis.plans]
        )
    return header, rows


def clauses_table(analysis: PriorityAnalysis) -> tuple[list[str], list[list[object]]]:
    """One row per clause in corpus order: where it landed and its best match elsewhere."""
    header = [
        "clause_id",
        "plan",
        "n",
        "kind",
        "priority_id",
        "priority_label",
        "score",
        "membership",
        "assigned",
        "outlier",
        "unique",
        "best_match_id",
        "best_match_score",
        "best_match_z",
        "path",
        "start",
        "end",
        "text",
    ]
    rows = []
    for clause, result in zip(analysis.clauses, analysis.results, strict=True):
        label = analysis.priority(result.priority_id).label if result.priority_id is not None else ""
        rows.append(
            [
                clause.clause_id,
                clause.plan_id,
                clause.n,
                clause.kind,
                "" if result.priority_id is None else result.priority_id,
                label,
                _round(result.score),
                _round(result.membership),
                int(result.assigned),
                int(result.priority_id is None),
                int(result.unique),
                result.best_match_id or "",
                _round(result.best_match_score),
                _round(result.best_match_z, 2),
                clause.path or "",
                clause.spans[0][0] if clause.spans else "",
                clause.spans[-1][1] if clause.spans else "",
                clause.text,
            ]
        )
    return header, rows


def write_priorities_csv(analysis: PriorityAnalysis, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, _csv_text(*priorities_table(analysis)), newline="")


def write_clauses_csv(analysis: PriorityAnalysis, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, _csv_text(*clauses_table(analysis)), newline="")
