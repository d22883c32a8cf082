"""Clustering on labelled texts: semplan's clusterer, and k-means told the answer's size as a yardstick."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan.errors import EvalError
from semplan.evaluation.data import LabelledText, text_table

if TYPE_CHECKING:
    from semplan.encode import Encoder

DEFAULT_SEED = 42
# UMAP's default neighbourhood (semplan.cluster.defaults.DEFAULT_NEIGHBOURS, not imported here:
# evaluation reaches the clusterer through one call).
DEFAULT_NEIGHBOURS = 15
_METRICS = ("n_clusters", "v_measure", "nmi", "ari", "outlier_share")
# metric → how the text table prints it
_TABLE_COLUMNS = {
    "n_clusters": ("clusters", ".1f"),
    "v_measure": ("V-measure", ".3f"),
    "nmi": ("NMI", ".3f"),
    "ari": ("ARI", ".3f"),
    "outlier_share": ("outliers", ".1%"),
}


@dataclass
class ClusteringScores:
    """Scores of one method; over several seeded runs, their means and (in `sd`) standard deviations."""

    method: str
    n_clusters: float
    v_measure: float
    nmi: float
    ari: float
    outlier_share: float
    runs: int = 1
    sd: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "runs": self.runs,
            "n_clusters": round(self.n_clusters, 2),
            "v_measure": round(self.v_measure, 4),
            "nmi": round(self.nmi, 4),
            "ari": round(self.ari, 4),
            "outlier_share": round(self.outlier_share, 4),
            "sd": {metric: round(value, 4) for metric, value in self.sd.items()},
        }

    def formatted(self, metric: str, spec: str) -> str:
        """One metric as text: `mean±sd` over several runs, the value alone for one."""
        value = format(getattr(self, metric), spec)
        return f"{value}±{format(self.sd[metric], spec)}" if self.runs > 1 else value


def mean_scores(runs: Sequence[ClusteringScores]) -> ClusteringScores:
    """Means and standard deviations of several runs of one method."""
    values = {
        metric: np.array([getattr(run, metric) for run in runs], dtype=np.float64) for metric in _METRICS
    }
    return ClusteringScores(
        method=runs[0].method,
        **{metric: float(column.mean()) for metric, column in values.items()},
        runs=len(runs),
        sd={metric: float(column.std()) for metric, column in values.items()},
    )


@dataclass
class ClusteringResult:
    n_texts: int
    n_classes: int
    model: str
    backend: str
    methods: list[ClusteringScores]
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "clustering",
            "model": self.model,
            "backend": self.backend,
            "n_texts": self.n_texts,
            "n_classes": self.n_classes,
            "parameters": self.parameters,
            "methods": [scores.to_dict() for scores in self.methods],
        }

    def lines(self, file: str) -> list[str]:
        """A heading naming `file` (the texts' source), then one row of scores per method."""
        rows = [("method", *(heading for heading, _ in _TABLE_COLUMNS.values()))]
        for scores in self.methods:
            cells = (scores.formatted(metric, spec) for metric, (_, spec) in _TABLE_COLUMNS.items())
            rows.append((scores.method, *cells))
        runs = self.methods[0].runs
        runs_note = f", mean ± sd of {runs} runs" if runs > 1 else ""
        heading = (
            f"clustering  {file}  ({self.n_texts} texts, {self.n_classes} classes; "
            f"{self.model} on {self.backend}{runs_note})"
        )
        return [heading, text_table(rows)]


def score_clustering(method: str, true_labels: Sequence[str], predicted: np.ndarray) -> ClusteringScores:
    """V-measure, NMI and ARI of `predicted` (-1 = outlier) against `true_labels`.

    Each outlier counts as a cluster of its own. Dropping outliers instead would let a clusterer
    score perfectly by declaring every hard text an outlier; as singletons they cost completeness,
    and `outlier_share` says how many there were.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

    predicted = np.asarray(predicted, dtype=np.int64).copy()
    outliers = predicted < 0
    next_label = int(predicted.max()) + 1 if predicted.size else 0
    predicted[outliers] = np.arange(next_label, next_label + int(outliers.sum()))
    truth = list(true_labels)
    return ClusteringScores(
        method=method,
        n_clusters=len(set(predicted[~outliers].tolist())),
        v_measure=float(v_measure_score(truth, predicted)),
        nmi=float(normalized_mutual_info_score(truth, predicted)),
        ari=float(adjusted_rand_score(truth, predicted)),
        outlier_share=float(outliers.mean()) if predicted.size else 0.0,
    )


def _semplan_labels(
    vectors: np.ndarray, *, min_cluster_size: int | None, n_neighbors: int | None, seed: int
) -> tuple[np.ndarray, dict[str, int]]:
    """semplan's clusterer on `vectors`: its labels, and the parameters it settled on.

    The one call into semplan.cluster here.
    """
    from semplan.cluster import PriorityClusterer

    clusterer = PriorityClusterer(
        min_cluster_size=min_cluster_size, n_neighbors=n_neighbors, random_state=seed
    )
    labels = clusterer.fit(vectors).labels_
    return labels, {
        "min_cluster_size": int(clusterer.min_cluster_size_),
        "min_samples": int(clusterer.min_samples_),
        "n_neighbors": int(clusterer.n_neighbors_),
    }


def evaluate_clustering(
    texts: Sequence[LabelledText],
    encoder: Encoder,
    *,
    min_cluster_size: int | None = None,
    n_neighbors: int | None = None,
    seed: int = DEFAULT_SEED,
    runs: int = 5,
) -> ClusteringResult:
    """Cluster the texts with semplan's PriorityClusterer and with k-means (k = true number of classes),
    `runs` times with seeds `seed`, `seed + 1`, ...; scores are means over the runs.

    Several seeds because on a few dozen texts the UMAP seed alone moves the scores a lot (figures
    in docs/quality.md), so a single run says little. k-means is told the answer's size, which
    semplan never is: a yardstick for the vectors, not a rival method. Otherwise the clusterer runs
    with its defaults for a collection of texts that stand alone (no plans), except that for a
    small sample, whose classes hold fewer than 15 texts, the neighbourhood is narrowed to about one
    class's size (n / classes, at least 5): UMAP's 15 neighbours can merge a small sample's classes.
    """
    from sklearn.cluster import KMeans

    if runs < 1:
        raise EvalError(f"runs must be at least 1, got {runs}")
    labels = [item.label for item in texts]
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise EvalError(f"need at least 2 classes to evaluate clustering, got {len(classes)}")
    vectors = encoder.encode_clauses([item.text for item in texts])
    if n_neighbors is None and len(texts) / len(classes) < DEFAULT_NEIGHBOURS:
        n_neighbors = max(5, round(len(texts) / len(classes)))
    semplan_runs, kmeans_runs = [], []
    for run_seed in range(seed, seed + runs):
        predicted, parameters = _semplan_labels(
            vectors, min_cluster_size=min_cluster_size, n_neighbors=n_neighbors, seed=run_seed
        )
        semplan_runs.append(score_clustering("semplan", labels, predicted))
        kmeans = KMeans(n_clusters=len(classes), n_init=10, random_state=run_seed)
        kmeans_runs.append(score_clustering("kmeans", labels, kmeans.fit_predict(vectors)))
    return ClusteringResult(
        n_texts=len(texts),
        n_classes=len(classes),
        model=encoder.spec.name,
        backend=encoder.backend_name,
        methods=[mean_scores(semplan_runs), mean_scores(kmeans_runs)],
        parameters={**parameters, "seeds": list(range(seed, seed + runs))},
    )
