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


def default_min_cluster_size(n_clauses: int) -> int:
    """Smallest priority, growing with the square root of the corpus.

    Floor 3: clusters of two are mostly chance pairs (and a pair of plans repeating
    one sentence still shows, as each clause's best cross-plan match). Growing
    linearly would drown the specific priorities of a large corpus in a few huge
    ones; a fixed size would give tens of thousands of tiny clusters. sqrt(n)/8 keeps
    the floor up to ~900 clauses, gives 12 at 10,000 clauses, 40 at 100,000 and 68 at
    300,000, so the number of priorities grows roughly like sqrt(n) too: a report stays
    readable at every scale.
    """
    return max(3, round(math.sqrt(max(n_clauses, 0)) / 8))


def default_min_samples(min_cluster_size: int) -> int:
    """HDBSCAN's density smoothing: half the minimum size (HDBSCAN's own default, equal
    to it, marks too many short plan clauses as noise on the sample corpus)."""
    return max(1, min_cluster_size // 2)
