"""python -m benchmarks scale --clauses 200000: index a seeded synthetic corpus through Ray and in one process.

The corpus is recombined from real clauses (the sample plans, tests/data/realworld, tests/data/series):
each synthetic sentence joins two or three comma-separated pieces of different real clauses, so nearly
every text is new to the model and the embedding cache does not do the work. Plans of ~600 sentences
under section headings are written as .txt files. Each path gets its own empty embedding cache.

Reported per path: wall time and clauses per second (the whole `update_index`: read, segment, encode,
write SQLite, build and calibrate FAISS), distinct texts encoded, peak memory of the whole process tree
(PSS summed over this process and every descendant, Ray's raylet, workers and object store included),
and the recall@10 of the built index (IVF when the corpus is over the ANN threshold) against exact
search on held-out synthetic clauses that are not in the corpus.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SOURCES = (REPO / "semplan" / "data" / "sample_plans", REPO / "tests" / "data" / "realworld", REPO / "tests" / "data" / "series")
SENTENCES_PER_PLAN = 600
SENTENCES_PER_SECTION = 40
HELD_OUT_QUERIES = 300
SEED = 20261130
NUMERALS = "一二三四五六七八九十"


def real_pieces() -> list[str]:
    """Comma-separated pieces (≥ 6 characters) of the real clauses of every source plan."""
    from semplan.read import iter_documents
    from semplan.segment import segment_document

    pieces: set[str] = set()
    for document in iter_documents([path for path in SOURCES], keep_going=True):
        for clause in segment_document(document):
            if clause.kind not in ("sentence", "item_title", "lead"):
                continue
            for piece in re.split(r"[，；,;。！？]", clause.text.replace("\n", "")):
                piece = piece.strip(" \u3000“”\"'（）()、")
                if 6 <= len(piece) <= 60 and not piece[0].isdigit():
                    pieces.add(piece)
    return sorted(pieces)


def synthetic_sentence(rng: np.random.Generator, pieces: list[str]) -> str:
    chosen = rng.choice(len(pieces), size=int(rng.integers(2, 4)), replace=False)
    return "，".join(pieces[i] for i in chosen) + "。"


def write_corpus(directory: Path, n_sentences: int, seed: int = SEED) -> tuple[list[Path], list[int], list[str]]:
    """Plan files holding `n_sentences` synthetic sentences; (paths, sentences per plan, held-out queries)."""
    pieces = real_pieces()
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths, sizes = [], []
    written = 0
    while written < n_sentences:
        number = len(paths) + 1
        size = min(SENTENCES_PER_PLAN, n_sentences - written)
        lines = [f"第{number}号地区{2020 + number % 10}年重点工作安排（编号{number:05d}）", ""]
        for section in range(0, size, SENTENCES_PER_SECTION):
            heading = pieces[int(rng.integers(len(pieces)))]
            lines.append(f"{NUMERALS[(section // SENTENCES_PER_SECTION) % 10]}、{heading}")
            body = [synthetic_sentence(rng, pieces) for _ in range(min(SENTENCES_PER_SECTION, size - section))]
            lines += ["".join(body[i : i + 4]) for i in range(0, len(body), 4)]
            lines.append("")
        path = directory / f"plan-{number:05d}.txt"
        path.write_text("\n".join(lines), encoding="utf-8")
        paths.append(path)
        sizes.append(size)
        written += size
    held_out = [synthetic_sentence(rng, pieces) for _ in range(HELD_OUT_QUERIES)]
    return paths, sizes, held_out


class TreeMemory:
    """Peak PSS of this process and all its descendants, and the CPU time they used, sampled every
    `interval` seconds in a thread (a process's CPU time as last seen alive: Ray's workers live as
    long as the run)."""

    def __init__(self, interval: float = 2.0):
        self.interval, self.peak_bytes, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._cpu_by_pid: dict[int, float] = {}
        self._cpu_before = 0.0

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu_by_pid.values()) - self._cpu_before

    def __enter__(self) -> TreeMemory:
        self.sample()
        self._cpu_before, self.peak_bytes = sum(self._cpu_by_pid.values()), 0
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        import psutil

        root = psutil.Process()
        total = 0
        for process in [root, *root.children(recursive=True)]:
            try:
                total += process.memory_full_info().pss
                times = process.cpu_times()
                self._cpu_by_pid[process.pid] = times.user + times.system
            except (psutil.Error, AttributeError):
                continue
        self.peak_bytes = max(self.peak_bytes, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


class _StageLog(logging.Handler):
    """The Ray engine's stage timings (its INFO notices), for the record."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self._logger = logging.getLogger("semplan.scale")
        self._level = self._logger.level
        self._logger.setLevel(logging.INFO)
        self._logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def close(self) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)
        super().close()


