"""priorities: which things several plans say, and what each plan says alone.

Clause vectors → UMAP (cosine, seeded) → HDBSCAN → priorities. Each priority gets
keywords from a class-based TF-IDF over jieba-segmented matching text, its most
central clause, its plan coverage and a tier ("all", "several", "unique"). Beside the
clusters, every clause's best match in every other plan gives the per-plan unique
clauses and the plan × plan similarity matrix, both judged against a threshold
calibrated on the corpus itself (see `cross_plan_matches`).

Works on any clauses + vectors (`corpus.clauses()`, `corpus.vectors()`); no I/O here.
Scale: up to 30k clauses everything is fitted on every clause; above, UMAP (and the
2-D map) is fitted on a seeded 20k sample and the rest placed beside their nearest
sample clauses (PriorityClusterer). 100k clauses: 215 s, 1.6 GB peak on two busy
cores (benchmarks/cluster.py).
"""

from __future__ import annotations

import logging
import math
import re
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from semplan.errors import SemplanError
from semplan.segment import Clause

DEFAULT_SEED = 42
DEFAULT_UMAP_DIMS = 5
DEFAULT_NEIGHBOURS = 15
# Above this many clauses UMAP is fitted on a seeded sample of this size and the other
# clauses are placed among their nearest sample clauses (see PriorityClusterer).
DEFAULT_UMAP_SAMPLE = 20_000
# Nearest sample clauses a placed clause is averaged from, and the dimensions of the
# projection that finds them.
PLACEMENT_NEIGHBOURS = 5
PLACEMENT_DIMS = 64
# UMAP needs a neighbourhood; below this there is nothing to cluster.
MIN_CLAUSES = 10
# Chance rate of a spurious "match": see cross_plan_matches.
DEFAULT_MATCH_ALPHA = 0.05
# An outlier joins its nearest priority if it is at least as close to the centroid
# as this share of the priority's own members are (10 → the loosest 10%).
DEFAULT_ASSIGN_PERCENTILE = 10.0
TIERS = ("all", "several", "unique")
STOP_WORDS_PATH = Path(__file__).resolve().parent / "data" / "stopwords-zh.txt"


class ClusteringError(SemplanError):
    """Clause vectors or clustering parameters cannot be clustered."""


def default_min_cluster_size(n_clauses: int) -> int:
    """Smallest priority, growing with the square root of the corpus.

    Floor 3: clusters of two are mostly chance pairs (and a pair of plans repeating
    one sentence still shows, as each clause's best cross-plan match). Growing
    linearly would drown the specific priorities of a large corpus in a few huge
    ones; a fixed size would give tens of thousands of tiny clusters. sqrt(n)/8 keeps
    the floor up to ~900 clauses (the five sample plans: ~600, ~80 priorities), gives
    12 at 10,000 clauses, 40 at 100,000 and 68 at 300,000, so the number of
    priorities grows roughly like sqrt(n) too: a report stays readable at every scale.
    """
    return max(3, round(math.sqrt(max(n_clauses, 0)) / 8))


