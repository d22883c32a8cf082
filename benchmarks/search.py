"""Search latency and recall of the store's FAISS indexes on synthetic vectors.

For each corpus size, the exact index (`IDMap2,Flat`) and the approximate one the store switches
to above its threshold (`IVF<nlist>,Flat`, nlist from `semplan.store.ivf_nlist`, nprobe calibrated at build) are
built with the store's own `build_faiss_index` and queried one vector at a time through
`faiss_search` (what `semplan similar` does), with and without a plan-exclusion selector.
Recall@10 is measured against exact inner-product search.

The vectors are unit vectors around n/10 seeded random topics, the shape sentence embeddings
have (near-paraphrases in a few plans); uniformly random vectors in 384 dimensions have no near
neighbours to find and would measure nothing useful about ANN, and with many vectors per topic
every setting finds them all.

    python -m benchmarks.search            # 10k, 100k, 1M (1M needs ~3 GB RAM and minutes)
    python -m benchmarks.search --quick    # 10k and 50k, for a smoke run
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

DIMS = 384
VECTORS_PER_TOPIC = 10
SEED = 20_240_601


def synthetic_vectors(n: int, dims: int = DIMS, seed: int = SEED, topics: int | None = None) -> np.ndarray:
    """float32 (n, dims) unit vectors scattered around `topics` (default n/10) seeded random directions."""
    topics = topics or max(1, n // VECTORS_PER_TOPIC)
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dims)).astype(np.float32)
    out = np.empty((n, dims), dtype=np.float32)
    for start in range(0, n, 100_000):  # in blocks: the noise for 1M × 384 at once is 3 GB of float64
        size = min(100_000, n - start)
        block = centres[rng.integers(0, topics, size)] + 0.6 * rng.standard_normal((size, dims), dtype=np.float32)
        out[start : start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def exact_top_k(queries: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the k best inner products per query, by brute force in blocks."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(vectors), 200_000):
        scores = queries @ vectors[start : start + 200_000].T
        ids = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        all_scores = np.concatenate([best_scores, scores], axis=1)
        all_ids = np.concatenate([best_ids, ids], axis=1)
        top = np.argpartition(-all_scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(all_scores, top, axis=1)
        best_ids = np.take_along_axis(all_ids, top, axis=1)
    return best_ids


def _latencies(index, queries: np.ndarray, k: int, exclude_ids: np.ndarray | None) -> tuple[np.ndarray, list[float]]:
    from semplan.store import faiss_search

    found = np.empty((len(queries), k), dtype=np.int64)
    times = []
    for row, query in enumerate(queries):
        started = time.perf_counter()
        _, ids = faiss_search(index, query[None, :], k, exclude_ids=exclude_ids)
        times.append(time.perf_counter() - started)
        found[row] = ids[0]
    return found, times


def run(sizes=(10_000, 100_000, 1_000_000), quick: bool = False) -> list[dict]:
    """One record per (size, index kind): build time, p50/p95 single-query latency, recall@10."""
    from semplan.store import build_faiss_index, configure_threads

    if quick:
        sizes = tuple(sorted({min(size, 50_000) for size in sizes}))
    threads = configure_threads()
    n_queries = 50 if quick else 200
    k = 10
    results = []
    for n in sizes:
        data = synthetic_vectors(n + n_queries)
        queries, vectors = data[:n_queries], data[n_queries:]
        ids = np.arange(n, dtype=np.int64)
        truth = exact_top_k(queries, vectors, k)
        # "Exclude a plan": the first 1% of ids, as `--exclude-plan` passes them to FAISS.
        excluded = ids[: max(1, n // 100)]
        truth_excluding = exact_top_k(queries, vectors[len(excluded) :], k) + len(excluded)
        for kind in ("flat", "ivf"):
            started = time.perf_counter()
            index, description = build_faiss_index(vectors, ids, kind)
            build_seconds = time.perf_counter() - started
            found, times = _latencies(index, queries, k, None)
            found_excluding, times_excluding = _latencies(index, queries, k, excluded)
            recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth, strict=True)]))
            recall_excluding = float(
                np.mean([len(set(a) & set(b)) / k for a, b in zip(found_excluding, truth_excluding, strict=True)])
            )
            results.append(
                {
                    "benchmark": "search",
                    "n_vectors": n,
                    "dims": DIMS,
                    "index": description["factory"],
                    "nprobe": description.get("nprobe"),
                    "calibrated_recall_at_10": description.get("calibrated_recall_at_10"),
                    "threads": threads,
                    "build_s": round(build_seconds, 2),
                    "p50_ms": round(1000 * float(np.percentile(times, 50)), 3),
                    "p95_ms": round(1000 * float(np.percentile(times, 95)), 3),
                    "recall_at_10": round(recall, 4),
                    "p50_ms_excluding_1pct": round(1000 * float(np.percentile(times_excluding, 50)), 3),
                    "recall_at_10_excluding_1pct": round(recall_excluding, 4),
                    "queries": n_queries,
                }
            )
            del index
    return results


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    for record in run(quick=quick):
        print(json.dumps(record))
