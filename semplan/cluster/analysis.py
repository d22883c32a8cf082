"""The results of `find_priorities` as records: each priority, each clause's result, and the
analysis the report and the CLI read (JSON views and the one-line summary included)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semplan.segment import Clause

TIERS = ("all", "several", "unique")


def tier_for(n_plans_covered: int, n_plans: int) -> str:
    """ "all" (every plan, when there are at least two), "several" (≥ 2 plans), else "unique"."""
    if n_plans_covered == n_plans and n_plans > 1:
        return "all"
    if n_plans_covered >= 2:
        return "several"
    return "unique"


@dataclass(frozen=True)
class PlanEvidence:
    """One plan's best clause in a priority: how close it is to the priority's core clause.

    The plan covers the priority only when that clause is a `same` match to the core
    (semplan.verdict): "all plans prioritise X" claims the same commitment in every plan, and a
    `related` clause is by definition another commitment on the topic (德育 for students beside
    师德 for teachers). Otherwise the plan is a weak member, there by the clusterer's say alone.
    Without a calibrated model (verdict None) every plan with a non-heading clause covers.
    """

    plan_id: str
    clause_id: str
    score: float  # cosine similarity to the core clause
    verdict: str | None
    covers: bool
    shared_terms: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan_id,
            "clause_id": self.clause_id,
            "score": round(self.score, 4),
            "verdict": self.verdict,
            "covers": self.covers,
            "shared_terms": list(self.shared_terms),
        }


@dataclass(frozen=True)
class Priority:
    """One cluster of clauses that say the same thing."""

    priority_id: int  # 1-based, in report order (widest coverage first)
    label: str  # top keywords joined by " / "
    keywords: tuple[str, ...]
    clause_ids: tuple[str, ...]
    central_clause_id: str  # the member closest to the priority's centroid
    coverage: tuple[tuple[str, int], ...]  # (plan, number of clauses), in corpus plan order
    tier: str  # one of TIERS
    cohesion: float  # mean cosine similarity of members to the centroid
    # Per plan with a member: its best clause against the core (central) clause; the covering plans
    # first, weakest first, then the weak members. The tier counts covering plans only.
    evidence: tuple[PlanEvidence, ...] = ()

    @property
    def covering_plans(self) -> tuple[str, ...]:
        return tuple(e.plan_id for e in self.evidence if e.covers)

    @property
    def weak_plans(self) -> tuple[str, ...]:
        """Plans with a member but no `same` match to the core: they do not count towards the tier."""
        return tuple(e.plan_id for e in self.evidence if not e.covers)

    @property
    def size(self) -> int:
        return len(self.clause_ids)

    @property
    def plans(self) -> tuple[str, ...]:
        return tuple(plan for plan, _ in self.coverage)

    @property
    def n_plans(self) -> int:
        return len(self.coverage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "priority_id": self.priority_id,
            "label": self.label,
            "keywords": list(self.keywords),
            "tier": self.tier,
            "size": self.size,
            "n_plans": self.n_plans,
            "coverage": dict(self.coverage),
            "central_clause_id": self.central_clause_id,
            "cohesion": round(self.cohesion, 4),
            "clause_ids": list(self.clause_ids),
            "covering_plans": list(self.covering_plans),
            "weak_plans": list(self.weak_plans),
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass(frozen=True)
class ClauseResult:
    """Where one clause landed, and how it compares with the other plans."""

    clause_id: str
    plan_id: str
    priority_id: int | None  # None: an outlier (not assigned)
    score: float | None  # cosine similarity to its priority's centroid
    membership: float  # HDBSCAN membership strength (0 for outliers, also once assigned)
    assigned: bool  # an outlier placed in its nearest priority by --assign-outliers
    best_match_id: str | None  # best-scoring clause of any other plan
    best_match_score: float | None  # its cosine similarity
    best_match_z: float | None  # the same against this clause's background (cross_plan_matches)
    unique: bool  # no match in any other plan, an outlier or in a single-plan priority, and not noise
    noise: bool = False  # an outlier that commits to nothing: a fragment or formula (see find_priorities)
    formula: bool = False  # text half the plans repeat nearly verbatim (semplan.cluster.formula)
    # UMAP was fitted on this clause; False: a large corpus was fitted on a seeded sample
    # (`umap_sample`) and this clause placed beside its nearest sample clauses (PriorityClusterer).
    fitted: bool = True

    @property
    def outlier_kind(self) -> str | None:
        """For a clause in no priority: "noise" (a fragment or formula), "unique" (a real
        commitment no other plan makes) or "unplaced" (echoed elsewhere, but in no priority)."""
        if self.priority_id is not None:
            return None
        if self.formula:
            return "formula"
        return "noise" if self.noise else "unique" if self.unique else "unplaced"

    def to_dict(self) -> dict[str, Any]:
        return {
            "clause_id": self.clause_id,
            "plan": self.plan_id,
            "priority_id": self.priority_id,
            "score": None if self.score is None else round(self.score, 4),
            "membership": round(self.membership, 4),
            "assigned": self.assigned,
            "best_match_id": self.best_match_id,
            "best_match_score": None if self.best_match_score is None else round(self.best_match_score, 4),
            "best_match_z": None if self.best_match_z is None else round(self.best_match_z, 2),
            "unique": self.unique,
            "noise": self.noise,
            "formula": self.formula,
            "outlier_kind": self.outlier_kind,
            "fitted": self.fitted,
        }


CLAUSE_FRAME_COLUMNS = ("clause_id", "plan", "n", "kind", "path", "priority_id", "priority_label", "score",
                        "membership", "assigned", "unique", "noise", "formula", "outlier_kind", "best_match_id",
                        "best_match_score", "best_match_z", "text")  # fmt: skip
PRIORITY_FRAME_COLUMNS = ("priority_id", "label", "tier", "size", "n_plans", "cohesion", "keywords",
                          "central_clause_id", "central_clause")  # fmt: skip


@dataclass
class PriorityAnalysis:
    """Everything the report shows: priorities, per-clause results, plan overlap, a 2-D map."""

    plans: list[str]
    clauses: list[Clause]
    results: list[ClauseResult]  # aligned with `clauses`
    priorities: list[Priority]
    match_rule: dict[str, Any]  # how a cross-plan match was decided (see cross_plan_matches)
    plan_similarity: np.ndarray  # [a, b] = share of a's clauses with a match in b
    map_xy: np.ndarray | None  # (n_clauses, 2), or None when not computed
    parameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._clause_index = {clause.clause_id: i for i, clause in enumerate(self.clauses)}
        self._priority_index = {priority.priority_id: priority for priority in self.priorities}
        self._rows_by_plan: dict[str, list[int]] = {plan: [] for plan in self.plans}
        for i, clause in enumerate(self.clauses):
            self._rows_by_plan.setdefault(clause.plan_id, []).append(i)

    def clause(self, clause_id: str) -> Clause:
        return self.clauses[self._clause_index[clause_id]]

    def result(self, clause_id: str) -> ClauseResult:
        return self.results[self._clause_index[clause_id]]

    def priority(self, priority_id: int) -> Priority:
        return self._priority_index[priority_id]

    @property
    def outliers(self) -> list[Clause]:
        """Clauses in no priority (after any assignment); never dropped, reported as such."""
        return [c for c, r in zip(self.clauses, self.results, strict=True) if r.priority_id is None]

    @property
    def noise(self) -> list[Clause]:
        """Outliers that commit to nothing (fragments, formulas): shown apart, never as findings."""
        return [c for c, r in zip(self.clauses, self.results, strict=True) if r.outlier_kind == "noise"]

    @property
    def formula(self) -> list[Clause]:
        """Formula clauses (semplan.cluster.formula): the plans' shared set phrases, in no priority."""
        return [c for c, r in zip(self.clauses, self.results, strict=True) if r.formula]

    def formula_passages(self) -> list[tuple[str, list[str]]]:
        """Each distinct formula text (as shown by its first clause) and the plans that use it, most plans first."""
        from semplan.normalize import matching_text

        groups: dict[str, tuple[str, list[str]]] = {}
        for clause in self.formula:
            key = matching_text(clause.text)
            text, plans = groups.setdefault(key, (clause.text, []))
            if clause.plan_id not in plans:
                plans.append(clause.plan_id)
        return sorted(groups.values(), key=lambda entry: (-len(entry[1]), entry[0]))

    def outlier_counts(self) -> dict[str, int]:
        """Outliers by kind: unique (a commitment no other plan makes), unplaced, noise."""
        counts = Counter(r.outlier_kind for r in self.results if r.priority_id is None)
        return {kind: counts.get(kind, 0) for kind in ("unique", "unplaced", "noise", "formula")}

    def plan_clauses(self, plan_id: str) -> list[Clause]:
        """A plan's clauses, in corpus order."""
        return [self.clauses[i] for i in self._rows_by_plan.get(plan_id, [])]

    def plan_outliers(self, plan_id: str) -> list[Clause]:
        return [
            self.clauses[i]
            for i in self._rows_by_plan.get(plan_id, [])
            if self.results[i].priority_id is None
        ]

    def unique_clauses(self, plan_id: str) -> list[Clause]:
        return [self.clauses[i] for i in self._rows_by_plan.get(plan_id, []) if self.results[i].unique]

    def unique_clauses_least_echoed_first(self, plan_id: str) -> list[Clause]:
        """A plan's unique clauses for reading: lowest best-match standard score elsewhere first."""
        return sorted(
            self.unique_clauses(plan_id),
            key=lambda c: (self.result(c.clause_id).best_match_z or 0.0, c.n),
        )

    def unique_priorities(self, plan_id: str) -> list[Priority]:
        return [p for p in self.priorities if p.tier == "unique" and p.plans == (plan_id,)]

    def tier_counts(self) -> dict[str, int]:
        counts = Counter(p.tier for p in self.priorities)
        return {tier: counts.get(tier, 0) for tier in TIERS}

    def summary(self) -> str:
        """One line of what was found, as both `semplan cluster` and `semplan report` print it."""
        counts = self.tier_counts()
        outliers = self.outlier_counts()
        return (
            f"{len(self.priorities)} priorities over {len(self.plans)} plans "
            f"({counts['all']} all, {counts['several']} several, {counts['unique']} unique); "
            f"{len(self.outliers)} outliers ({outliers['unique']} unique, {outliers['unplaced']} unplaced, "
            f"{outliers['noise']} noise, {outliers['formula']} formula); {sum(r.unique for r in self.results)} unique clauses"
        )

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per clause: its text and where it landed (needs semplan[frames])."""
        from semplan._frames import data_frame

        rows = []
        for clause, result in zip(self.clauses, self.results, strict=True):
            priority = self._priority_index.get(result.priority_id) if result.priority_id is not None else None
            rows.append({**result.to_dict(), "n": clause.n, "kind": clause.kind, "path": clause.path or "",
                         "priority_label": priority.label if priority else None,
                         "outlier_kind": result.outlier_kind, "text": clause.text})  # fmt: skip
        return data_frame(rows, CLAUSE_FRAME_COLUMNS)

    def priorities_frame(self) -> Any:
        """A pandas DataFrame, one row per priority in report order, a clause count column per plan."""
        from semplan._frames import data_frame

        rows = []
        for priority in self.priorities:
            coverage = dict(priority.coverage)
            rows.append({"priority_id": priority.priority_id, "label": priority.label, "tier": priority.tier,
                         "size": priority.size, "n_plans": priority.n_plans, "cohesion": priority.cohesion,
                         "keywords": " ".join(priority.keywords), "central_clause_id": priority.central_clause_id,
                         "central_clause": self.clause(priority.central_clause_id).text,
                         **{plan: coverage.get(plan, 0) for plan in self.plans}})  # fmt: skip
        return data_frame(rows, [*PRIORITY_FRAME_COLUMNS, *self.plans])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the whole analysis (what report.json holds)."""
        clause_rows = []
        for clause, result in zip(self.clauses, self.results, strict=True):
            row = result.to_dict()
            row.update(
                n=clause.n,
                kind=clause.kind,
                path=clause.path,
                text=clause.text,
                spans=[list(span) for span in clause.spans],
            )
            if self.map_xy is not None:
                index = self._clause_index[clause.clause_id]
                row["map_xy"] = [round(float(v), 4) for v in self.map_xy[index]]
            clause_rows.append(row)
        return {**self._findings(), "clauses": clause_rows}

    def summary_dict(self) -> dict[str, Any]:
        """`to_dict` without the per-clause rows, each priority with the text of its central
        clause: what `semplan cluster --json` prints for scripts."""
        data = self._findings()
        for priority in data["priorities"]:
            priority["central_clause"] = self.clause(priority["central_clause_id"]).text
        return data

    def _findings(self) -> dict[str, Any]:
        return {
            "plans": list(self.plans),
            "parameters": self.parameters,
            "match_rule": self.match_rule,
            "tier_counts": self.tier_counts(),
            "priorities": [p.to_dict() for p in self.priorities],
            "unique_clauses": {plan: [c.clause_id for c in self.unique_clauses(plan)] for plan in self.plans},
            "unique_priorities": {
                plan: [p.priority_id for p in self.unique_priorities(plan)] for plan in self.plans
            },
            "outliers": [c.clause_id for c in self.outliers],
            "outlier_counts": self.outlier_counts(),
            "noise": [c.clause_id for c in self.noise],
            "formula": [{"text": text, "plans": plans} for text, plans in self.formula_passages()],
            "plan_similarity": {
                a: {b: round(float(self.plan_similarity[i, j]), 4) for j, b in enumerate(self.plans)}
                for i, a in enumerate(self.plans)
            },
        }