def default_min_samples(min_cluster_size: int) -> int:
    """HDBSCAN's density smoothing: half the minimum size (HDBSCAN's own default, equal
    to it, marks too many short plan clauses as noise on the sample corpus)."""
    return max(1, min_cluster_size // 2)


class PriorityClusterer:
    """UMAP (cosine, seeded) then HDBSCAN, scikit-learn style.

    `__init__` only stores parameters; `fit(X)` validates them and sets
    `embedding_` (the reduced vectors), `labels_` (cluster per row, -1 = outlier),
    `probabilities_` (HDBSCAN membership strength), `n_clusters_`, and the effective
    `min_cluster_size_` / `min_samples_`. `reducer` / `clusterer` may be injected
    (anything with `fit_transform` / `fit` + `labels_`); they are cloned, not mutated.

    With `random_state` set, UMAP runs single-threaded and repeatable: the same
    vectors and seed give the same labels. That is umap-learn's design (its parallel
    numba SGD updates the layout in a racy order), and it is why UMAP is the cost
    that grows with the corpus: ~50 s for 30k clauses on a busy core, most of it the
    optimisation epochs, which scale with n.

    Large corpora (`umap_sample`, default DEFAULT_UMAP_SAMPLE = 20,000): above 1.5×
    that many rows, UMAP is fitted on a seeded random sample and every other row is
    placed at the similarity-weighted mean of the embeddings of its
    PLACEMENT_NEIGHBOURS nearest sample rows (found by inner products in a
    PLACEMENT_DIMS-dimension projection on the sample's top singular vectors: six
    times cheaper than in full dimension, and only the placement depends on it);
    HDBSCAN then clusters all rows. This is UMAP's own `transform` initialisation
    without its optimisation epochs; `transform` itself (a pynndescent query plus
    epochs) was measured slower than fitting on all rows. Trade-off: the layout's
    structure comes from the sample, so a theme with fewer than ~min_cluster_size ×
    n / sample clauses in the whole corpus can fall below the density HDBSCAN sees as
    a cluster (its clauses become outliers rather than a priority); at 20k of 100k a
    40-clause theme is 8 sample clauses. `umap_sample=None` fits on every row.
    """

    def __init__(
        self,
        reducer: Any = None,
        clusterer: Any = None,
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        umap_dims: int = DEFAULT_UMAP_DIMS,
        n_neighbors: int = DEFAULT_NEIGHBOURS,
        cluster_selection_method: str = "eom",
        random_state: int | None = DEFAULT_SEED,
        umap_sample: int | None = DEFAULT_UMAP_SAMPLE,
    ) -> None:
        self.reducer = reducer
        self.clusterer = clusterer
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.umap_dims = umap_dims
        self.n_neighbors = n_neighbors
        self.cluster_selection_method = cluster_selection_method
        self.random_state = random_state
        self.umap_sample = umap_sample

    def _validate(self, n_rows: int) -> None:
        if n_rows < MIN_CLAUSES:
            raise ClusteringError(f"need at least {MIN_CLAUSES} clauses to find priorities, got {n_rows}")
        for name in ("min_cluster_size", "min_samples"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | np.integer) or value < 1):
                raise ClusteringError(f"{name} must be a positive integer, got {value!r}")
        if self.min_cluster_size is not None and self.min_cluster_size < 2:
            raise ClusteringError(f"min_cluster_size must be at least 2, got {self.min_cluster_size}")
        if self.reducer is None and (not isinstance(self.umap_dims, int | np.integer) or self.umap_dims < 2):
            raise ClusteringError(f"umap_dims must be an integer ≥ 2, got {self.umap_dims!r}")
        if self.reducer is None and self.umap_dims >= n_rows - 1:
            raise ClusteringError(
                f"umap_dims ({self.umap_dims}) must be smaller than the number of clauses - 1"
            )
        if self.umap_sample is not None and (
            not isinstance(self.umap_sample, int | np.integer) or self.umap_sample < 100
        ):
            raise ClusteringError(f"umap_sample must be an integer ≥ 100 or None, got {self.umap_sample!r}")
        if self.cluster_selection_method not in ("eom", "leaf"):
            raise ClusteringError(
                f"cluster_selection_method must be 'eom' or 'leaf', got {self.cluster_selection_method!r}"
            )

    def fit(self, X: np.ndarray, y: Any = None) -> PriorityClusterer:
        X = _as_unit_rows(X)
        n_rows = X.shape[0]
        self._validate(n_rows)
        self.min_cluster_size_ = self.min_cluster_size or default_min_cluster_size(n_rows)
        self.min_samples_ = self.min_samples or default_min_samples(self.min_cluster_size_)
        self.n_neighbors_ = max(2, min(self.n_neighbors, n_rows - 1))

        self.reducer_ = _clone(self.reducer) if self.reducer is not None else self._default_reducer()
        self.sample_: np.ndarray | None = None
        self._placement: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if self.umap_sample is not None and n_rows > 1.5 * self.umap_sample:
            rng = np.random.default_rng(self.random_state)
            self.sample_ = np.sort(rng.choice(n_rows, size=int(self.umap_sample), replace=False))
            self._placement = _placement(X, self.sample_)
        fit_rows = X if self.sample_ is None else X[self.sample_]
        with _quiet_umap():
            fitted = np.asarray(self.reducer_.fit_transform(fit_rows), dtype=np.float64)
        self.embedding_ = self._place(fitted)

        self.clusterer_ = _clone(self.clusterer) if self.clusterer is not None else self._default_clusterer()
        self.clusterer_.fit(self.embedding_)
        self.labels_ = np.asarray(self.clusterer_.labels_, dtype=np.int64)
        probabilities = getattr(self.clusterer_, "probabilities_", None)
        self.probabilities_ = (
            np.asarray(probabilities, dtype=np.float64)
            if probabilities is not None
            else (self.labels_ >= 0).astype(np.float64)
        )
        self.n_clusters_ = int(self.labels_.max() + 1) if self.labels_.size else 0
        self._X = X
        return self

    def fit_predict(self, X: np.ndarray, y: Any = None) -> np.ndarray:
        return self.fit(X).labels_

    def _place(self, fitted: np.ndarray) -> np.ndarray:
        """All rows' coordinates from the sample's: sample rows keep theirs, the others
        take the weighted mean of their nearest sample rows'."""
        if self._placement is None:
            return fitted
        rest, neighbours, weights = self._placement
        sample = self.sample_
        placed = np.empty((len(sample) + len(rest), fitted.shape[1]), dtype=np.float64)
        placed[sample] = fitted
        placed[rest] = np.einsum("rk,rkd->rd", weights, fitted[neighbours])
        return placed

    def map_2d(self) -> np.ndarray:
        """A seeded 2-D UMAP of the fitted vectors for plotting (reuses the fitted
        neighbour graph when UMAP built one, so the second layout costs little)."""
        if not hasattr(self, "_X"):
            raise ClusteringError("fit the clusterer before asking for a 2-D map")
        import umap

        knn = (None, None, None)
        reducer = self.reducer_
        if isinstance(reducer, umap.UMAP) and not getattr(reducer, "_small_data", True):
            knn = (reducer._knn_indices, reducer._knn_dists, reducer._knn_search_index)
        fit_rows = self._X if self.sample_ is None else self._X[self.sample_]
        layout = umap.UMAP(
            n_components=2,
            # UMAP runs 500 epochs up to 10k rows, 200 above; a picture to look at needs no
            # more than 200 (small corpora keep the default: their map costs seconds).
            n_epochs=200 if len(fit_rows) > 5000 else None,
            n_neighbors=self.n_neighbors_,
            metric="cosine",
            min_dist=0.1,
            random_state=self.random_state,
            precomputed_knn=knn,
            low_memory=True,
        )
        with _quiet_umap():
            # Large corpora: laid out on the clustering's sample, the rest placed as there.
            return self._place(np.asarray(layout.fit_transform(fit_rows), dtype=np.float64))

    def _default_reducer(self) -> Any:
        import umap

        return umap.UMAP(
            n_components=self.umap_dims,
            n_neighbors=self.n_neighbors_,
            metric="cosine",
            # Packed clusters: the layout is for density-based clustering, not viewing.
            min_dist=0.0,
            random_state=self.random_state,
            low_memory=True,
        )

    def _default_clusterer(self) -> Any:
        import hdbscan

        return hdbscan.HDBSCAN(
            min_cluster_size=int(self.min_cluster_size_),
            min_samples=int(self.min_samples_),
            metric="euclidean",
            cluster_selection_method=self.cluster_selection_method,
        )


