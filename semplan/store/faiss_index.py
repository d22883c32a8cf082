"""The FAISS side of an index: which kind, building and calibrating it, searching it, its file.

Exact (`IDMap2,Flat`) up to the index's `ann_threshold` clauses, then `IVF<nlist>,Flat` over inner
product with nprobe calibrated at build time; docs/index-design.md gives the measurements behind
these choices (against HNSW, list counts, nprobe, threads).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan._fs import replace_atomically
from semplan.errors import StoreError

if TYPE_CHECKING:
    import faiss

# FAISS parallelises a search over its queries; below this many (its own BLAS threshold) extra
# threads only spin and slow a search down (docs/index-design.md).
_SINGLE_THREAD_BELOW = 20
# Recall@10 the calibration aims for on the index's own vectors, above the promised 0.95 so
# that fresh queries, which the sample does not contain, still clear it.
CALIBRATION_TARGET = 0.97
# Manifest keys that describe an IVF index only.
_IVF_KEYS = ("nlist", "nprobe", "trained_on", "calibrated_recall_at_10")


def configure_threads() -> int:
    """Give FAISS one OpenMP thread per core this process may use, unless OMP_NUM_THREADS is set.

    FAISS defaults to every core of the machine, which oversubscribes under CPU affinity limits
    (containers, `taskset`) and fights torch's own pool when both run in one process. Building
    an index (k-means, adding vectors) uses them all; a search of a few queries uses one.
    """
    import faiss

    if os.environ.get("OMP_NUM_THREADS"):
        return faiss.omp_get_max_threads()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    faiss.omp_set_num_threads(max(1, cores))
    return max(1, cores)


def choose_index_kind(n_vectors: int, ann_threshold: int) -> str:
    return "ivf" if n_vectors > ann_threshold else "flat"


def ivf_nlist(n_vectors: int) -> int:
    """Inverted lists for an IVF index: ≈ 2·√n, a few hundred vectors per list.

    k-means time grows with nlist² (points trained on ∝ nlist), a probe's scan with n/nlist; 2·√n
    balances the two. FAISS wants ≥ 39 training points per centroid, so tiny indexes (tests) get
    fewer lists.
    """
    return max(1, min(max(64, int(2 * math.sqrt(n_vectors))), n_vectors // 39))


def calibrate_nprobe(
    index: faiss.Index, vectors: np.ndarray, ids: np.ndarray, *, target: float = CALIBRATION_TARGET,
    n_queries: int = 100, seed: int = 1234,
) -> tuple[int, float]:
    """The smallest nprobe (in steps of ×1.5) whose recall@10 against exact search reaches `target`.

    How many lists must be probed depends on the data, not only on its size, so it is measured:
    sampled stored vectors are the queries, each query's own vector is left out of both result
    lists, and exact results come from brute force. 100 queries (1,000 neighbours) put the
    estimate within about ±0.01, inside the 0.02 margin.
    """
    import faiss

    ivf = faiss.extract_index_ivf(index)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(vectors), min(n_queries, len(vectors)), replace=False))
    queries = np.ascontiguousarray(vectors[sample])
    k = min(11, len(vectors))
    exact_ids = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 50):
        scores = queries[start : start + 50] @ vectors.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        exact_ids[start : start + 50] = ids[top]
    exact = [set(row) - {ids[i]} for row, i in zip(exact_ids, sample, strict=True)]
    nprobe, recall = max(1, min(ivf.nlist, 8)), 0.0
    while True:
        _, found = faiss_search(index, queries, k, nprobe=nprobe)
        recall = float(np.mean([
            len((set(row) - {ids[i]}) & truth) / max(1, len(truth))
            for row, i, truth in zip(found, sample, exact, strict=True)
        ]))
        if recall >= target or nprobe >= ivf.nlist:
            return nprobe, recall
        nprobe = min(ivf.nlist, math.ceil(nprobe * 1.5))


def build_faiss_index(
    vectors: np.ndarray, ids: np.ndarray, kind: str, *, seed: int = 1234
) -> tuple[faiss.Index, dict[str, Any]]:
    """A FAISS inner-product index over `vectors` with the given int64 `ids`, and its description."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    dims = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dims))
        index.add_with_ids(vectors, ids)
        return index, {"kind": "flat", "factory": "IDMap2,Flat"}
    if kind != "ivf":
        raise StoreError(f"unknown FAISS index kind {kind!r}")
    nlist = ivf_nlist(len(vectors))
    factory = f"IVF{nlist},Flat"
    index = faiss.index_factory(dims, factory, faiss.METRIC_INNER_PRODUCT)
    # k-means on a seeded sample: 40 points per centroid is what FAISS asks for, and training on
    # more only costs time.
    rng = np.random.default_rng(seed)
    n_train = min(len(vectors), 40 * nlist)
    sample = vectors[np.sort(rng.choice(len(vectors), n_train, replace=False))]
    index.cp.seed = seed
    index.train(sample)
    index.add_with_ids(vectors, ids)
    nprobe, recall = calibrate_nprobe(index, vectors, ids, seed=seed)
    index.nprobe = nprobe
    description = {
        "kind": "ivf", "factory": factory, "nlist": nlist, "nprobe": nprobe,
        "calibrated_recall_at_10": round(recall, 4), "trained_on": len(vectors),
    }
    return index, description


