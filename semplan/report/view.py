"""The report's view model: what a clause, a priority and a plan show, built once per report.

Every writer (HTML, Markdown, the CSV tables, JSON, the figures) reads a `ReportView`, so a row
means the same thing in every file and a change to what a clause shows is made in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semplan.report.trends import PriorityTrends, priority_trends

if TYPE_CHECKING:
    from semplan.cluster import ClauseResult, Priority, PriorityAnalysis
    from semplan.metadata import PlanMetadata
    from semplan.segment import Clause

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Embedding every plan's full text keeps the links to source positions inside the page;
# beyond this many characters the page would get unwieldy, so links give file + offsets.
MAX_EMBEDDED_SOURCE_CHARS = 3_000_000
# Clauses listed under one priority / one plan's unique list before "… more in clauses.csv".
MAX_CLAUSES_PER_PRIORITY = 60
MAX_UNIQUE_CLAUSES_PER_PLAN = 40
# Colours for plans (Okabe–Ito, then Tableau), repeated when there are more plans.
PLAN_COLOURS = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000",
    "#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#76B7B2", "#EDC948", "#FF9DA7", "#9C755F",
]  # fmt: skip


def plan_colour(index: int) -> str:
    return PLAN_COLOURS[index % len(PLAN_COLOURS)]


def anchor(clause_id: str) -> str:
    """The element id of a clause in the page's source view (`plan#n` → `c-plan-n`)."""
    return "c-" + clause_id.replace("#", "-").replace(" ", "_")


@dataclass(frozen=True)
class ClauseView:
    """One clause as every output shows it: its text and place, and where it landed."""

    clause_id: str
    plan_id: str
    n: int
    kind: str
    text: str
    path: str  # `一、section › 3. item`, or "" outside any section
    start: int  # the clause's extent in its source: first span's start, last span's end
    end: int
    anchor: str
    priority_id: int | None
    priority_label: str  # "" for an outlier
    score: float | None
    membership: float
    assigned: bool
    outlier: bool
    unique: bool
    central: bool  # the most central clause of its priority
    best_match_id: str | None
    best_match_score: float | None
    best_match_z: float | None


@dataclass(frozen=True)
class EvidenceView:
    """One member plan's best clause against the priority's core, its shared terms marked."""

    plan_id: str
    clause_id: str
    score: float
    verdict: str | None
    covers: bool
    shared_terms: tuple[str, ...]
    marked_text: Any  # markupsafe.Markup: the clause, shared terms in <mark>
    text: str  # the clause, for writers that mark `shared_spans` their own way
    shared_spans: tuple[tuple[int, int], ...]  # the shared terms' offsets in `text`
    marked_core: Any  # the core clause, the same terms in <mark>


@dataclass(frozen=True)
class PriorityView:
    priority: Priority
    central: ClauseView
    by_plan: list[tuple[str, list[ClauseView]]]  # the first MAX_CLAUSES_PER_PRIORITY, by plan
    hidden: int  # clauses beyond those
    evidence: list[EvidenceView] = field(default_factory=list)  # covering plans weakest first, then weak members

    @property
    def weakest(self) -> EvidenceView | None:
        """The weakest covering plan other than the core's own: where a false tier shows first."""
        others = [e for e in self.evidence if e.covers and e.clause_id != self.central.clause_id]
        return others[0] if others else None


@dataclass(frozen=True)
class PlanView:
    plan: str
    colour: str
    path: str | None  # the plan's file, when known
    n_clauses: int
    unique_priorities: list[Priority]
    unique_clauses: list[ClauseView]  # least echoed elsewhere first, the first MAX_UNIQUE_CLAUSES_PER_PLAN
    unique_total: int
    outliers: list[ClauseView]
    source: str | None  # the decoded text, when the page embeds sources
    metadata: PlanMetadata | None = None  # title, issuer, level, year, document type

    def to_dict(self) -> dict[str, Any]:
        """The plan as report.json lists it: its id, its metadata (None where unknown) and its clause count."""
        metadata = self.metadata.to_dict() if self.metadata is not None else {"plan_id": self.plan}
        return {**metadata, "n_clauses": self.n_clauses}


@dataclass
class ReportView:
    analysis: PriorityAnalysis
    title: str
    metadata: dict[str, Any]
    generated: str
    clauses: list[ClauseView]  # aligned with analysis.clauses
    priorities: list[PriorityView]  # report order
    plans: list[PlanView]
    tier_counts: dict[str, int]
    n_outliers: int
    n_assigned: int
    n_unique: int
    plan_similarity: list[tuple[str, list[tuple[str, float]]]]  # row plan → (column plan, share)
    source_paths: dict[str, str | None]
    embed_sources: bool
    by_year: PriorityTrends | None = None  # every priority's clauses per year (plans without one: "unknown")
    _rows: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rows = {clause.clause_id: i for i, clause in enumerate(self.clauses)}

    @property
    def over_time(self) -> PriorityTrends | None:
        """`by_year` when the plans span at least two years: the report's over-time section."""
        return self.by_year if self.by_year is not None and self.by_year.has_trends else None

    def row(self, clause_id: str) -> int:
        """The clause's position in `clauses`, and so in the analysis' arrays (map_xy)."""
        return self._rows[clause_id]