# ---------------------------------------------------------------- records


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
    unique: bool  # no match in any other plan, and an outlier or in a single-plan priority

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
        }


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
            "plan_similarity": {
                a: {b: round(float(self.plan_similarity[i, j]), 4) for j, b in enumerate(self.plans)}
                for i, a in enumerate(self.plans)
            },
            "clauses": clause_rows,
        }


# ---------------------------------------------------------------- the pipeline


def find_priorities(
    clauses: Sequence[Clause] | Iterable[Clause],
    vectors: np.ndarray,
    *,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    umap_dims: int = DEFAULT_UMAP_DIMS,
    seed: int | None = DEFAULT_SEED,
    assign_outliers: bool = False,
    assign_threshold: float | None = None,
    match_threshold: float | None = None,
    match_alpha: float = DEFAULT_MATCH_ALPHA,
    n_keywords: int = 5,
    map_2d: bool = True,
    clusterer: PriorityClusterer | None = None,
    timings: dict[str, float] | None = None,
    umap_sample: int | None = DEFAULT_UMAP_SAMPLE,
) -> PriorityAnalysis:
    """Cluster clauses into priorities and compare the plans.

    `vectors[i]` is the (normalised) vector of `clauses[i]`. `assign_outliers` places
    each outlier in its nearest priority when it is close enough (`assign_threshold`
    as a cosine similarity to the centroid, or by default as close as the loosest 10%
    of that priority's members); the rest stay outliers. `match_threshold` overrides
    the calibrated per-clause rule by one cosine similarity (see `cross_plan_matches`).
    `timings`, when given, receives the seconds each stage took (for benchmarks).
    `umap_sample`: above 1.5× this many clauses UMAP is fitted on a seeded sample of
    this size and the rest placed beside their nearest sample clauses (None: fit all;
    see PriorityClusterer for the trade-off).
    """
    clock = _StageClock(timings)
    clauses = list(clauses)
    X = _as_unit_rows(vectors)
    if len(clauses) != X.shape[0]:
        raise ClusteringError(f"{len(clauses)} clauses but {X.shape[0]} vectors")
    if len({c.clause_id for c in clauses}) != len(clauses):
        raise ClusteringError("clause ids are not unique")
    if clusterer is None:
        clusterer = PriorityClusterer(
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
            umap_dims=umap_dims,
            random_state=seed,
            umap_sample=umap_sample,
        )
    with clock("umap+hdbscan"):
        clusterer.fit(X)

    plans = list(dict.fromkeys(c.plan_id for c in clauses))
    plan_number = {plan: p for p, plan in enumerate(plans)}
    plan_of = np.array([plan_number[c.plan_id] for c in clauses], dtype=np.int64)
    labels = clusterer.labels_.copy()
    membership = np.where(labels >= 0, clusterer.probabilities_, 0.0)

    centroids = _centroids(X, labels)
    assigned = np.zeros(len(clauses), dtype=bool)
    if assign_outliers and len(centroids):
        labels, assigned = assign_to_nearest(X, labels, centroids, threshold=assign_threshold)
        centroids = _centroids(X, labels)

    members_of = _members_by_cluster(labels)
    plans_of = [np.unique(plan_of[members]) for members in members_of]
    # Report order: the widest-shared priorities first, then the biggest.
    cluster_ids = sorted(range(len(centroids)), key=lambda k: (-len(plans_of[k]), -len(members_of[k]), k))
    new_id = {old: new for new, old in enumerate(cluster_ids, start=1)}

    with clock("labels"):
        # Plans repeat template sentences word for word; segment each text once.
        terms_of: dict[str, list[str]] = {}
        tokens = [
            terms_of[c.match_text]
            if c.match_text in terms_of
            else terms_of.setdefault(c.match_text, clause_terms(c.match_text))
            for c in clauses
        ]
        keywords = class_keywords(tokens, labels, n_keywords=n_keywords)

    scores = np.full(len(clauses), np.nan)
    priorities: list[Priority] = []
    for old in cluster_ids:
        members = members_of[old]
        similarity = X[members] @ centroids[old]
        scores[members] = similarity
        central = members[int(np.argmax(similarity))]
        coverage_counts = Counter(plan_of[members].tolist())
        coverage = tuple((plans[p], coverage_counts[p]) for p in sorted(coverage_counts))
        words = tuple(keywords.get(old, ()))
        priorities.append(
            Priority(
                priority_id=new_id[old],
                label=" / ".join(words[:3]) if words else f"priority {new_id[old]}",
                keywords=words,
                clause_ids=tuple(clauses[i].clause_id for i in members),
                central_clause_id=clauses[central].clause_id,
                coverage=coverage,
                tier=tier_for(len(coverage), len(plans)),
                cohesion=float(similarity.mean()),
            )
        )

    with clock("cross-plan matching"):
        matches = cross_plan_matches(
            X, plan_of, alpha=match_alpha, cosine_threshold=match_threshold, seed=seed
        )
    if match_threshold is not None:
        match_rule = {"kind": "cosine", "threshold": float(match_threshold)}
    else:
        z_thresholds = match_z_thresholds(np.bincount(plan_of, minlength=len(plans)), match_alpha)
        match_rule = {
            "kind": "per-clause null model",
            "alpha": match_alpha,
            "z_thresholds": {plan: round(float(z), 3) for plan, z in zip(plans, z_thresholds, strict=True)},
        }
    # Unique: no match in any other plan, and the clustering agrees (the clause is an
    # outlier or its priority is single-plan); a clause whose priority spans plans has
    # neighbours elsewhere even when no single one of them is a strong match.
    priority_tier = {old: tier_for(len(plans_of[old]), len(plans)) for old in cluster_ids}
    results = []
    for i, clause in enumerate(clauses):
        has_other_plans = len(plans) > 1
        alone_in_clustering = labels[i] < 0 or priority_tier[int(labels[i])] == "unique"
        best_j = int(matches.best_index[i])
        results.append(
            ClauseResult(
                clause_id=clause.clause_id,
                plan_id=clause.plan_id,
                priority_id=new_id[int(labels[i])] if labels[i] >= 0 else None,
                score=None if np.isnan(scores[i]) else float(scores[i]),
                membership=float(membership[i]),
                assigned=bool(assigned[i]),
                best_match_id=clauses[best_j].clause_id if has_other_plans and best_j >= 0 else None,
                best_match_score=float(matches.best_score[i]) if has_other_plans and best_j >= 0 else None,
                best_match_z=float(matches.best_z[i]) if has_other_plans and best_j >= 0 else None,
                unique=bool(has_other_plans and matches.n_plans_matched[i] == 0 and alone_in_clustering),
            )
        )

    with clock("2-d map"):
        map_xy = clusterer.map_2d() if map_2d else None
    priorities.sort(key=lambda p: p.priority_id)
    parameters = {
        "min_cluster_size": int(clusterer.min_cluster_size_),
        "min_samples": int(clusterer.min_samples_),
        "umap_dims": int(clusterer.umap_dims),
        "n_neighbors": int(clusterer.n_neighbors_),
        "cluster_selection_method": clusterer.cluster_selection_method,
        "seed": seed,
        "assign_outliers": assign_outliers,
        "assign_threshold": assign_threshold,
        "match_alpha": match_alpha if match_threshold is None else None,
        "match_threshold": match_threshold,
        "n_clauses": len(clauses),
        "umap_fitted_on": len(clusterer.sample_)
        if getattr(clusterer, "sample_", None) is not None
        else len(clauses),
    }
    return PriorityAnalysis(
        plans=plans,
        clauses=clauses,
        results=results,
        priorities=priorities,
        match_rule=match_rule,
        plan_similarity=matches.plan_similarity,
        map_xy=map_xy,
        parameters=parameters,
    )


