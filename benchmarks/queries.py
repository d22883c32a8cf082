"""Many free-text queries: `semplan similar --queries FILE` in one process against one process per query.

A script that asked 150 questions by calling `semplan similar TEXT` once each paid the start-up
and the model load every time (~1.4 s a call; 4.5 minutes). The batch mode loads the model once
and encodes all the queries in one batch. Both are measured as a user runs them: a fresh
`python -m semplan` process, wall time from start to exit, on an index of the sample plans, with
an empty embedding cache for every process (so no run answers from an earlier run's cache).
Rounds alternate the two ways, and medians are reported.

    python -m benchmarks queries            # 60 queries in a batch, 12 single-query processes, 3 rounds
    python -m benchmarks queries --quick    # 20 and 4, 2 rounds
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "semplan" / "data" / "sample_plans"


def sample_queries(n: int) -> list[str]:
    """`n` real questions: the first 40 characters of evenly spaced clauses of the sample plans."""
    from semplan.read import read_document
    from semplan.segment import segment

    clauses = [clause.text for path in sorted(SAMPLE.glob("*.txt")) for document in [read_document(path)]
               for clause in segment(document.text, document.plan_id) if len(clause.text) >= 12]
    step = max(1, len(clauses) // n)
    return [text[:40] for text in clauses[::step][:n]]


def _semplan(args: list[str], cache: Path) -> float:
    env = {**os.environ, "SEMPLAN_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "semplan", *args], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def run(quick: bool = False) -> list[dict]:
    n_batch, n_single, rounds = (20, 4, 2) if quick else (60, 12, 3)
    queries = sample_queries(n_batch)
    with tempfile.TemporaryDirectory(prefix="semplan-bench-queries-") as scratch:
        scratch_dir = Path(scratch)
        index = scratch_dir / "index"
        _semplan(["index", str(SAMPLE), "--out", str(index)], scratch_dir / "index-cache")
        queries_file = scratch_dir / "queries.txt"
        queries_file.write_text("\n".join(queries) + "\n", encoding="utf-8")
        batch_s, single_s = [], []
        for round_number in range(rounds):
            caches = scratch_dir / f"caches-{round_number}"
            batch_s.append(_semplan(["similar", "--queries", str(queries_file), "--index", str(index), "-k", "5",
                                     "--json"], caches / "batch"))
            single_s.append(statistics.median(
                _semplan(["similar", query, "--index", str(index), "-k", "5", "--json"], caches / f"single-{i}")
                for i, query in enumerate(queries[:n_single])
            ))
    batch = statistics.median(batch_s)
    single = statistics.median(single_s)
    return [
        {"way": "one process per query", "queries": n_single, "rounds": rounds, "seconds_per_query": round(single, 3),
         "queries_per_s": round(1 / single, 2), "speedup": 1.0},
        {"way": "similar --queries (one process)", "queries": n_batch, "rounds": rounds,
         "seconds_per_query": round(batch / n_batch, 3), "queries_per_s": round(n_batch / batch, 2),
         "speedup": round(single / (batch / n_batch), 1), "process_s": round(batch, 2)},
    ]


if __name__ == "__main__":
    for record in run(quick="--quick" in sys.argv):
        print(record)
