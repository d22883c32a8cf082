"""`find_priorities`: clauses and their vectors in, a `PriorityAnalysis` out.

Fit the clusterer, optionally place outliers in their nearest priority, label and order the
priorities, match every clause across plans, and lay out the 2-D map. No I/O here.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan._progress import NO_PROGRESS, Progress
from semplan.cluster.analysis import ClauseResult, PlanEvidence, Priority, PriorityAnalysis, tier_for
from semplan.cluster.formula import formula_clauses
from semplan.cluster.keywords import LabelWords, class_keywords, read_label_words, terms_per_text
from semplan.cluster.matching import DEFAULT_MATCH_ALPHA, CrossPlanMatches, cross_plan_matches, match_rule
from semplan.errors import ClusteringError, InvalidArgument
from semplan.segment import Clause
from semplan.shared_terms import shared_terms
from semplan.verdict import Calibration

if TYPE_CHECKING:
    from semplan.cluster.estimator import PriorityClusterer

logger = logging.getLogger(__name__)

# An outlier joins its nearest priority if it is at least as close to the centroid
# as this share of the priority's own members are (10 → the loosest 10%).
DEFAULT_ASSIGN_PERCENTILE = 10.0
# find_priorities' short keywords for the clusterer's parameters.
_CLUSTERER_KEYWORDS = {
    "min_cluster_size": "min_cluster_size",
    "min_samples": "min_samples",
    "umap_dims": "umap_dims",
    "umap_sample": "umap_sample",
    "seed": "random_state",
}


@dataclass(frozen=True)
class AnalysisOptions:
    """What `find_priorities` does around the clustering itself."""

    # Place each outlier in its nearest priority when it is close enough: as close to the
    # centroid as the loosest 10% of the priority's members, or `assign_threshold` (cosine).
    assign_outliers: bool = False
    assign_threshold: float | None = None
    # One cosine similarity for a cross-plan match instead of the calibrated per-clause rule,
    # and that rule's chance rate (see cross_plan_matches).
    match_threshold: float | None = None
    match_alpha: float = DEFAULT_MATCH_ALPHA
    n_keywords: int = 5
    map_2d: bool = True
    # The user's label vocabulary: a LabelWords, or the path of a label-words file
    # (`read_label_words`: stop words, and `+term` lines for terms to keep whole).
    label_words: LabelWords | str | Path | None = None
    # The model's verdict thresholds (semplan.verdict.calibration_for): a plan covers a priority only
    # when its best clause there is a `same` match to the core (PlanEvidence). None: no such check.
    verdicts: Calibration | None = None


def find_priorities(
    clauses: Sequence[Clause] | Iterable[Clause],
    vectors: np.ndarray,
    clusterer: PriorityClusterer | None = None,
    options: AnalysisOptions | None = None,
    *,
    timings: dict[str, float] | None = None,
    progress: Progress = NO_PROGRESS,
    **settings: Any,
) -> PriorityAnalysis:
    """Cluster clauses into priorities and compare the plans.

    `vectors[i]` is the (normalised) vector of `clauses[i]`. `clusterer` (fitted here, in
    place) defaults to a `PriorityClusterer()`; its `random_state` also seeds the
    cross-plan matching, so one seed repeats a whole analysis. `settings` are the short
    form: the clusterer's `min_cluster_size`, `min_samples`, `umap_dims`, `umap_sample`
    and `seed` (its random_state), or any `AnalysisOptions` field, each given either
    this way or through the object, not both. `timings`, when given, receives the
    seconds each stage took (for benchmarks). `progress` (semplan._progress) hears of each stage:
    umap, hdbscan, labels, priorities, matching, map.
    """
    # Imported here: the estimator brings scikit-learn, which only a run needs.
    from semplan.cluster.estimator import as_unit_rows

    clusterer, options = _configure(clusterer, options, settings)
    clock = _StageClock(timings, progress)
    clauses = list(clauses)
    X = as_unit_rows(vectors)
    if len(clauses) != X.shape[0]:
        raise ClusteringError(f"{len(clauses)} clauses but {X.shape[0]} vectors")
    if len({c.clause_id for c in clauses}) != len(clauses):
        raise ClusteringError("clause ids are not unique")
    plans = list(dict.fromkeys(c.plan_id for c in clauses))
    plan_number = {plan: p for p, plan in enumerate(plans)}
    plan_of = np.array([plan_number[c.plan_id] for c in clauses], dtype=np.int64)
    with clock("umap+hdbscan", shown=None):  # fit names its two stages itself
        clusterer.fit(X, plans=plan_of, progress=progress)
    labels = clusterer.labels_.copy()
    # Formula (text half the plans repeat nearly verbatim) never makes a priority: out of its cluster.
    formula = formula_clauses(clauses)
    labels = _relabel_without(labels, formula)
    membership = np.where(labels >= 0, clusterer.probabilities_, 0.0)
    centroids = _centroids(X, labels)
    assigned = np.zeros(len(clauses), dtype=bool)
    if options.assign_outliers and len(centroids):
        labels, assigned = assign_to_nearest(X, labels, centroids, threshold=options.assign_threshold)
        assigned &= ~formula
        labels[formula] = -1
        centroids = _centroids(X, labels)

    with clock("labels", shown="labels"):
        words = options.label_words
        if isinstance(words, str | Path):
            words = read_label_words(words)
        terms = terms_per_text((c.match_text for c in clauses), words)
        keywords = class_keywords(terms, labels, n_keywords=options.n_keywords, plan_of=plan_of.tolist())
        noise = np.array([_is_noise(clause, clause_terms) for clause, clause_terms in zip(clauses, terms, strict=True)])
    progress.stage("priorities")
    priority_of, scores = _priorities(clauses, X, labels, centroids, plans, plan_of, keywords, options.verdicts)
    with clock("cross-plan matching", shown="matching"):
        matches = cross_plan_matches(
            X,
            plan_of,
            alpha=options.match_alpha,
            cosine_threshold=options.match_threshold,
            seed=clusterer.random_state,
        )
    fitted = np.ones(len(clauses), dtype=bool)
    if getattr(clusterer, "sample_", None) is not None:
        fitted[:] = False
        fitted[clusterer.sample_] = True
    results = _clause_results(clauses, labels, priority_of, scores, membership, assigned, matches, noise, formula,
                              fitted)
    with clock("2-d map", shown="map" if options.map_2d else None):
        map_xy = clusterer.map_2d() if options.map_2d else None
    return PriorityAnalysis(
        plans=plans,
        clauses=clauses,
        results=results,
        priorities=list(priority_of.values()),
        match_rule=match_rule(
            plans, np.bincount(plan_of, minlength=len(plans)), options.match_alpha, options.match_threshold
        ),
        plan_similarity=matches.plan_similarity,
        map_xy=map_xy,
        parameters=_parameters(clusterer, options, len(clauses)),
    )


def with_verdicts(arguments: dict[str, Any], model_identity: dict[str, Any]) -> dict[str, Any]:
    """`find_priorities` keywords with the verdict thresholds of the model that made the vectors,
    unless they name their own."""
    from dataclasses import replace

    from semplan.verdict import calibration_for

    calibration = calibration_for(model_identity)
    options = arguments.get("options")
    if options is not None:
        return {**arguments, "options": options if options.verdicts else replace(options, verdicts=calibration)}
    return {"verdicts": calibration, **arguments}


def _configure(
    clusterer: PriorityClusterer | None, options: AnalysisOptions | None, settings: dict[str, Any]
) -> tuple[PriorityClusterer, AnalysisOptions]:
    """The clusterer and options of a run, from the objects or from find_priorities' keywords."""
    option_names = {option.name for option in fields(AnalysisOptions)}
    unknown = sorted(settings.keys() - option_names - _CLUSTERER_KEYWORDS.keys())
    if unknown:
        raise InvalidArgument(f"find_priorities() got unexpected keyword arguments: {', '.join(unknown)}")
    clusterer_settings = {_CLUSTERER_KEYWORDS[k]: v for k, v in settings.items() if k in _CLUSTERER_KEYWORDS}
    option_settings = {k: v for k, v in settings.items() if k in option_names}
    if clusterer is not None and clusterer_settings:
        raise InvalidArgument(
            f"give {', '.join(sorted(settings.keys() & _CLUSTERER_KEYWORDS.keys()))} "
            "to the PriorityClusterer, not beside it"
        )
    if options is not None and option_settings:
        raise InvalidArgument(
            f"give {', '.join(sorted(option_settings))} in the AnalysisOptions, not beside them"
        )
    if clusterer is None:
        from semplan.cluster.estimator import PriorityClusterer

        clusterer = PriorityClusterer(**clusterer_settings)
    return clusterer, options or AnalysisOptions(**option_settings)


