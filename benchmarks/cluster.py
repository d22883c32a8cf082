"""Clustering wall time and peak memory of `semplan.cluster.find_priorities` at corpus scale.

The synthetic corpus is built by recombining the sample plans' clauses (seeded): each
synthetic clause copies a random sample clause's text and takes that clause's real
vector (multilingual-e5-small, encoded once through the project's Encoder and cached)
blended with a second clause's plus seeded noise, renormalised, so the vectors keep the
geometry of real plan sentences (e5 puts them all near 0.9 cosine) without encoding
100k texts.
Synthetic plans hold ~120 clauses each, like the sample plans.

Each size runs in a fresh subprocess so its peak RSS (ru_maxrss) is its own; a
4,500-clause warm-up in that process pays numba's one-off UMAP compilation first (the
NN-descent path UMAP takes above 4,096 rows included), and that time, warm-up run
included, is reported apart (`compile_s`). Stage times come from find_priorities'
`timings`: UMAP + HDBSCAN, labels, cross-plan matching (an exact n × n product in
tiles), and the 2-D map for the report.

Results, before and after the large-corpus changes, and what they mean:
docs/clustering-design.md (benchmark log).

    python -m benchmarks.cluster            # 10k and 100k clauses
    python -m benchmarks.cluster --quick    # 2k, for a smoke run
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 20_240_601
CLAUSES_PER_PLAN = 120
# Per-dimension noise on unit vectors in 384 dims (norm ~0.3) and the largest weight of the
# blended second clause: a synthetic clause stays at cosine ~0.9-0.95 to its source, about
# as close as the sample plans' best cross-plan matches are.
NOISE = 0.015
MIX = 0.5
WARM_UP = 4_500


def sample_base() -> tuple[list[str], np.ndarray]:
    """The sample plans' clause texts (matching text) and their vectors from the default model."""
    from semplan.data import sample_plan_paths
    from semplan.encode import Encoder
    from semplan.read import read_document
    from semplan.segment import segment_document

    clauses = [clause for path in sample_plan_paths() for clause in segment_document(read_document(path))]
    texts = [clause.match_text for clause in clauses]
    with Encoder(progress=False) as encoder:
        vectors = encoder.encode_passages(texts)
    return texts, np.asarray(vectors, dtype=np.float32)


def synthetic_corpus(texts: list[str], vectors: np.ndarray, n: int, seed: int = SEED):
    """n clauses recombined from the base (seeded), in plans of CLAUSES_PER_PLAN.

    Each synthetic clause takes a random base clause's text and its vector blended with a
    second random clause's (weight up to MIX) plus noise, renormalised: a continuum of
    paraphrases and mixtures rather than exact copies. Exact copies would leave UMAP a
    neighbour graph of hundreds of disconnected islands, which is not what plans look like
    and sends its layout into a slow special case.
    """
    from semplan.segment import Clause

    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(texts), size=n)
    partners = rng.integers(0, len(texts), size=n)
    weights = rng.uniform(0.0, MIX, size=(n, 1)).astype(np.float32)
    noisy = vectors[picks] + weights * vectors[partners]
    noisy += NOISE * rng.standard_normal((n, vectors.shape[1]), dtype=np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    clauses = []
    for i, pick in enumerate(picks):
        text = texts[pick]
        plan = f"plan-{i // CLAUSES_PER_PLAN:05d}"
        clauses.append(Clause(plan, i % CLAUSES_PER_PLAN + 1, "sentence", text, text, ((0, len(text)),)))
    return clauses, noisy


def _one_size(base_path: str, n: int) -> dict:
    """Runs inside the subprocess: warm up, then time one clustering of n clauses."""
    from semplan.cluster import find_priorities

    base = np.load(base_path, allow_pickle=False)
    texts = json.loads(Path(base_path).with_suffix(".json").read_text(encoding="utf-8"))
    vectors = base

    started = time.perf_counter()
    # Above 4,096 rows UMAP switches from exact neighbours to NN-descent, compiled on first use.
    warm_clauses, warm_vectors = synthetic_corpus(texts, vectors, min(n, WARM_UP), seed=1)
    find_priorities(warm_clauses, warm_vectors)
    compile_s = time.perf_counter() - started

    clauses, noisy = synthetic_corpus(texts, vectors, n)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    analysis = find_priorities(clauses, noisy, timings=timings)
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "benchmark": "cluster",
        "n_clauses": n,
        "n_plans": len(analysis.plans),
        "wall_s": round(wall, 2),
        "stages_s": {stage: round(seconds, 2) for stage, seconds in timings.items()},
        "compile_s": round(compile_s, 2),
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "n_priorities": len(analysis.priorities),
        "n_outliers": len(analysis.outliers),
        "tiers": analysis.tier_counts(),
        "min_cluster_size": analysis.parameters["min_cluster_size"],
        "min_samples": analysis.parameters["min_samples"],
        "umap_fitted_on": analysis.parameters.get("umap_fitted_on"),
        "load_average": round(os.getloadavg()[0], 1),
    }


def run(sizes=(10_000, 100_000), quick: bool = False) -> list[dict]:
    """One record per corpus size: wall time (total and by stage), peak RSS, what was found."""
    if quick:
        sizes = (2_000,)
    results = []
    with tempfile.TemporaryDirectory(prefix="semplan-bench-cluster-") as scratch:
        texts, vectors = sample_base()
        base_path = Path(scratch) / "base.npy"
        np.save(base_path, vectors)
        base_path.with_suffix(".json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        for n in sizes:
            child = subprocess.run(
                [sys.executable, "-m", "benchmarks.cluster", "--one", str(base_path), str(n)],
                capture_output=True,
                text=True,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
                cwd=Path(__file__).resolve().parent.parent,
            )
            if child.returncode != 0:
                raise RuntimeError(f"cluster benchmark at n={n} failed:\n{child.stderr[-3000:]}")
            record = json.loads(child.stdout.strip().splitlines()[-1])
            results.append(record)
            print(json.dumps(record, ensure_ascii=False), file=sys.stderr)
    return results


STAGES = ("umap+hdbscan", "labels", "cross-plan matching", "2-d map")


def table(records: list[dict]) -> str:
    """A Markdown table: one row per size, wall and per-stage seconds, peak RSS, findings."""
    head = (
        "| clauses | plans | wall s | UMAP+HDBSCAN s | labels s | matching s | 2-D map s "
        "| peak RSS GB | priorities | outliers | UMAP fitted on | load |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in records:
        stages = [f"{r['stages_s'].get(stage, 0.0):.0f}" for stage in STAGES]
        lines.append(
            f"| {r['n_clauses']:,} | {r['n_plans']} | {r['wall_s']:.0f} | "
            + " | ".join(stages)
            + f" | {r['peak_rss_mb'] / 1024:.2f} | {r['n_priorities']} | {r['n_outliers']:,} "
            f"| {r.get('umap_fitted_on') or r['n_clauses']:,} | {r.get('load_average', '')} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(json.dumps(_one_size(argv[1], int(argv[2])), ensure_ascii=False))
        return
    sizes = tuple(int(a) for a in argv if a.isdigit()) or (10_000, 100_000)
    records = run(sizes=sizes, quick="--quick" in argv)
    for record in records:
        print(json.dumps(record, ensure_ascii=False))
    print(table(records))


if __name__ == "__main__":
    main(sys.argv[1:])
