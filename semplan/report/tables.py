"""priorities.csv and clauses.csv: one row per priority, one row per clause."""

from __future__ import annotations

import os
from pathlib import Path

from semplan._csv import csv_text
from semplan._fs import write_text_atomic
from semplan.report.view import ReportView


def _round(value: float | None, digits: int = 4) -> object:
    return "" if value is None else round(value, digits)


def priorities_table(view: ReportView) -> tuple[list[str], list[list[object]]]:
    """One row per priority in report order, with one clause-count column per plan."""
    plans = view.analysis.plans
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
    ] + [f"clauses_in:{plan}" for plan in plans]
    rows = []
    for shown in view.priorities:
        priority = shown.priority
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
                shown.central.text,
            ]
            + [coverage.get(plan, 0) for plan in plans]
        )
    return header, rows


def clauses_table(view: ReportView) -> tuple[list[str], list[list[object]]]:
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
    for clause in view.clauses:
        rows.append(
            [
                clause.clause_id,
                clause.plan_id,
                clause.n,
                clause.kind,
                "" if clause.priority_id is None else clause.priority_id,
                clause.priority_label,
                _round(clause.score),
                _round(clause.membership),
                int(clause.assigned),
                int(clause.outlier),
                int(clause.unique),
                clause.best_match_id or "",
                _round(clause.best_match_score),
                _round(clause.best_match_z, 2),
                clause.path,
                clause.start,
                clause.end,
                clause.text,
            ]
        )
    return header, rows


def write_priorities_csv(view: ReportView, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, csv_text(*priorities_table(view)), newline="")


def write_clauses_csv(view: ReportView, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, csv_text(*clauses_table(view)), newline="")
