"""Search latency, recall and index cost of the store's FAISS indexes on synthetic vectors.

For each corpus size, the exact index (`IDMap2,Flat`) and the approximate one the store switches
to above its threshold (`IVF<nlist>,Flat`, nlist from `semplan.store.ivf_nlist`, nprobe calibrated
at build time) are built with the store's own `build_faiss_index` and queried one vector at a
time through `faiss_search` (what `semplan similar` does), with and without a plan-exclusion
selector. Recall@10 is measured against exact inner-product search (numpy brute force).

Two kinds of data, labelled in the `data` column:

- `realistic`: recombinations of the 614 real clause vectors of the sample plans
  (multilingual-e5-small, cached in benchmarks/data/sample_vectors.npy): each synthetic vector
  is a real clause vector plus a second one at weight U(0, 0.5), half of them a third at
  U(0, 0.25), plus seeded Gaussian noise, renormalised; the same recipe as the clustering
  benchmark, with the third partner added. Real sentence embeddings cluster at many scales
  (topic, phrasing, near-paraphrase) and so does this: a held-out query's nearest neighbour sits
  at cosine ≈ 0.96, the sample corpus's own nearest-other-clause median is 0.95.
- `worst-case`: unit vectors around n/10 random directions in 384 dimensions with heavy noise
  (the data this benchmark used before). Ten vectors per topic and no structure above the topic
  level: IVF's coarse lists say almost nothing about where a query's neighbours are, so the
  calibration has to probe a large share of the lists. Real embeddings do not look like this; it
  is kept (approximate index only: exact search cost does not depend on the data) to show what
  the calibration costs when the data gives the index nothing to work with.

- `even-blend`: three real clause vectors at Dirichlet(1, 1, 1) weights plus the same noise, a
  continuum between clauses rather than clouds around them; harder for IVF than real text and
  more spread out than it (see `even_blend_vectors`), a middle ground between the two above.

Queries are held-out vectors from the same generator, never members of the index. `index_mb` is
the index's own size from its layout (vectors, ids, centroids); `process_peak_rss_mb` is the
whole run's peak (vectors, index and the exact ground truth's score blocks at the largest size).

    python -m benchmarks search            # 10k, 100k, 1M (peak ~5 GB RAM, ~15 minutes on 2 busy cores)
    python -m benchmarks search --quick    # 10k and 50k, for a smoke run
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

DIMS = 384
VECTORS_PER_TOPIC = 10
SEED = 20_240_601
SAMPLE_VECTORS = Path(__file__).resolve().parent / "data" / "sample_vectors.npy"
# Per-dimension noise (norm ≈ 0.3 in 384 dims) and the largest weights of the blended partners,
# as in benchmarks/cluster.py.
NOISE = 0.015
MIX = 0.5
THIRD_MIX = 0.25


def sample_vectors() -> np.ndarray:
    """The sample plans' 614 clause vectors (multilingual-e5-small), from the cache or encoded once.

    Cached as float16 (half a megabyte in git; float16's 3 significant digits are far below
    the noise added to them).
    """
    if SAMPLE_VECTORS.exists():
        return np.load(SAMPLE_VECTORS, allow_pickle=False).astype(np.float32)
    from benchmarks.cluster import sample_base

    _, vectors = sample_base()
    SAMPLE_VECTORS.parent.mkdir(parents=True, exist_ok=True)
    scratch = SAMPLE_VECTORS.with_suffix(".tmp.npy")
    np.save(scratch, vectors.astype(np.float16))
    scratch.replace(SAMPLE_VECTORS)
    return vectors.astype(np.float32)


def realistic_vectors(n: int, base: np.ndarray, seed: int = SEED) -> np.ndarray:
    """float32 (n, dims) unit vectors recombined from real clause vectors (see the module doc)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):  # in blocks: 1M × 384 float64 temporaries would be 3 GB
        size = min(100_000, n - start)
        first, second, third = (rng.integers(0, len(base), size) for _ in range(3))
        second_weight = rng.uniform(0.0, MIX, (size, 1)).astype(np.float32)
        third_weight = (rng.uniform(0.0, THIRD_MIX, (size, 1)) * (rng.random((size, 1)) < 0.5)).astype(np.float32)
        block = base[first] + second_weight * base[second] + third_weight * base[third]
        block += NOISE * rng.standard_normal((size, base.shape[1]), dtype=np.float32)
        out[start : start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def even_blend_vectors(n: int, base: np.ndarray, seed: int = SEED) -> np.ndarray:
    """float32 (n, dims) unit vectors: three random real clause vectors at Dirichlet(1, 1, 1) weights, plus noise.

    No clause dominates its blend, so the data is a continuum between sample clauses rather than
    clouds around them: harder for IVF than `realistic_vectors`, and more spread than real text
    (a held-out vector's nearest neighbour at cosine ≈ 0.92 among 200k, below the 0.95 of the
    614 sample clauses among themselves).
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        picks = rng.integers(0, len(base), (size, 3))
        weights = rng.dirichlet((1.0, 1.0, 1.0), size).astype(np.float32)
        block = np.einsum("ij,ijk->ik", weights, base[picks])
        block += NOISE * rng.standard_normal((size, base.shape[1]), dtype=np.float32)
        out[start : start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def worst_case_vectors(n: int, dims: int = DIMS, seed: int = SEED, topics: int | None = None) -> np.ndarray:
    """float32 (n, dims) unit vectors scattered around `topics` (default n/10) seeded random directions."""
    topics = topics or max(1, n // VECTORS_PER_TOPIC)
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dims)).astype(np.float32)
    out = np.empty((n, dims), dtype=np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        block = centres[rng.integers(0, topics, size)] + 0.6 * rng.standard_normal((size, dims), dtype=np.float32)
        out[start : start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


# The old name, for callers of the previous version of this module.
synthetic_vectors = worst_case_vectors


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


def index_mb(index) -> float:
    """What the index holds in memory, from its layout: codes and ids per vector, plus IVF centroids.

    IDMap2's reverse map (a hash map, some tens of bytes per id) is not counted. Computed rather
    than read from the process's RSS, which on a busy allocator moves with freed temporaries.
    """
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        total = ivf.ntotal * (ivf.code_size + 8) + ivf.nlist * ivf.d * 4
    else:
        inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
        total = index.ntotal * (inner.code_size + 8)
    return total / 2**20


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


def _recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth, strict=True)]))


def _measure(data: str, kinds: tuple[str, ...], vectors: np.ndarray, queries: np.ndarray, threads: int) -> list[dict]:
    from semplan.store import build_faiss_index

    k = 10
    n = len(vectors)
    ids = np.arange(n, dtype=np.int64)
    truth = exact_top_k(queries, vectors, k)
    # "Exclude a plan": the first 1% of ids, as `--exclude-plan` passes them to FAISS.
    excluded = ids[: max(1, n // 100)]
    truth_excluding = exact_top_k(queries, vectors[len(excluded) :], k) + len(excluded)
    records = []
    for kind in kinds:
        started = time.perf_counter()
        index, description = build_faiss_index(vectors, ids, kind)
        build_seconds = time.perf_counter() - started
        found, times = _latencies(index, queries, k, None)
        found_excluding, times_excluding = _latencies(index, queries, k, excluded)
        records.append(
            {
                "benchmark": "search",
                "data": data,
                "n_vectors": n,
                "dims": vectors.shape[1],
                "index": description["factory"],
                "nprobe": description.get("nprobe"),
                "calibrated_recall_at_10": description.get("calibrated_recall_at_10"),
                "threads": threads,
                "build_s": round(build_seconds, 2),
                "index_mb": round(index_mb(index), 1),
                "p50_ms": round(1000 * float(np.percentile(times, 50)), 3),
                "p95_ms": round(1000 * float(np.percentile(times, 95)), 3),
                "recall_at_10": round(_recall(found, truth, k), 4),
                "p50_ms_excluding_1pct": round(1000 * float(np.percentile(times_excluding, 50)), 3),
                "recall_at_10_excluding_1pct": round(_recall(found_excluding, truth_excluding, k), 4),
                "queries": len(queries),
            }
        )
        print(json.dumps(records[-1]), file=sys.stderr, flush=True)
        del index
    return records


DATASETS = ("realistic", "even-blend", "worst-case")


def run(sizes=(10_000, 100_000, 1_000_000), quick: bool = False, datasets: tuple[str, ...] = DATASETS) -> list[dict]:
    """One record per (data, size, index kind): build time, memory, p50/p95 single-query latency, recall@10."""
    import resource

    from semplan.store import configure_threads

    if quick:
        sizes = tuple(sorted({min(size, 50_000) for size in sizes}))
    threads = configure_threads()
    n_queries = 50 if quick else 200
    base = sample_vectors()
    results = []
    for n in sizes:
        # Queries from a different seed of the same generator: held out, not members of the index.
        # Exact search costs the same on any data, so only the realistic rows time it.
        if "realistic" in datasets:
            vectors, queries = realistic_vectors(n, base), realistic_vectors(n_queries, base, seed=SEED + 1)
            results += _measure("realistic", ("flat", "ivf"), vectors, queries, threads)
            del vectors
        if "even-blend" in datasets:
            vectors, queries = even_blend_vectors(n, base), even_blend_vectors(n_queries, base, seed=SEED + 1)
            results += _measure("even-blend", ("ivf",), vectors, queries, threads)
            del vectors
        if "worst-case" in datasets:
            data = worst_case_vectors(n + n_queries)
            results += _measure("worst-case", ("ivf",), data[n_queries:], data[:n_queries], threads)
            del data
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    for record in results:
        record["process_peak_rss_mb"] = peak
    return results


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    for record in run(quick=quick):
        print(json.dumps(record))