def tier_for(n_plans_covered: int, n_plans: int) -> str:
    """ "all" (every plan, when there are at least two), "several" (≥ 2 plans), else "unique"."""
    if n_plans_covered == n_plans and n_plans > 1:
        return "all"
    if n_plans_covered >= 2:
        return "several"
    return "unique"


_tier = tier_for  # the name semplan.eval imports


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


# ---------------------------------------------------------------- cross-plan matching


def match_z_thresholds(plan_sizes: np.ndarray, alpha: float = DEFAULT_MATCH_ALPHA) -> np.ndarray:
    """Per plan B, the standard score a clause's best match in B must reach to count.

    The best match in B is the maximum of |B| scores. If none of B's clauses were
    related, and the clause's scores were normal with the clause's own centre and
    spread, that maximum would exceed z with probability 1 − Φ(z)^|B|. Solving
    1 − Φ(z)^|B| = α gives the threshold: a bigger plan needs a higher score, since it
    offers more chances of a look-alike.
    """
    if not 0 < alpha < 1:
        raise ClusteringError(f"match_alpha must be between 0 and 1, got {alpha}")
    from scipy.stats import norm

    per_pair_tail = -np.expm1(np.log1p(-alpha) / np.maximum(np.asarray(plan_sizes, dtype=np.float64), 1))
    return norm.isf(per_pair_tail)