def _priorities(
    clauses: list[Clause],
    X: np.ndarray,
    labels: np.ndarray,
    centroids: np.ndarray,
    plans: list[str],
    plan_of: np.ndarray,
    keywords: dict[int, list[str]],
    verdicts: Calibration | None = None,
) -> tuple[dict[int, Priority], np.ndarray]:
    """Each cluster's priority, in report order (the widest-covered first, then the biggest),
    and each clause's cosine similarity to its priority's centroid (NaN for outliers)."""
    members_of = _members_by_cluster(labels)
    # A section heading names a topic; it does not commit to anything. A plan whose only clause in
    # a priority is a heading does not count towards the priority's tier, unless headings are all
    # the priority has.
    is_heading = np.array([clause.kind == "heading" for clause in clauses], dtype=bool)
    evidence_of = [members[~is_heading[members]] if (~is_heading[members]).any() else members for members in members_of]
    central_of = [
        evidence[int(np.argmax(X[evidence] @ centroids[cluster]))] for cluster, evidence in enumerate(evidence_of)
    ]
    plan_evidence = [
        _plan_evidence(clauses, X, plans, plan_of, members_of[k], evidence_of[k], central_of[k], verdicts)
        for k in range(len(centroids))
    ]
    n_plans_of = [sum(e.covers for e in evidence) for evidence in plan_evidence]
    order = sorted(range(len(centroids)), key=lambda k: (-n_plans_of[k], -len(members_of[k]), k))
    scores = np.full(len(clauses), np.nan)
    priority_of: dict[int, Priority] = {}
    for priority_id, cluster in enumerate(order, start=1):
        members = members_of[cluster]
        similarity = X[members] @ centroids[cluster]
        scores[members] = similarity
        coverage_counts = Counter(plan_of[members].tolist())
        coverage = tuple((plans[p], coverage_counts[p]) for p in sorted(coverage_counts))
        words = tuple(keywords.get(cluster, ()))
        priority_of[cluster] = Priority(
            priority_id=priority_id,
            label=" / ".join(words[:3]) if words else f"priority {priority_id}",
            keywords=words,
            clause_ids=tuple(clauses[i].clause_id for i in members),
            central_clause_id=clauses[central_of[cluster]].clause_id,
            coverage=coverage,
            tier=tier_for(n_plans_of[cluster], len(plans)),
            cohesion=float(similarity.mean()),
            evidence=plan_evidence[cluster],
        )
    return priority_of, scores


