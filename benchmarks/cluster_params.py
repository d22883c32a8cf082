"""Which clustering parameters fit which corpus: the measurements behind
`semplan.cluster.defaults.default_min_cluster_size` and `default_neighbours`.

Four corpora of different size and shape, each encoded once with the default model (clause role):

    sample    the five sample plans (614 clauses, 5 plans)
    rws       tests/data/realworld (less the re-wrapped copy) + tests/data/series: 14 plans, ~6,350 clauses
    thuc1k    tests/data/clustering/thucnews-dev-1000.tsv: 1,000 headlines, 10 classes
    thuc10k   benchmarks/data/thucnews-test-10k.tsv (python -m benchmarks.thucnews): 10,000, 10 classes

For each corpus and UMAP neighbourhood, UMAP runs once per seed and HDBSCAN once per rule on its
layout. Labelled sets report V-measure (outliers as singletons, as `semplan eval clustering`),
plan corpora the number of priorities by tier; both the share of outliers.

    python -m benchmarks.cluster_params                 # every corpus, seed 42
    python -m benchmarks.cluster_params thuc1k,sample 42,43

Results: docs/clustering-design.md ("Parameters that fit the corpus").
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _rule(size: Callable[[int, int | None], int], quarter: bool = False) -> Callable[[int, int | None], tuple[int, int]]:
    def parameters(n: int, n_plans: int | None) -> tuple[int, int]:
        min_cluster_size = size(n, n_plans)
        return min_cluster_size, max(1, round(min_cluster_size / 4)) if quarter else max(1, min_cluster_size // 2)

    return parameters


def _current(n: int, n_plans: int | None) -> int:
    from semplan.cluster.defaults import default_min_cluster_size

    return default_min_cluster_size(n, n_plans)


RULES = {
    "sqrt/8 (before)": _rule(lambda n, p: max(3, round(math.sqrt(n) / 8))),
    "sqrt/4": _rule(lambda n, p: max(3, round(math.sqrt(n) / 4))),
    "sqrt/2": _rule(lambda n, p: max(3, round(math.sqrt(n) / 2))),
    "sqrt/2, ms/4": _rule(lambda n, p: max(3, round(math.sqrt(n) / 2)), quarter=True),
    "per plan (now)": _rule(_current),
    "per plan, ms/4": _rule(_current, quarter=True),
}


def corpora() -> dict[str, tuple[list[str], list[str] | None, list[str] | None]]:
    """name → (texts, class labels or None, plan ids or None)."""
    from semplan.data import sample_plan_paths
    from semplan.evaluation import read_labelled_texts
    from semplan.read import read_document
    from semplan.segment import segment_document

    def plan_clauses(paths: list[Path]) -> tuple[list[str], None, list[str]]:
        clauses = [clause for path in paths for clause in segment_document(read_document(path))]
        return [c.match_text for c in clauses], None, [c.plan_id for c in clauses]

    found = {
        "sample": plan_clauses(sample_plan_paths()),
        "rws": plan_clauses(
            [p for p in sorted((ROOT / "tests/data/realworld").glob("*.txt")) if "wrapped30" not in p.stem]
            + sorted((ROOT / "tests/data/series").glob("*.txt"))
        ),
    }
    for name, path in (("thuc1k", ROOT / "tests/data/clustering/thucnews-dev-1000.tsv"),
                       ("thuc10k", ROOT / "benchmarks/data/thucnews-test-10k.tsv")):  # fmt: skip
        if path.exists():
            texts = read_labelled_texts(path)
            found[name] = ([t.text for t in texts], [t.label for t in texts], None)
    return found


def main(argv: list[str] | None = None) -> int:
    import hdbscan

    from semplan.cluster.estimator import as_unit_rows, umap_module
    from semplan.encode import Encoder
    from semplan.evaluation import score_clustering

    argv = sys.argv[1:] if argv is None else argv
    available = corpora()
    names = argv[0].split(",") if argv else list(available)
    seeds = [int(s) for s in argv[1].split(",")] if len(argv) > 1 else [42]
    with Encoder(progress=False) as encoder:
        for name in names:
            texts, labels, plans = available[name]
            X = as_unit_rows(encoder.encode_clauses(texts))
            n_plans = len(set(plans)) if plans else None
            for neighbours in (15, 30) if len(X) > 2000 else (15,):
                for seed in seeds:
                    layout = umap_module().UMAP(
                        n_components=5, n_neighbors=neighbours, metric="cosine", min_dist=0.0,
                        random_state=seed, low_memory=True,
                    ).fit_transform(X)  # fmt: skip
                    for rule, parameters in RULES.items():
                        size, samples = parameters(len(X), n_plans)
                        found = hdbscan.HDBSCAN(min_cluster_size=size, min_samples=samples).fit(layout).labels_
                        row = {"corpus": name, "n": len(X), "plans": n_plans, "neighbours": neighbours, "seed": seed,
                               "rule": rule, "min_cluster_size": size, "min_samples": samples,
                               "clusters": int(found.max() + 1), "outliers": round(float((found < 0).mean()), 3)}  # fmt: skip
                        if labels:
                            row["v_measure"] = round(score_clustering("semplan", labels, found).v_measure, 3)
                        if plans:
                            plan_of = np.array(plans)
                            spans = [len(set(plan_of[found == k])) for k in range(found.max() + 1)]
                            row["tiers"] = {
                                "all": sum(s == n_plans for s in spans),
                                "several": sum(2 <= s < n_plans for s in spans),
                                "unique": sum(s == 1 for s in spans),
                            }
                        print(json.dumps(row, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