@dataclass
class CrossPlanMatches:
    best_index: np.ndarray  # per clause: index of its best match in another plan (-1: none)
    best_score: np.ndarray  # cosine similarity of that match
    best_z: np.ndarray  # the same as a standard score against the clause's background
    n_plans_matched: np.ndarray  # per clause: other plans with a match above their threshold
    plan_similarity: np.ndarray  # (P, P): share of a's clauses with a match in b


def cross_plan_matches(
    X: np.ndarray,
    plan_of: np.ndarray,
    *,
    alpha: float = DEFAULT_MATCH_ALPHA,
    cosine_threshold: float | None = None,
    background_size: int = 2000,
    seed: int | None = DEFAULT_SEED,
    block_rows: int = 2000,
) -> CrossPlanMatches:
    """Every clause's best match in every other plan, and whether it counts as a match.

    Calibration (a null model per clause): a clause's scores against other plans'
    clauses are, nearly all, scores of unrelated clauses; the few true matches sit in
    the far tail. Their median μ and MAD-based spread σ (over a seeded sample of
    `background_size` clauses) describe what "unrelated" scores for *this* clause with
    *this* model: e5 puts any two education sentences near 0.9, other models near 0.2,
    and generic clauses (加强党的建设) score high against everything, so neither one
    fixed number nor one corpus-wide number would do. The best match in plan B counts
    when (score − μ)/σ reaches `match_z_thresholds(|B|, alpha)`: at α = 0.05 an
    unrelated plan of B's size would offer such a look-alike one time in twenty
    (checked on the sample corpus: pooled standard scores follow the normal up to the
    99th percentile, and the heavier tail beyond it holds the true matches). A clause
    with a match in no other plan is unique to its plan; plan_similarity[a, b] is the
    share of a's clauses with a match in b (asymmetric). `cosine_threshold` replaces
    the calibration by one fixed cosine similarity.

    Exact, and the cost is the n × n score matrix (2·n²·d FLOP: 7.7 TFLOP at 100k
    clauses of 384 dims). It is computed once per pair of tiles of `block_rows`
    clauses (sorted by plan) and used in both directions, since scores are
    symmetric: half the FLOP of a row-by-row pass (100k clauses: 105 s on two busy
    cores, was 275 s), each tile one float32 BLAS product
    on all cores, memory a few tiles plus one boolean per clause and plan (83 MB at
    100k clauses in 834 plans). An approximate index (FAISS IVF, top-512
    candidates, exact fallback for clauses with more candidate matches) was measured
    and dropped: it agreed with exact on 99.6% of matched plans at 30k clauses but
    was slower than the BLAS pass on this 2-core AVX2 machine (its list scans run
    at a small fraction of GEMM speed), and many clauses (template sentences every
    plan repeats) match hundreds of plans, so top-k truncation saves little.
    """
    n = len(X)
    X = np.ascontiguousarray(X, dtype=np.float32)
    n_plans = int(plan_of.max() + 1) if n else 0
    plan_sizes = np.bincount(plan_of, minlength=n_plans)
    z_thresholds = match_z_thresholds(plan_sizes, alpha)
    order = np.argsort(plan_of, kind="stable")
    sorted_X = np.ascontiguousarray(X[order])
    sorted_plan = plan_of[order]
    rng = np.random.default_rng(seed)
    background = (
        np.sort(rng.choice(n, size=min(background_size, n), replace=False)) if n else np.zeros(0, int)
    )
    background_X = np.ascontiguousarray(X[background])
    background_plan = plan_of[background]

    # Each clause's background (in sorted order): centre μ and spread σ.
    centre = np.zeros(n, dtype=np.float64)
    spread = np.ones(n, dtype=np.float64)
    for first in range(0, n, block_rows):
        rows = slice(first, first + block_rows)
        background_scores = (sorted_X[rows] @ background_X.T).astype(np.float64)
        background_scores[sorted_plan[rows][:, None] == background_plan[None, :]] = np.nan
        centre[rows] = _row_nanmedian(background_scores)
        spread[rows] = 1.4826 * _row_nanmedian(np.abs(background_scores - centre[rows][:, None]))
    spread = np.where(np.isfinite(spread) & (spread > 1e-6), spread, 1e-6)

    matched = np.zeros((n, n_plans), dtype=bool)
    best_score = np.full(n, -np.inf, dtype=np.float32)
    best_plan = np.full(n, -1, dtype=np.int64)
    tiles = [(first, min(first + block_rows, n)) for first in range(0, n, block_rows)]

    def take(rows: tuple[int, int], columns: tuple[int, int], scores: np.ndarray, flip: bool) -> None:
        """Fold one tile (sorted order, same-plan pairs at -inf) into the results of
        `rows`: scores is rows × columns, or columns × rows when `flip` (read along
        axis 0 plan by plan rather than transposed: a transpose or an axis-0 argmax of
        a tile costs a fifth of its product)."""
        r0, r1 = rows
        c0, c1 = columns
        column_plans = sorted_plan[c0:c1]
        bounds = np.flatnonzero(np.r_[True, column_plans[1:] != column_plans[:-1]])
        tile_plans = column_plans[bounds]
        if flip:
            limits = np.r_[bounds[1:], c1 - c0]
            per_plan = np.stack(
                [scores[a:b].max(axis=0) for a, b in zip(bounds, limits, strict=True)], axis=1
            )
        else:
            per_plan = np.maximum.reduceat(scores, bounds, axis=1)
        if cosine_threshold is None:
            z = (per_plan - centre[r0:r1, None]) / spread[r0:r1, None]
            hit = z >= z_thresholds[tile_plans][None, :]
        else:
            hit = per_plan >= cosine_threshold
        matched[r0:r1, tile_plans] |= hit & np.isfinite(per_plan)
        # The best plan so far; the clause within it is found once at the end. Strict >:
        # a tie goes to the earlier plan, as one row-wise argmax would.
        winner = per_plan.argmax(axis=1)
        score = per_plan[np.arange(r1 - r0), winner]
        better = score > best_score[r0:r1]
        best_score[r0:r1] = np.where(better, score, best_score[r0:r1])
        best_plan[r0:r1] = np.where(better, tile_plans[winner], best_plan[r0:r1])

    for a, rows in enumerate(tiles):
        for columns in tiles[a:]:
            scores = sorted_X[rows[0] : rows[1]] @ sorted_X[columns[0] : columns[1]].T
            row_plans = sorted_plan[rows[0] : rows[1]]
            column_plans = sorted_plan[columns[0] : columns[1]]
            if row_plans[-1] >= column_plans[0]:  # the tiles share a plan
                scores[row_plans[:, None] == column_plans[None, :]] = -np.inf
            take(rows, columns, scores, flip=False)
            if columns != rows:
                take(columns, rows, scores, flip=True)

    starts = np.searchsorted(sorted_plan, np.arange(n_plans + 1))
    best_sorted = np.full(n, -1, dtype=np.int64)
    final_score = np.full(n, np.nan, dtype=np.float64)
    found = np.isfinite(best_score)
    for p in np.unique(best_plan[found]):
        who = np.flatnonzero(found & (best_plan == p))
        within = sorted_X[who] @ sorted_X[starts[p] : starts[p + 1]].T
        pick = within.argmax(axis=1)
        best_sorted[who] = starts[p] + pick
        final_score[who] = within[np.arange(len(who)), pick]
    best_index = np.full(n, -1, dtype=np.int64)
    best_index[order] = np.where(found, order[np.maximum(best_sorted, 0)], -1)
    best = np.full(n, np.nan, dtype=np.float64)
    best[order] = final_score
    best_z = np.full(n, np.nan, dtype=np.float64)
    best_z[order] = (final_score - centre) / spread
    n_plans_matched = np.zeros(n, dtype=np.int64)
    n_plans_matched[order] = matched.sum(axis=1)
    # matched_counts[a, b]: clauses of plan a with a match in plan b.
    matched_counts = np.zeros((n_plans, n_plans), dtype=np.int64)
    for p in range(n_plans):
        matched_counts[p] = matched[starts[p] : starts[p + 1]].sum(axis=0)
    plan_similarity = matched_counts / np.maximum(plan_sizes, 1).astype(np.float64)[:, None]
    np.fill_diagonal(plan_similarity, 1.0)
    return CrossPlanMatches(best_index, best, best_z, n_plans_matched, plan_similarity)


