"""The clusterer's default parameters, and the rules that size them to a corpus.

Apart from the estimator so that `semplan cluster --help` can show them without importing
scikit-learn (a second on this machine; the command itself pays it when it runs).
"""

from __future__ import annotations

import math

DEFAULT_SEED = 42
DEFAULT_UMAP_DIMS = 5
DEFAULT_NEIGHBOURS = 15
# Above 1.5× this many clauses UMAP is fitted on a seeded sample of this size and the other
# clauses are placed among their nearest sample clauses (see PriorityClusterer).
DEFAULT_UMAP_SAMPLE = 20_000
# UMAP needs a neighbourhood; below this there is nothing to cluster.
MIN_CLAUSES = 10


def default_min_cluster_size(n_clauses: int, n_plans: int | None = None) -> int:
    """Smallest priority, from the corpus size and how many plans hold it.

    max(3, √n / 8 × (1 + 3 / m)), m the clauses per plan (1 when `n_plans` is None: a
    collection of texts that stand alone). In plans of hundreds of clauses the factor is
    about 1 and the size grows like √n: 3 up to ~900 clauses, 12 at 10,000, 40 at 100,000,
    so priorities stay specific (a theme three plans share is a priority) and their number
    grows like √n too. In a collection of single texts (headlines, queries) nothing ties a
    group to plans, and the classes worth finding are broad: √n / 2, 16 at 1,000 texts and
    50 at 10,000. Floor 3: clusters of two are mostly chance pairs. Measured on four corpora
    (docs/clustering-design.md, "Parameters that fit the corpus").
    """
    n_clauses = max(n_clauses, 0)
    clauses_per_plan = n_clauses / n_plans if n_plans else 1.0
    return max(3, round(math.sqrt(n_clauses) / 8 * (1 + 3 / max(clauses_per_plan, 1.0))))


def default_neighbours(min_cluster_size: int) -> int:
    """UMAP's neighbourhood: 15 (UMAP's default) up to priorities of 25 clauses, then 0.6 ×
    the minimum size, at most 50. With 15 neighbours and a minimum size of 50 the 10k
    headlines collapsed into 3 clusters; with 30, 14."""
    return min(50, max(DEFAULT_NEIGHBOURS, round(0.6 * min_cluster_size)))


def default_min_samples(min_cluster_size: int) -> int:
    """HDBSCAN's density smoothing: half the minimum size (HDBSCAN's own default, equal
    to it, marks too many short plan clauses as noise on the sample corpus)."""
    return max(1, min_cluster_size // 2)
