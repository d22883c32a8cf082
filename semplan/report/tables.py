"""The report's tables: priorities.csv and clauses.csv, and every sheet of report.xlsx.

Each table is (header, rows) built from the view model, so the CSV files, the spreadsheet and
`semplan trends --csv` show the same columns.
"""

from __future__ import annotations

import os
from pathlib import Path

from semplan._csv import csv_text
from semplan._fs import write_text_atomic
from semplan.report.trends import PriorityTrends
from semplan.report.view import ReportView

Table = tuple[list[str], list[list[object]]]


def _round(value: float | None, digits: int = 4) -> object:
    return "" if value is None else round(value, digits)


def priorities_table(view: ReportView) -> Table:
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


def clauses_table(view: ReportView) -> Table:
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


def evidence_table(view: ReportView) -> Table:
    """One row per (priority, member plan): that plan's best clause against the priority's core."""
    header = ["priority_id", "label", "tier", "plan", "covers", "verdict", "score", "shared_terms", "clause_id",
              "clause", "core_clause"]  # fmt: skip
    rows: list[list[object]] = []
    analysis = view.analysis
    for shown in view.priorities:
        priority = shown.priority
        for evidence in priority.evidence:
            rows.append([priority.priority_id, priority.label, priority.tier, evidence.plan_id, int(evidence.covers),
                         evidence.verdict or "", _round(evidence.score), " ".join(evidence.shared_terms),
                         evidence.clause_id, analysis.clause(evidence.clause_id).text, shown.central.text])  # fmt: skip
    return header, rows


def plan_matrix_table(view: ReportView) -> Table:
    """Plan × plan: the share of the row plan's clauses with a match in the column plan."""
    header = ["plan", *(plan for plan, _ in view.plan_similarity)]
    return header, [[plan, *(_round(share) for _, share in row)] for plan, row in view.plan_similarity]


def unique_clauses_table(view: ReportView) -> Table:
    """Every plan's unique clauses (no match in any other plan), least echoed elsewhere first."""
    header = ["plan", "rank", "clause_id", "kind", "path", "best_match_id", "best_match_score", "text"]
    rows: list[list[object]] = []
    for plan in view.analysis.plans:
        for rank, clause in enumerate(view.analysis.unique_clauses_least_echoed_first(plan), start=1):
            shown = view.clauses[view.row(clause.clause_id)]
            rows.append([plan, rank, shown.clause_id, shown.kind, shown.path, shown.best_match_id or "",
                         _round(shown.best_match_score), shown.text])  # fmt: skip
    return header, rows


def trends_table(trends: PriorityTrends) -> Table:
    """One row per priority: its clauses per group, its share of each group's clauses, its trend."""
    header = ["priority_id", "label", *trends.groups, *(f"share:{group}" for group in trends.groups),
              "trend", "first", "last"]  # fmt: skip
    rows = [
        [entry.priority_id, entry.label, *entry.counts.values(), *(round(share, 4) for share in entry.shares.values()),
         entry.direction or "", entry.first or "", entry.last or ""]  # fmt: skip
        for entry in trends.priorities
    ]
    return header, rows


def write_priorities_csv(view: ReportView, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, csv_text(*priorities_table(view)), newline="")


def write_clauses_csv(view: ReportView, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, csv_text(*clauses_table(view)), newline="")