def index_once(engine: str, paths: list[Path], work: Path, ann_threshold: int, held_out: list[str]) -> dict:
    from semplan.encode import Encoder
    from semplan.ingest import update_index

    index_dir, cache = work / f"index-{engine}", work / f"cache-{engine}"
    for leftover in (index_dir, cache):
        shutil.rmtree(leftover, ignore_errors=True)
    stages = _StageLog()
    indexer = None
    if engine == "ray":
        from semplan.scale import RayOptions, ray_indexer

        indexer = ray_indexer(RayOptions())
    with TreeMemory() as memory:
        encoder = Encoder(cache_path=cache / "embeddings.sqlite", progress=False)
        started = time.perf_counter()
        update = update_index(index_dir, [str(path) for path in paths], encoder=encoder, ann_threshold=ann_threshold,
                              indexer=indexer)
        seconds = time.perf_counter() - started
    stages.close()
    record = {
        "engine": engine, "backend": encoder.backend_name, "plans": update.counts["plans"],
        "clauses": update.counts["clauses"], "texts_encoded": update.added.texts_encoded,
        "seconds": round(seconds, 1), "clauses_per_s": round(update.counts["clauses"] / seconds, 1),
        "peak_tree_pss_mb": round(memory.peak_bytes / 2**20), "faiss": update.faiss_kind,
        "tree_cpu_s": round(memory.cpu_seconds), "clauses_per_cpu_s": round(update.counts["clauses"] / memory.cpu_seconds, 1),
        "load_avg_1min_end": round(os.getloadavg()[0], 1), "stages": stages.messages,
    }
    record.update(index_recall(index_dir, encoder, held_out))
    encoder.close()
    return record


def index_recall(index_dir: Path, encoder, held_out: list[str], k: int = 10) -> dict:
    """recall@k of the index's FAISS search against exact search, on queries not in the corpus."""
    from semplan.store import Corpus

    queries = encoder.encode_clauses(held_out)
    with Corpus.open(index_dir) as corpus:
        info = corpus.manifest["index"]
        ids, vectors = corpus.plan_vectors([plan.plan_id for plan in corpus.plans()])
        found = corpus.search_vectors(queries, k)
    hits = 0
    for query, result in zip(queries, found, strict=True):
        scores = vectors @ query
        exact = set(ids[np.argpartition(-scores, k - 1)[:k]].tolist())
        hits += len(exact & {row_id for row_id, _ in result})
    return {
        "recall_at_10": round(hits / (k * len(held_out)), 4), "queries": len(held_out),
        "nlist": info.get("nlist"), "nprobe": info.get("nprobe"),
        "calibrated_recall_at_10": info.get("calibrated_recall_at_10"),
    }


def run(clauses: int = 200_000, local_clauses: int | None = None, work: Path | None = None,
        ann_threshold: int = 100_000, engines: tuple[str, ...] = ("ray", "local")) -> list[dict]:
    """Index `clauses` synthetic sentences through each engine (the local path on the first
    `local_clauses` of them when given); one record per engine."""
    work = work or REPO / "benchmarks" / "results" / "scale"
    paths, sizes, held_out = write_corpus(work / "corpus", clauses)
    records = []
    for engine in engines:
        chosen = paths
        if engine == "local" and local_clauses is not None and local_clauses < clauses:
            count = int(np.searchsorted(np.cumsum(sizes), local_clauses)) + 1
            chosen = paths[:count]
        record = index_once(engine, chosen, work, ann_threshold, held_out)
        record["sentences_written"] = int(sum(sizes[: len(chosen)]))
        records.append(record)
        print(record, flush=True)
    if {"ray", "local"} <= set(engines):
        records.append(compare_indexes(work / "index-ray", work / "index-local"))
        print(records[-1], flush=True)
    return records


def compare_indexes(ray_index: Path, local_index: Path) -> dict:
    """The plans both indexes hold: the same clauses? and each clause's cosine between the two vectors."""
    from semplan.store import Corpus

    with Corpus.open(ray_index) as distributed, Corpus.open(local_index) as single:
        shared = sorted({p.plan_id for p in single.plans()} & {p.plan_id for p in distributed.plans()})
        same_clauses = all(distributed.clauses(plan) == single.clauses(plan) for plan in shared)
        cosines = np.sum(distributed.plan_vectors(shared)[1] * single.plan_vectors(shared)[1], axis=1)
    return {
        "engine": "ray vs local", "plans": len(shared), "clauses": len(cosines), "same_clauses": same_clauses,
        "min_cosine": round(float(cosines.min()), 6), "mean_cosine": round(float(cosines.mean()), 6),
        "identical_vectors": float(np.mean(cosines >= 1 - 1e-6)),
    }