def _plan_evidence(
    clauses: list[Clause],
    X: np.ndarray,
    plans: list[str],
    plan_of: np.ndarray,
    members: np.ndarray,
    evidence: np.ndarray,
    core: int,
    verdicts: Calibration | None,
) -> tuple[PlanEvidence, ...]:
    """Each member plan's best clause against the core clause: covering plans weakest first, then weak members."""
    found = []
    for p in np.unique(plan_of[members]):
        candidates = evidence[plan_of[evidence] == p]
        counts = len(candidates) > 0  # a plan present only through headings never covers
        if not counts:
            candidates = members[plan_of[members] == p]
        scores = X[candidates] @ X[core]
        best = int(candidates[int(np.argmax(scores))])
        score = float(scores.max())
        verdict = verdicts.verdict(score) if verdicts is not None else None
        covers = counts and verdict in (None, "same")
        terms = () if best == core else shared_terms(clauses[core].text, clauses[best].text).terms
        found.append(PlanEvidence(plans[int(p)], clauses[best].clause_id, score, verdict, covers, terms))
    return tuple(sorted(found, key=lambda e: (not e.covers, e.score)))


def _clause_results(
    clauses: list[Clause],
    labels: np.ndarray,
    priority_of: dict[int, Priority],
    scores: np.ndarray,
    membership: np.ndarray,
    assigned: np.ndarray,
    matches: CrossPlanMatches,
    noise: np.ndarray,
    formula: np.ndarray,
    fitted: np.ndarray,
) -> list[ClauseResult]:
    has_other_plans = len({c.plan_id for c in clauses}) > 1
    results = []
    for i, clause in enumerate(clauses):
        priority = priority_of.get(int(labels[i]))
        best_j = int(matches.best_index[i])
        has_match = has_other_plans and best_j >= 0
        # Unique: no match in any other plan, and the clustering agrees (the clause is an
        # outlier or its priority is single-plan); a clause whose priority spans plans has
        # neighbours elsewhere even when no single one of them is a strong match.
        alone_in_clustering = priority is None or priority.tier == "unique"
        is_noise = bool(priority is None and (noise[i] or formula[i]))
        results.append(
            ClauseResult(
                clause_id=clause.clause_id,
                plan_id=clause.plan_id,
                priority_id=None if priority is None else priority.priority_id,
                score=None if np.isnan(scores[i]) else float(scores[i]),
                membership=float(membership[i]),
                assigned=bool(assigned[i]),
                best_match_id=clauses[best_j].clause_id if has_match else None,
                best_match_score=float(matches.best_score[i]) if has_match else None,
                best_match_z=float(matches.best_z[i]) if has_match else None,
                unique=bool(
                    has_other_plans and matches.n_plans_matched[i] == 0 and alone_in_clustering and not is_noise
                ),
                noise=is_noise,
                formula=bool(formula[i]),
                fitted=bool(fitted[i]),
            )
        )
    return results