def describe_index(index_info: dict[str, Any], description: dict[str, Any]) -> dict[str, Any]:
    """The manifest's "index" entry for a freshly built index (an exact one keeps no IVF figures)."""
    info = dict(index_info)
    if description["kind"] == "flat":
        for key in _IVF_KEYS:
            info.pop(key, None)
    info.update(description)
    return info


def can_update_in_place(index_info: dict[str, Any], kind: str, n_vectors: int) -> bool:
    """Whether an IVF index may take this write's changes in place instead of being retrained.

    Retraining k-means over a large corpus for every added plan is what makes IVF slow to
    maintain; while the corpus stays within 2× of what the centroids were trained on, the lists
    stay balanced enough to update in place.
    """
    trained_on = int(index_info.get("trained_on", 0))
    return kind == "ivf" and trained_on / 2 <= n_vectors <= trained_on * 2


def update_in_place(
    index: faiss.Index, removed_ids: list[int], added_ids: np.ndarray, added_vectors: np.ndarray
) -> None:
    import faiss

    if removed_ids:
        index.remove_ids(faiss.IDSelectorBatch(np.array(removed_ids, dtype=np.int64)))
    if len(added_ids):
        index.add_with_ids(added_vectors, added_ids)


def faiss_search(
    index: faiss.Index,
    queries: np.ndarray,
    k: int,
    *,
    include_ids: np.ndarray | None = None,
    exclude_ids: np.ndarray | None = None,
    nprobe: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of shape (len(queries), k); missing results have id -1."""
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    selector = None
    if include_ids is not None:
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(include_ids, dtype=np.int64))
    elif exclude_ids is not None and len(exclude_ids):
        selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.ascontiguousarray(exclude_ids, dtype=np.int64)))
    is_ivf = faiss.try_extract_index_ivf(index) is not None
    params = None
    if is_ivf:
        params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe or faiss.extract_index_ivf(index).nprobe)
    elif selector is not None:
        params = faiss.SearchParameters(sel=selector)
    threads = faiss.omp_get_max_threads()
    if len(queries) < _SINGLE_THREAD_BELOW:
        faiss.omp_set_num_threads(1)
    try:
        scores, ids = index.search(queries, k, params=params)
    finally:
        faiss.omp_set_num_threads(threads)
    del selector  # the params hold a raw pointer to it; keep it alive until after the search
    return scores, ids


def exact_top(scores: np.ndarray, ids: np.ndarray, k: int, excluded: set[int]) -> list[tuple[int, float]]:
    """Up to k (id, score) pairs of one query's exact scores, best first, ids in `excluded` left out.

    Equal scores (clauses with the same text) come in stored order, so the best of a plan is its
    first such clause, as an argmax would give.
    """
    take = min(k + len(excluded), len(scores))
    if take == 0:
        return []
    cutoff = np.partition(scores, len(scores) - take)[len(scores) - take]
    candidates = np.flatnonzero(scores >= cutoff)
    top = candidates[np.argsort(-scores[candidates], kind="stable")][:take]
    return [(int(ids[i]), float(scores[i])) for i in top if int(ids[i]) not in excluded][:k]


def read_verified_index(path: Path, info: Mapping[str, Any]) -> tuple[faiss.Index | None, str | None]:
    """(the index in `path`, None) if it is the file the manifest's `info` describes, else (None, what is wrong).

    The file is hashed and then read through the same open handle, so the bytes FAISS reads are the
    bytes that matched the checksum even if a repair replaces the file meanwhile. Hashing costs about
    as much as reading (docs/index-design.md has the figures).
    """
    import faiss

    if not info.get("sha256"):
        return None, "has no checksum (written by an older semplan)"
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size != info.get("bytes"):
                return None, "is truncated" if size < int(info.get("bytes") or 0) else "has the wrong size"
            if hashlib.file_digest(handle, "sha256").hexdigest() != info["sha256"]:
                return None, "did not match its checksum"
            handle.seek(0)
            index = faiss.read_index(faiss.PyCallbackIOReader(handle.read))
    except FileNotFoundError:
        return None, "is missing"
    except OSError as error:
        return None, f"cannot be read ({error.strerror})"
    except RuntimeError:
        return None, "cannot be read by FAISS"
    if index.ntotal != info.get("ntotal"):
        return None, f"holds {index.ntotal} vectors, not the {info.get('ntotal')} recorded"
    return index, None


def write_index(index: faiss.Index, path: Path) -> dict[str, Any]:
    """Written to a temporary file, fsynced, renamed (fault points `faiss-temp-written`, `faiss-renamed`).

    Returns what the manifest records of it: {"sha256", "bytes", "ntotal"}, hashed as it is written.
    Raises OSError (ENOSPC when the disk is full) with the temporary file removed.
    """
    import faiss

    digest = hashlib.sha256()
    written = 0

    def write(temporary: Path) -> None:
        nonlocal written
        with open(temporary, "wb") as handle:

            def chunk(data: bytes) -> int:
                nonlocal written
                handle.write(data)  # an OSError here (disk full) passes through FAISS unchanged
                digest.update(data)
                written += len(data)
                return len(data)

            faiss.write_index(index, faiss.PyCallbackIOWriter(chunk))

    replace_atomically(path, write, fault_name="faiss")
    return {"sha256": digest.hexdigest(), "bytes": written, "ntotal": int(index.ntotal)}


def digest_vectors(chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> str:
    """The manifest's `vectors_sha256`: sha256 over each clause in row-id order, its row id as an 8-byte
    little-endian integer followed by its vector as little-endian float32 (the stored blob's bytes).

    `chunks` are (ids, vectors) in ascending id order; SQLite's `SELECT id, vector FROM clauses
    ORDER BY id` recomputes it.
    """
    digest = hashlib.sha256()
    for ids, vectors in chunks:
        if not len(ids):
            continue
        record = np.empty(len(ids), dtype=[("id", "<i8"), ("vector", "<f4", (vectors.shape[1],))])
        record["id"], record["vector"] = ids, vectors
        digest.update(record.tobytes())
    return digest.hexdigest()


def index_contents(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) an exact or IVF-Flat index holds, by id: what it answers from, to compare with SQLite."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        vectors = index.index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
    else:
        lists = ivf.invlists
        id_parts, vector_parts = [np.zeros(0, np.int64)], [np.zeros((0, index.d), np.float32)]
        for number in range(ivf.nlist):
            size = lists.list_size(number)
            if size:
                id_parts.append(faiss.rev_swig_ptr(lists.get_ids(number), size).copy())
                codes = faiss.rev_swig_ptr(lists.get_codes(number), size * lists.code_size).copy()
                vector_parts.append(codes.view(np.float32).reshape(size, index.d))
        ids, vectors = np.concatenate(id_parts), np.concatenate(vector_parts)
    order = np.argsort(ids, kind="stable")
    return ids[order], np.asarray(vectors, dtype=np.float32)[order]