def _row_nanmedian(a: np.ndarray) -> np.ndarray:
    """np.nanmedian(a, axis=1), vectorised (numpy loops over the rows in Python: that
    was 50 s of the 275 s matching took at 100k clauses). NaNs sort last; the median
    sits among each row's finite values."""
    if a.shape[1] == 0:
        return np.full(a.shape[0], np.nan)
    ordered = np.sort(a, axis=1)
    counts = np.count_nonzero(~np.isnan(a), axis=1)
    rows = np.arange(a.shape[0])
    low = ordered[rows, np.maximum((counts - 1) // 2, 0)]
    high = ordered[rows, np.minimum(counts // 2, a.shape[1] - 1)]
    return np.where(counts > 0, (low + high) / 2, np.nan)


# ---------------------------------------------------------------- labels


_CJK_OR_LETTER = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z]")
_PLACEHOLDER = re.compile(r"^[Xx×]+$|^\d")


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """The shipped Chinese stop-word list (semplan/data/stopwords-zh.txt)."""
    text = STOP_WORDS_PATH.read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def clause_terms(match_text: str) -> list[str]:
    """Label candidates of one clause: jieba words of ≥ 2 characters that are not stop
    words, plus each pair of such words adjacent in the text (课后+服务 → 课后服务), so
    labels can be the compounds plans actually use."""
    stops = stop_words()
    words = _jieba().lcut(match_text)
    terms: list[str] = []
    previous: str | None = None
    for word in words:
        keep = (
            len(word) >= 2
            and word not in stops
            and _CJK_OR_LETTER.search(word)
            and not _PLACEHOLDER.match(word)
        )
        if keep:
            terms.append(word)
            if previous is not None and len(previous) + len(word) <= 8:
                terms.append(previous + word)
            previous = word
        else:
            previous = None
    return terms


def class_keywords(
    clause_terms_list: Sequence[Sequence[str]], labels: np.ndarray, n_keywords: int = 5
) -> dict[int, list[str]]:
    """Class-based TF-IDF (as in BERTopic), counted in clauses rather than tokens.

    tf(t, c) = share of cluster c's clauses that use t (one long clause repeating a
    word does not make it the label); idf(t) = log(1 + A / f(t)) with A the average
    clauses per class and f(t) the clauses of the whole corpus using t, outliers
    included, so words every plan repeats everywhere sink. Keywords that are part of
    a better-ranked keyword (or contain one) are skipped, so labels do not stutter.
    """
    document_frequency: Counter[str] = Counter()
    per_class: dict[int, Counter[str]] = {}
    class_sizes: Counter[int] = Counter()
    for terms, label in zip(clause_terms_list, labels.tolist(), strict=True):
        unique_terms = set(terms)
        document_frequency.update(unique_terms)
        per_class.setdefault(label, Counter()).update(unique_terms)
        class_sizes[label] += 1
    average_class = len(labels) / max(len(class_sizes), 1)
    keywords: dict[int, list[str]] = {}
    for label, counts in per_class.items():
        if label < 0:
            continue
        size = class_sizes[label]
        score = {
            term: (count / size) * math.log(1 + average_class / document_frequency[term])
            for term, count in counts.items()
        }
        # A word one clause uses says little about a priority several clauses share.
        shared = [term for term, count in counts.items() if count >= 2 or size == 1]
        ranked = sorted(shared, key=lambda t: (-score[t], -len(t), t))
        ranked += sorted(set(counts) - set(shared), key=lambda t: (-score[t], -len(t), t))
        top = ranked[: 8 * n_keywords]
        chosen: list[str] = []
        for term in top:
            # Prefer the compound plans write (课后服务) to its halves when it is nearly as strong.
            if any(
                term in longer and longer != term and score[longer] >= 0.7 * score[term] for longer in top
            ):
                continue
            if any(term in kept or kept in term for kept in chosen):
                continue
            chosen.append(term)
            if len(chosen) == n_keywords:
                break
        keywords[label] = chosen
    return keywords


# ---------------------------------------------------------------- helpers


def _as_unit_rows(vectors: Any) -> np.ndarray:
    X = np.asarray(vectors, dtype=np.float32)
    if X.ndim != 2:
        raise ClusteringError(f"vectors must be a 2-D array (clauses × dims), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ClusteringError("vectors contain NaN or infinite values")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ClusteringError("vectors contain an all-zero row")
    return X / norms


def _placement(X: np.ndarray, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row outside `sample`: its PLACEMENT_NEIGHBOURS nearest sample rows (as
    positions in `sample`) and weights summing to 1 that favour the closer ones.

    Neighbours by inner product after projecting on the sample's top PLACEMENT_DIMS
    right singular vectors (uncentred: unit clause vectors share a large common
    direction, which the first one carries). Weights: exp((s − s_max) / 0.02), so a
    neighbour 0.02 less similar than the nearest counts e⁻¹ as much.
    """
    in_sample = np.zeros(len(X), dtype=bool)
    in_sample[sample] = True
    rest = np.flatnonzero(~in_sample)
    sample_X = X[sample]
    _, _, vt = np.linalg.svd(sample_X[:: max(1, len(sample) // 5000)], full_matrices=False)
    basis = np.ascontiguousarray(vt[: min(PLACEMENT_DIMS, vt.shape[0])].T)
    sample_p = np.ascontiguousarray(sample_X @ basis)
    k = min(PLACEMENT_NEIGHBOURS, len(sample))
    neighbours = np.empty((len(rest), k), dtype=np.int64)
    weights = np.empty((len(rest), k), dtype=np.float64)
    for first in range(0, len(rest), 1024):  # 1024 × sample scores + argpartition's int64s
        rows = rest[first : first + 1024]
        scores = (X[rows] @ basis) @ sample_p.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1).astype(np.float64)
        neighbours[first : first + len(rows)] = top
        w = np.exp((top_scores - top_scores.max(axis=1, keepdims=True)) / 0.02)
        weights[first : first + len(rows)] = w / w.sum(axis=1, keepdims=True)
    return rest, neighbours, weights


def _clone(estimator: Any) -> Any:
    try:
        from sklearn.base import clone

        return clone(estimator)
    except TypeError:
        import copy

        return copy.deepcopy(estimator)


class _StageClock:
    """Adds each stage's wall time to a caller's dict (or does nothing without one)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.timings is not None:
                self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - started


class _quiet_umap(warnings.catch_warnings):
    """UMAP warns that random_state forces one thread; that is the point (repeatability)."""

    def __enter__(self) -> Any:
        result = super().__enter__()
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", message=".*precomputed_knn.*")
        warnings.filterwarnings("ignore", message=".*spectral initialisation failed.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        return result