# Fewer letters than this (CJK characters, Latin letters) make a fragment, not a commitment.
MIN_CONTENT_CHARACTERS = 6
_CONTENT_CHARACTER = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z]")


def _is_noise(clause: Clause, terms: Sequence[str]) -> bool:
    """A fragment (fewer than MIN_CONTENT_CHARACTERS letters: 一是, 2021年3月) or a formula (no
    content word outside the stop words: 要进一步加强和改进工作): says nothing to match."""
    return len(_CONTENT_CHARACTER.findall(clause.match_text)) < MIN_CONTENT_CHARACTERS or not terms


def _parameters(clusterer: PriorityClusterer, options: AnalysisOptions, n_clauses: int) -> dict[str, Any]:
    """The parameters a run used, the effective ones where a default depends on the corpus."""
    sample = getattr(clusterer, "sample_", None)
    return {
        "min_cluster_size": int(clusterer.min_cluster_size_),
        "min_samples": int(clusterer.min_samples_),
        "umap_dims": int(clusterer.umap_dims),
        "n_neighbors": int(clusterer.n_neighbors_),
        "cluster_selection_method": clusterer.cluster_selection_method,
        "seed": clusterer.random_state,
        "assign_outliers": options.assign_outliers,
        "assign_threshold": options.assign_threshold,
        "match_alpha": options.match_alpha if options.match_threshold is None else None,
        "match_threshold": options.match_threshold,
        "n_clauses": n_clauses,
        "umap_fitted_on": len(sample) if sample is not None else n_clauses,
    }


def assign_to_nearest(
    X: np.ndarray,
    labels: np.ndarray,
    centroids: np.ndarray,
    threshold: float | None = None,
    percentile: float = DEFAULT_ASSIGN_PERCENTILE,
) -> tuple[np.ndarray, np.ndarray]:
    """Put each outlier (-1) in the priority with the nearest centroid if it is close enough.

    Close enough: cosine similarity ≥ `threshold`, or, by default, ≥ the `percentile`-th
    percentile of that priority's own members' similarities to its centroid, so a loose
    priority accepts looser clauses than a tight one. Returns new labels and a mask of
    the assigned clauses; outliers not close to any priority stay -1.
    """
    labels = labels.copy()
    outliers = np.flatnonzero(labels < 0)
    assigned = np.zeros(len(labels), dtype=bool)
    if not len(outliers) or not len(centroids):
        return labels, assigned
    if threshold is None:
        floors = np.array(
            [
                np.percentile(X[members] @ centroids[k], percentile) if len(members) else np.inf
                for k, members in enumerate(_members_by_cluster(labels))
            ]
        )
    else:
        floors = np.full(len(centroids), float(threshold))
    similarity = X[outliers] @ centroids.T
    nearest = similarity.argmax(axis=1)
    best = similarity[np.arange(len(outliers)), nearest]
    accept = best >= floors[nearest]
    labels[outliers[accept]] = nearest[accept]
    assigned[outliers[accept]] = True
    return labels, assigned


def _relabel_without(labels: np.ndarray, dropped: np.ndarray) -> np.ndarray:
    """`labels` with the `dropped` clauses made outliers and the clusters left renumbered 0..k-1
    (a cluster of formula alone disappears)."""
    labels = np.where(dropped, -1, labels)
    kept = np.unique(labels[labels >= 0])
    renumber = {int(old): new for new, old in enumerate(kept)}
    return np.array([renumber.get(int(label), -1) for label in labels], dtype=labels.dtype)


def _members_by_cluster(labels: np.ndarray) -> list[np.ndarray]:
    """Row indices of each cluster 0..K-1, ascending (one sort instead of K scans)."""
    n_clusters = int(labels.max() + 1) if labels.size else 0
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_clusters + 1))
    return [order[bounds[k] : bounds[k + 1]] for k in range(n_clusters)]


def _centroids(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    members_of = _members_by_cluster(labels)
    centroids = np.zeros((len(members_of), X.shape[1]), dtype=np.float32)
    for k, members in enumerate(members_of):
        if len(members):
            centroid = X[members].mean(axis=0)
            centroids[k] = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
    return centroids


class _StageClock:
    """Adds each stage's wall time to a caller's dict (or does nothing without one), and tells the
    progress which stage runs (`shown`, its name there; None for a stage that names its own parts)."""

    def __init__(self, timings: dict[str, float] | None, progress: Progress = NO_PROGRESS) -> None:
        self.timings = timings
        self.progress = progress

    @contextmanager
    def __call__(self, stage: str, shown: str | None) -> Iterator[None]:
        if shown is not None:
            self.progress.stage(shown)
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            logger.debug("%s: %.1f s", stage, seconds)
            if self.timings is not None:
                self.timings[stage] = self.timings.get(stage, 0.0) + seconds
