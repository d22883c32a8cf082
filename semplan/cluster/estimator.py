"""The clusterer: UMAP (cosine, seeded) then HDBSCAN, as a scikit-learn estimator.

Large corpora are fitted on a seeded sample and the other clauses placed beside their nearest
sample clauses: UMAP's cost grows with the rows it optimises, and a seed keeps it on one thread
(docs/clustering-design.md has the measurements behind these choices).
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import warnings
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone

from semplan._fs import cache_dir
from semplan._progress import NO_PROGRESS, Progress
from semplan.cluster.defaults import (
    DEFAULT_SEED,
    DEFAULT_UMAP_DIMS,
    DEFAULT_UMAP_SAMPLE,
    MIN_CLAUSES,
    default_min_cluster_size,
    default_min_samples,
    default_neighbours,
)
from semplan.errors import ClusteringError

logger = logging.getLogger(__name__)

# Nearest sample clauses a placed clause is averaged from, and the dimensions of the
# projection that finds them.
PLACEMENT_NEIGHBOURS = 5
PLACEMENT_DIMS = 64
# Components of a disconnected neighbour graph up to this size get their spectral layout from a
# dense eigendecomposition (see _repeatable_spectral_layout).
DENSE_LAYOUT_NODES = 1000


class PriorityClusterer(ClusterMixin, BaseEstimator):
    """UMAP (cosine, seeded) then HDBSCAN.

    `__init__` only stores parameters, so `sklearn.base.clone`, `get_params` and
    `set_params` work; `fit(X)` validates them and sets `embedding_` (the reduced
    vectors), `labels_` (cluster per row, -1 = outlier), `probabilities_` (HDBSCAN
    membership strength), `n_clusters_`, the effective `min_cluster_size_` /
    `min_samples_` / `n_neighbors_`, and `sample_` (the rows UMAP was fitted on, or
    None for all). `reducer` / `clusterer` may be injected (anything with
    `fit_transform` / `fit` + `labels_`); they are cloned, not mutated.

    With `random_state` set, UMAP runs single-threaded and repeatable: the same
    vectors and seed give the same labels. That is umap-learn's design (its parallel
    numba SGD updates the layout in a racy order), and it is why UMAP is the cost
    that grows with the corpus.

    Large corpora (`umap_sample`): above 1.5× that many rows, UMAP is fitted on a seeded
    random sample and every other row is placed at the similarity-weighted mean of the
    embeddings of its PLACEMENT_NEIGHBOURS nearest sample rows (found by inner products
    in a PLACEMENT_DIMS-dimension projection on the sample's top singular vectors: only
    the placement depends on it, and it is much cheaper than full dimension); HDBSCAN
    then clusters all rows. This is UMAP's own `transform` initialisation without its
    optimisation epochs (`transform` itself was slower than fitting every row).
    Trade-off: the layout's structure comes from the sample, so a theme with fewer than
    ~min_cluster_size × n / sample clauses in the whole corpus can fall below the
    density HDBSCAN sees as a cluster (its clauses become outliers rather than a
    priority). `umap_sample=None` fits on every row.
    """

    def __init__(
        self,
        reducer: Any = None,
        clusterer: Any = None,
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        umap_dims: int = DEFAULT_UMAP_DIMS,
        n_neighbors: int | None = None,
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

    def _check_parameters(self, n_rows: int) -> None:
        if n_rows < MIN_CLAUSES:
            raise ClusteringError(f"need at least {MIN_CLAUSES} clauses to find priorities, got {n_rows}")
        for name in ("min_cluster_size", "min_samples", "n_neighbors"):
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

    def fit(self, X: np.ndarray, y: Any = None, plans: Any = None, progress: Progress = NO_PROGRESS) -> PriorityClusterer:
        """Fit on clause vectors `X`; `plans` (each row's plan) sizes the defaults: without
        it every row stands alone, as texts of a labelled collection do. `progress` hears of
        the stages "umap" and "hdbscan" (semplan._progress)."""
        X = as_unit_rows(X)
        n_rows = X.shape[0]
        self._check_parameters(n_rows)
        if plans is not None and len(plans) != n_rows:
            raise ClusteringError(f"{len(plans)} plan labels for {n_rows} rows")
        self.n_plans_ = len(set(np.asarray(plans).tolist())) if plans is not None else None
        self.min_cluster_size_ = self.min_cluster_size or default_min_cluster_size(n_rows, self.n_plans_)
        self.min_samples_ = self.min_samples or default_min_samples(self.min_cluster_size_)
        neighbours = self.n_neighbors or default_neighbours(self.min_cluster_size_)
        self.n_neighbors_ = max(2, min(neighbours, n_rows - 1))

        self.reducer_ = _clone(self.reducer) if self.reducer is not None else self._default_reducer()
        self.sample_: np.ndarray | None = None
        self._placement: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if self.umap_sample is not None and n_rows > 1.5 * self.umap_sample:
            rng = np.random.default_rng(self.random_state)
            self.sample_ = np.sort(rng.choice(n_rows, size=int(self.umap_sample), replace=False))
            self._placement = _placement(X, self.sample_)
        fit_rows = X if self.sample_ is None else X[self.sample_]
        progress.stage("umap")
        progress.detail(f"{fit_rows.shape[0]} clauses")
        with _quiet_umap():
            fitted = np.asarray(self.reducer_.fit_transform(fit_rows), dtype=np.float64)
        self.embedding_ = self._place(fitted)

        self.clusterer_ = _clone(self.clusterer) if self.clusterer is not None else self._default_clusterer()
        progress.stage("hdbscan")
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
        umap = umap_module()
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
        return umap_module().UMAP(
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


# umap-learn's modules whose numba functions are compiled for every new process unless cached.
_UMAP_NUMBA_MODULES = ("umap.utils", "umap.umap_", "umap.layouts", "umap.distances", "umap.spectral")


@lru_cache(maxsize=1)
def umap_module() -> Any:
    """umap-learn, with numba's compiled code cached under semplan's cache directory.

    Without a cache every `semplan cluster` process compiles UMAP's numba code before any
    work (most of a run on a small corpus; docs/clustering-design.md has the figures).
    pynndescent marks its functions `cache=True`, but numba writes that cache beside the
    package, which a read-only install cannot hold; umap-learn marks almost none (its
    exact-neighbour, fuzzy-set and layout kernels), so they are switched to caching here.
    numba keys each cached function by its source file's timestamp, CPU and argument types,
    so an upgrade or another machine recompiles instead of loading stale code.
    `NUMBA_CACHE_DIR`, when set, is left alone.
    """
    location = os.environ.get("NUMBA_CACHE_DIR") or str(cache_dir() / "numba")
    try:
        os.makedirs(location, exist_ok=True)
        writable = os.access(location, os.W_OK)
    except OSError:
        writable = False
    if writable:
        os.environ["NUMBA_CACHE_DIR"] = location
        if "numba" in sys.modules:  # imported before us: its configuration is already read
            sys.modules["numba"].config.CACHE_DIR = location
    else:  # numba would fail to cache there; compiling every time is slower, not wrong
        logger.debug("numba cache directory %s is not writable: UMAP compiles in every process", location)
    import numba
    import umap

    _repeatable_spectral_layout(sys.modules["umap.spectral"])
    for name in _UMAP_NUMBA_MODULES if writable else ():
        module = sys.modules.get(name)
        for value in vars(module).values() if module is not None else ():
            if isinstance(value, numba.core.registry.CPUDispatcher) and isinstance(
                value._cache, numba.core.caching.NullCache
            ):
                value.enable_caching()
    return umap


def _repeatable_spectral_layout(spectral: Any) -> None:
    """Make umap-learn's spectral initialisation of a disconnected neighbour graph repeatable.

    UMAP lays out each connected component of the graph with ARPACK (`eigsh`). A component of
    near-identical clauses (a block of boilerplate, a repeated list) is a near-uniform clique:
    its Laplacian's eigenvalues are all equal, ARPACK meets an invariant subspace and restarts
    from a vector drawn from its own internal seed, and the layout — then the priorities —
    changes from call to call with the same seed (docs/quality.md has the runs). Components of up
    to DENSE_LAYOUT_NODES nodes are solved exactly with a dense eigendecomposition instead (a
    second at most); the whole graph and larger components go through umap-learn unchanged, so
    a connected corpus keeps its priorities to the bit.
    """
    original = spectral._spectral_layout
    if getattr(original, "_semplan_repeatable", False):
        return

    def layout(data: Any, graph: Any, dim: int, random_state: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        # umap-learn passes data=None exactly when it lays out one component of several.
        if data is not None or graph.shape[0] > DENSE_LAYOUT_NODES:
            return original(data, graph, dim, random_state, *args, **kwargs)
        # The normalised Laplacian I - D^-1/2 G D^-1/2, as umap-learn builds it, solved densely.
        dense = np.asarray(graph.todense(), dtype=np.float64)
        scale = 1.0 / np.sqrt(dense.sum(axis=0))
        laplacian = np.eye(graph.shape[0]) - scale[:, None] * dense * scale[None, :]
        eigenvalues, eigenvectors = np.linalg.eigh(laplacian)
        return eigenvectors[:, np.argsort(eigenvalues, kind="stable")[1 : dim + 1]]

    layout._semplan_repeatable = True
    spectral._spectral_layout = layout


def as_unit_rows(vectors: Any) -> np.ndarray:
    """Clause vectors as float32 rows of length 1; a ClusteringError for anything else."""
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
    """A fresh copy of an injected reducer or clusterer; deep-copied when it is not a
    scikit-learn estimator (anything with fit_transform / fit + labels_ is accepted)."""
    try:
        return clone(estimator)
    except TypeError:
        return copy.deepcopy(estimator)


class _quiet_umap(warnings.catch_warnings):
    """UMAP warns that random_state forces one thread; that is the point (repeatability)."""

    def __enter__(self) -> Any:
        result = super().__enter__()
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", message=".*precomputed_knn.*")
        warnings.filterwarnings("ignore", message=".*spectral initialisation failed.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        return result