def report_view(
    analysis: PriorityAnalysis,
    *,
    sources: Mapping[str, str] | None = None,
    source_paths: Mapping[str, str | None] | None = None,
    title: str = "semplan report",
    metadata: Mapping[str, Any] | None = None,
    plan_metadata: Mapping[str, PlanMetadata] | None = None,
) -> ReportView:
    """The view of `analysis`. `sources` (plan → decoded text) are embedded in the page unless
    too big; `source_paths` (plan → file) are shown beside each plan; `plan_metadata` (plan →
    semplan.metadata.PlanMetadata) is shown with each plan and groups the priorities by year."""
    plan_metadata = dict(plan_metadata or {})
    sources = dict(sources or {})
    source_paths = dict(source_paths or {})
    embed_sources = bool(sources) and sum(len(t) for t in sources.values()) <= MAX_EMBEDDED_SOURCE_CHARS
    central_ids = {priority.central_clause_id for priority in analysis.priorities}
    clauses = [
        _clause_view(analysis, clause, result, clause.clause_id in central_ids)
        for clause, result in zip(analysis.clauses, analysis.results, strict=True)
    ]
    by_id = {view.clause_id: view for view in clauses}

    priorities = []
    for priority in analysis.priorities:
        by_plan: dict[str, list[ClauseView]] = {}
        for clause_id in priority.clause_ids[:MAX_CLAUSES_PER_PRIORITY]:
            by_plan.setdefault(by_id[clause_id].plan_id, []).append(by_id[clause_id])
        priorities.append(
            PriorityView(
                priority=priority,
                central=by_id[priority.central_clause_id],
                by_plan=[(plan, by_plan[plan]) for plan in analysis.plans if plan in by_plan],
                hidden=max(0, priority.size - MAX_CLAUSES_PER_PRIORITY),
                evidence=[_evidence_view(analysis, priority, e) for e in priority.evidence],
            )
        )

    plans = []
    for index, plan in enumerate(analysis.plans):
        unique = analysis.unique_clauses_least_echoed_first(plan)
        plans.append(
            PlanView(
                plan=plan,
                colour=plan_colour(index),
                path=source_paths.get(plan),
                n_clauses=len(analysis.plan_clauses(plan)),
                unique_priorities=analysis.unique_priorities(plan),
                unique_clauses=[by_id[c.clause_id] for c in unique[:MAX_UNIQUE_CLAUSES_PER_PLAN]],
                unique_total=len(unique),
                outliers=[by_id[c.clause_id] for c in analysis.plan_outliers(plan)],
                source=sources[plan] if embed_sources and plan in sources else None,
                metadata=plan_metadata.get(plan),
            )
        )

    return ReportView(
        analysis=analysis,
        title=title,
        metadata=dict(metadata or {}),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        clauses=clauses,
        priorities=priorities,
        plans=plans,
        tier_counts=analysis.tier_counts(),
        n_outliers=len(analysis.outliers),
        n_assigned=sum(r.assigned for r in analysis.results),
        n_unique=sum(r.unique for r in analysis.results),
        plan_similarity=[
            (a, [(b, float(analysis.plan_similarity[i, j])) for j, b in enumerate(analysis.plans)])
            for i, a in enumerate(analysis.plans)
        ],
        source_paths=source_paths,
        embed_sources=embed_sources,
        by_year=priority_trends(analysis, plan_metadata, "year"),
    )


def _evidence_view(analysis: PriorityAnalysis, priority: Priority, evidence: Any) -> EvidenceView:
    from markupsafe import Markup, escape

    from semplan.shared_terms import highlight_with, shared_terms

    core = analysis.clause(priority.central_clause_id).text
    text = analysis.clause(evidence.clause_id).text
    # The core against itself would mark every word: nothing to explain there.
    shared = shared_terms(core, text) if evidence.clause_id != priority.central_clause_id else shared_terms("", "")

    def mark(piece: str) -> str:
        return f"<mark>{escape(piece)}</mark>"

    def plain(piece: str) -> str:
        return str(escape(piece))

    return EvidenceView(
        plan_id=evidence.plan_id,
        clause_id=evidence.clause_id,
        score=evidence.score,
        verdict=evidence.verdict,
        covers=evidence.covers,
        shared_terms=evidence.shared_terms,
        marked_text=Markup(highlight_with(text, shared.spans_b, mark, plain)),
        text=text,
        shared_spans=tuple(shared.spans_b),
        marked_core=Markup(highlight_with(core, shared.spans_a, mark, plain)),
    )


def _clause_view(analysis: PriorityAnalysis, clause: Clause, result: ClauseResult, central: bool) -> ClauseView:
    start, end = clause.extent
    return ClauseView(
        clause_id=clause.clause_id,
        plan_id=clause.plan_id,
        n=clause.n,
        kind=clause.kind,
        text=clause.text,
        path=clause.path or "",
        start=start,
        end=end,
        anchor=anchor(clause.clause_id),
        priority_id=result.priority_id,
        priority_label=analysis.priority(result.priority_id).label if result.priority_id is not None else "",
        score=result.score,
        membership=result.membership,
        assigned=result.assigned,
        outlier=result.priority_id is None,
        unique=result.unique,
        central=central,
        best_match_id=result.best_match_id,
        best_match_score=result.best_match_score,
        best_match_z=result.best_match_z,
    )


def jinja_environment(*, autoescape: bool, keep_trailing_newline: bool = False) -> Any:
    """The report templates' environment: a missing name fails, block tags leave no blank lines."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=keep_trailing_newline,
    )
    environment.filters["percent"] = lambda value: f"{value:.0%}"
    return environment
