"""Priorities: which things several plans say, and what each plan says alone.

Clause vectors → UMAP (cosine, seeded) → HDBSCAN → priorities. Each priority gets keywords from
a class-based TF-IDF over jieba-segmented matching text, its most central clause, its plan
coverage and a tier ("all", "several", "unique"). Beside the clusters, every clause's best match
in every other plan gives the per-plan unique clauses and the plan × plan similarity matrix, both
judged against a threshold calibrated on the corpus itself. Works on any clauses + vectors
(`corpus.clauses()`, `corpus.vectors()`); no I/O here.

    defaults     the clusterer's default parameters (light: the CLI shows them in --help)
    estimator    PriorityClusterer, the scikit-learn estimator (UMAP then HDBSCAN)
    matching     cross-plan matching against a per-clause null model
    keywords     content words (jieba POS), stop words, class-based TF-IDF labels keywords
    analysis     the records: Priority, ClauseResult, PriorityAnalysis
    priorities   find_priorities, which runs the above in order

Design and measurements: docs/clustering-design.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from semplan.cluster.analysis import TIERS, ClauseResult, PlanEvidence, Priority, PriorityAnalysis, tier_for
from semplan.cluster.defaults import (
    DEFAULT_NEIGHBOURS,
    DEFAULT_SEED,
    DEFAULT_UMAP_DIMS,
    DEFAULT_UMAP_SAMPLE,
    MIN_CLAUSES,
    default_min_cluster_size,
    default_min_samples,
    default_neighbours,
)
from semplan.cluster.keywords import LabelWords, class_keywords, clause_terms, read_label_words, stop_words
from semplan.cluster.matching import (
    DEFAULT_MATCH_ALPHA,
    CrossPlanMatches,
    cross_plan_matches,
    match_z_thresholds,
)
from semplan.cluster.priorities import AnalysisOptions, assign_to_nearest, find_priorities, with_verdicts

if TYPE_CHECKING:
    from semplan.cluster.estimator import PriorityClusterer


def __getattr__(name: str) -> Any:
    # The estimator imports scikit-learn (a second); records and defaults do not wait for it.
    if name == "PriorityClusterer":
        from semplan.cluster.estimator import PriorityClusterer

        return PriorityClusterer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PlanEvidence",
    "with_verdicts",
    "DEFAULT_MATCH_ALPHA",
    "DEFAULT_NEIGHBOURS",
    "DEFAULT_SEED",
    "DEFAULT_UMAP_DIMS",
    "DEFAULT_UMAP_SAMPLE",
    "MIN_CLAUSES",
    "TIERS",
    "AnalysisOptions",
    "ClauseResult",
    "CrossPlanMatches",
    "LabelWords",
    "Priority",
    "PriorityAnalysis",
    "PriorityClusterer",
    "assign_to_nearest",
    "class_keywords",
    "clause_terms",
    "cross_plan_matches",
    "default_min_cluster_size",
    "default_min_samples",
    "default_neighbours",
    "find_priorities",
    "match_z_thresholds",
    "read_label_words",
    "stop_words",
    "tier_for",
]
