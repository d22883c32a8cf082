"""Same seed, same priorities? Fits the clusterer several times on one index's vectors and prints
each run's number of priorities and a hash of its labels.

`--doubled` adds a copy of every clause vector with small seeded noise (σ 0.01, as a second
set of plans): the national series doubled to 5,114 clauses has a neighbour graph with a
10-clause component, the case umap-learn laid out differently on every call before
`semplan.cluster.estimator._repeatable_spectral_layout`.

    semplan index tests/data/series --out out/series
    python -m benchmarks.repeatability --index out/series --doubled --runs 2
    NUMBA_NUM_THREADS=1 python -m benchmarks.repeatability --index out/series --doubled --runs 2

Figures: docs/quality.md ("Content priorities (#15)").
"""

from __future__ import annotations

import argparse
import hashlib

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True, help="Index directory.")
    parser.add_argument("--runs", type=int, default=2, help="Fits in this process.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--doubled", action="store_true", help="Add a noisy copy of every vector.")
    args = parser.parse_args()

    from semplan.cluster import PriorityClusterer
    from semplan.store import Corpus

    with Corpus.open(args.index) as corpus:
        vectors = corpus.vectors()
        plans = [clause.plan_id for clause in corpus.clauses()]
    if args.doubled:
        noise = np.random.default_rng(0).normal(0, 0.01, vectors.shape).astype(np.float32)
        vectors = np.vstack([vectors, vectors + noise])
        plans = plans + [f"{plan}-copy" for plan in plans]
    for run in range(args.runs):
        fitted = PriorityClusterer(random_state=args.seed).fit(vectors, plans=plans)
        digest = hashlib.md5(fitted.labels_.tobytes()).hexdigest()[:8]
        print(f"run {run + 1}: {len(vectors)} clauses, {fitted.n_clusters_} priorities, labels {digest}", flush=True)


if __name__ == "__main__":
    main()
