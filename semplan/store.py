"""The on-disk corpus: plans, clauses and their vectors in one directory, searchable with FAISS.

Layout of an index directory::

    manifest.json       format version, semplan version, model identity, dims, FAISS kind, counts
    corpus.sqlite       plans (source path, sha256, decoded text), clauses (every Clause field,
                        spans as JSON, match_text, the float32 vector as a blob); numbered migrations
    vectors-NNNNNN.faiss  the FAISS index of generation NNNNNN (ids = clause row ids)
    .lock               held (flock) by the one process writing

Why it is crash-safe. SQLite is the single source of truth and every change (an `add` of many
plans, a `remove`) is ONE SQLite transaction, which also bumps a `generation` counter: a reader
sees the old or the new set of plans, never half of one. The FAISS index is derived data; after
the commit it is written to a temporary file, fsynced, renamed to `vectors-<generation>.faiss`,
and only then is `manifest.json` (which names that file and its generation) replaced the same
way. If a writer dies anywhere in between, the manifest still names the previous FAISS file
whose generation no longer equals the database's; `open` notices and rebuilds the FAISS index in
memory from the stored vectors (the next write persists it), so what a reader sees is always
the database's committed state. Creating an index builds it in a temporary sibling directory and
renames it into place, so a half-created index never exists under the final name.

Writers take an exclusive `flock` on `.lock` (released by the kernel if the process dies, so a
killed run never leaves a stale lock); a second writer gets a one-line `StoreError`. Readers take
no lock: SQLite runs in WAL mode, so a reader keeps its snapshot while a writer commits.

Incremental: a file whose plan id and sha256 are already stored is skipped; a changed file
replaces its plan's clauses. Vectors are reused from the store for any clause whose matching
text (hashed) is already indexed, so only new texts reach the encoder — independent of the
encoder's own cache, which catches the rest.

FAISS: `IndexIDMap2(IndexFlatIP)` (exact) up to `ann_threshold` clauses (default 200k), then
`IVF<nlist>,Flat` over inner product, nlist ≈ 2·√n. Chosen by measurement against HNSW on
synthetic vectors recombined from real e5 clause vectors (benchmarks/search.py), 2 busy cores:
at 1M, IVF2000 reaches recall@10 1.0 at nprobe 4-8 with a p50 of 0.6-1.1 ms per query, built in
~90 s (k-means ~40 s) holding 1.5 GB; `HNSW32,Flat` (efConstruction 40) took 87 s to build
200k already (≈ 8 min for 1M) for recall 0.96-0.99 at efSearch 64-128, and it has no
`remove_ids`, so every replaced or removed plan would mean a full rebuild, where IVF deletes in
place and adds to its trained lists. Both apply an `IDSelector` during the search. Four times
the lists (4·√n) would make k-means four times slower for latency already ten times inside the
target. `nprobe` is calibrated when the index is built: the smallest that reaches recall@10 ≥
0.97 against exact search on sampled stored vectors, recorded in the manifest. How many lists
that takes is a property of the data: real embeddings cluster at many scales and need a
handful; even blends of three clauses (a continuum, more spread out than real text) need 93 of
2,000 at 1M (p50 9 ms, recall 0.98); adversarial data (ten vectors per random topic, no structure above it) needs a large
share of them, and then the IVF index is little faster than exact search (the benchmark's
worst-case rows). tests/test_store.py checks recall ≥ 0.95 on 200k vectors.

Plan filters: restricting to a few plans (`only_plans`) searches their stored vectors exactly
with numpy — a handful of plans is a few thousand vectors, and an approximate index would
only lose recall on them. Excluding plans, or restricting to a large share of the corpus, passes
an `IDSelector` to FAISS so the scan skips the other ids; both index kinds honour it. Searching
wider and filtering afterwards was rejected: when the excluded plans hold most near neighbours,
no fixed widening guarantees k results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan._faults import fault_point
from semplan.errors import InputError, ModelMismatch, SemplanError, StoreError
from semplan.models import DEFAULT_MODEL

if TYPE_CHECKING:
    import faiss

    from semplan.encode import Encoder
    from semplan.read import Document
    from semplan.search import AlignedClause, Hit
    from semplan.segment import Clause

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "corpus.sqlite"
LOCK = ".lock"
DEFAULT_ANN_THRESHOLD = 200_000
# Above this many candidate vectors an `only_plans` search goes through FAISS instead of numpy.
EXACT_SUBSET_LIMIT = 50_000
# Rows fetched from SQLite per round trip when reading vectors.
_FETCH = 10_000



def _m002_bigrams(conn: sqlite3.Connection) -> None:
    """Full-text index of character bigrams of each clause's matching text, for the lexical signal."""
    conn.execute("CREATE VIRTUAL TABLE clause_bigrams USING fts5(bigrams, tokenize = 'unicode61')")
    conn.executemany(
        "INSERT INTO clause_bigrams (rowid, bigrams) VALUES (?, ?)",
        ((row_id, bigram_text(match_text)) for row_id, match_text in conn.execute("SELECT id, match_text FROM clauses").fetchall()),
    )


# Numbered schema migrations (SQL, or a function of the connection); `PRAGMA user_version`
# records how many have been applied.
MIGRATIONS: list[tuple[str, str | Callable[[sqlite3.Connection], None]]] = [
    (
        "m001_initial",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE plans (
            plan_id TEXT PRIMARY KEY,
            path TEXT,
            sha256 TEXT NOT NULL,
            encoding TEXT,
            source_text TEXT NOT NULL,
            n_clauses INTEGER NOT NULL,
            added_at TEXT NOT NULL
        );
        CREATE TABLE clauses (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- the FAISS id; never reused
            plan_id TEXT NOT NULL REFERENCES plans(plan_id) ON DELETE CASCADE,
            n INTEGER NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            match_text TEXT NOT NULL,
            spans TEXT NOT NULL,  -- JSON [[start, end], ...], half-open offsets into plans.source_text
            section_number INTEGER,
            section_title TEXT,
            item_number INTEGER,
            item_title TEXT,
            extra TEXT,  -- JSON of Clause fields added after this schema, so none is lost
            text_hash TEXT NOT NULL,  -- sha256 of match_text: the key for reusing vectors
            vector BLOB NOT NULL,  -- float32, L2-normalised
            UNIQUE (plan_id, n)
        );
        CREATE INDEX clauses_text_hash ON clauses (text_hash);
        INSERT INTO meta (key, value) VALUES ('generation', '0');
        """,
    ),
    ("m002_clause_bigrams", _m002_bigrams),
]

_CLAUSE_COLUMNS = (
    "plan_id",
    "n",
    "kind",
    "text",
    "match_text",
    "spans",
    "section_number",
    "section_title",
    "item_number",
    "item_title",
)


@dataclass(frozen=True)
class PlanRecord:
    plan_id: str
    path: str | None
    sha256: str
    n_clauses: int
    encoding: str | None = None
    added_at: str | None = None


@dataclass
class AddReport:
    """What one `Corpus.add` did."""

    added: list[str] = dataclasses.field(default_factory=list)
    replaced: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (path, error)
    clauses_written: int = 0
    vectors_reused: int = 0  # clauses whose vector came from the index itself
    texts_cached: int = 0  # distinct texts the encoder found in its cache
    texts_encoded: int = 0  # distinct texts the model actually ran on (Encoder.model_calls)

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.replaced)} replaced",
            f"{len(self.unchanged)} unchanged",
        ]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return (
            f"plans: {', '.join(parts)}; clauses written: {self.clauses_written} "
            f"({self.texts_encoded} texts encoded, {self.texts_cached} from the embedding cache, "
            f"{self.vectors_reused} vectors reused from the index)"
        )


_NOT_A_WORD_CHARACTER = re.compile(r"[\W_]+")


def bigrams(text: str) -> list[str]:
    """Character bigrams of a matching text, punctuation and spaces dropped (a 1-character text: itself).

    Bigrams because Chinese has no spaces and most words are two characters; a bigram index
    needs no segmenter (jieba splits the same term differently in different contexts).
    """
    chars = _NOT_A_WORD_CHARACTER.sub("", text.lower())
    if len(chars) < 2:
        return [chars] if chars else []
    return [chars[i : i + 2] for i in range(len(chars) - 1)]


def bigram_text(text: str) -> str:
    return " ".join(bigrams(text))


def text_hash(match_text: str) -> str:
    return hashlib.sha256(match_text.encode("utf-8")).hexdigest()


def semplan_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("semplan")
    except PackageNotFoundError:
        return "unknown"


# FAISS parallelises a search over its queries: below this many (its own BLAS threshold) extra
# threads only spin. Measured with 100k vectors on 2 busy cores, one query took 22 ms on one
# thread and 96 ms on two (benchmarks/search.py).
_SINGLE_THREAD_BELOW = 20


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


# ---------------------------------------------------------------- FAISS helpers (pure-ish)


def choose_index_kind(n_vectors: int, ann_threshold: int) -> str:
    return "ivf" if n_vectors > ann_threshold else "flat"


def ivf_nlist(n_vectors: int) -> int:
    """Inverted lists for an IVF index: ≈ 2·√n, a few hundred vectors per list (2,000 lists at 1M).

    k-means time grows with nlist² (points trained on ∝ nlist), a probe's scan with n/nlist;
    at 1M on realistic data 2·√n already answers in ~1 ms (see the module doc).

    FAISS wants ≥ 39 training points per centroid, so tiny indexes (tests) get fewer lists.
    """
    return max(1, min(max(64, int(2 * math.sqrt(n_vectors))), n_vectors // 39))


# Recall@10 the calibration aims for on the index's own vectors, above the promised 0.95 so
# that fresh queries, which the sample does not contain, still clear it.
CALIBRATION_TARGET = 0.97


def calibrate_nprobe(
    index: faiss.Index, vectors: np.ndarray, ids: np.ndarray, *, target: float = CALIBRATION_TARGET,
    n_queries: int = 100, seed: int = 1234,
) -> tuple[int, float]:
    """The smallest nprobe (in steps of ×1.5) whose recall@10 against exact search reaches `target`.

    How many lists must be probed depends on the data, not only on its size: on clustered
    synthetic vectors with 100 points per topic 1/16 of the lists gave recall 0.99, with 10 per
    topic 0.90. So it is measured: sampled stored vectors are the queries, each query's own
    vector is left out of both result lists, and exact results come from brute force. 100
    queries (1,000 neighbours) put the estimate within about ±0.01, inside the 0.02 margin.
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


# ---------------------------------------------------------------- small I/O helpers


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _replace_atomically(path: Path, write: Callable[[str], None], *, fault_name: str | None = None) -> None:
    """`write(temporary_path)`, fsync it, then rename it over `path`: readers see the old file or the new.

    `fault_name` names the crash tests' fault points `<name>-temp-written` and `<name>-renamed`.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the index is as shareable as any file
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        if fault_name:
            fault_point(f"{fault_name}-temp-written")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    if fault_name:
        fault_point(f"{fault_name}-renamed")


def _write_atomic(path: Path, data: bytes, *, fault_name: str | None = None) -> None:
    _replace_atomically(path, lambda tmp: Path(tmp).write_bytes(data), fault_name=fault_name)


def _write_faiss_atomic(index: faiss.Index, path: Path) -> None:
    import faiss

    _replace_atomically(path, lambda tmp: faiss.write_index(index, tmp), fault_name="faiss")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE … COMMIT) so one `add`
    # is exactly one transaction, whatever Python's sqlite3 module would do implicitly.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.create_function("semplan_bigrams", 1, bigram_text, deterministic=True)
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    applied = conn.execute("PRAGMA user_version").fetchone()[0]
    if applied > len(MIGRATIONS):
        raise StoreError(
            f"the index database has schema {applied}, newer than this semplan knows ({len(MIGRATIONS)}); upgrade semplan"
        )
    for number, (_name, step) in enumerate(MIGRATIONS[applied:], start=applied + 1):
        # Each migration and its version bump are one transaction.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if callable(step):
                step(conn)
            else:
                statement = ""
                for line in step.splitlines(keepends=True):
                    statement += line
                    if sqlite3.complete_statement(statement):  # knows about `;` in comments and strings
                        conn.execute(statement)
                        statement = ""
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _plan_list(plan_ids: Iterable[str] | str | None) -> list[str] | None:
    if plan_ids is None:
        return None
    if isinstance(plan_ids, str):
        return [plan_ids]
    return list(plan_ids)


def _vectors_from_blobs(blobs: Sequence[bytes], dims: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dims), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dims).copy()


def _same_model(stored: dict[str, Any], identity: dict[str, Any]) -> bool:
    """Same weights, dims and prompts; the backend (torch, onnx, …) may differ."""
    for key in ("revision", "dims", "prompts"):
        if key in stored and key in identity and stored[key] != identity[key]:
            return False
    if not stored.get("revision") or not identity.get("revision"):
        return _model_name(stored) == _model_name(identity)
    return True


def _model_name(identity: dict[str, Any]) -> str:
    return str(identity.get("model") or identity.get("name") or "?")


def _describe_model(identity: dict[str, Any]) -> str:
    revision = str(identity.get("revision") or "")
    return f"{_model_name(identity)}@{revision[:12]}" if revision else _model_name(identity)


# ---------------------------------------------------------------- the corpus


class Corpus:
    """An index directory: plans, clauses, vectors and a FAISS index. Use `create` or `open`."""

    def __init__(self, directory: Path, manifest: dict[str, Any], conn: sqlite3.Connection, encoder: Encoder | None):
        self.directory = directory
        self.manifest = manifest
        self._conn = conn
        self._encoder = encoder
        self._faiss: faiss.Index | None = None
        self._faiss_generation: int | None = None
        self._plans_cache: dict[str, PlanRecord] | None = None
        self._plans_generation: int | None = None
        self._source_cache: dict[str, str] = {}
        self._lock_handle: Any = None
        self._backend: str | None = None  # for the lazily created encoder; None: the index's own

    # ------------------------------------------------------------ create / open

    @classmethod
    def create(
        cls,
        directory: str | Path,
        model: str = DEFAULT_MODEL,
        backend: str = "auto",
        *,
        encoder: Encoder | None = None,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
    ) -> Corpus:
        """A new, empty index at `directory` (which must not exist, or be an empty directory)."""
        directory = Path(directory)
        if (directory / MANIFEST).exists():
            raise StoreError(f"an index already exists at {directory}")
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise StoreError(f"{directory} exists and is not an empty directory")
        if encoder is None:
            from semplan.encode import Encoder

            encoder = Encoder(model=model, backend=backend)
        identity = dict(encoder.identity())
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".creating", dir=directory.parent))
        try:
            os.chmod(staging, 0o777 & ~_umask())
            conn = _connect(staging / DATABASE)
            conn.execute("PRAGMA journal_mode = WAL")
            _migrate(conn)
            conn.close()
            (staging / LOCK).touch()
            manifest = {
                "format_version": FORMAT_VERSION,
                "semplan_version": semplan_version(),
                "model": identity,
                "dims": int(encoder.dims),
                "index": {"kind": "flat", "file": None, "generation": 0, "ann_threshold": int(ann_threshold)},
                "counts": {"plans": 0, "clauses": 0},
                "created": _now(),
                "updated": _now(),
            }
            _write_atomic(staging / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
            try:
                os.rename(staging, directory)  # replaces an empty directory atomically on POSIX
            except OSError as error:
                if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise StoreError(f"{directory} was created by another process meanwhile") from None
                raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync_dir(directory.parent)
        return cls.open(directory, encoder=encoder)

    @classmethod
    def open(
        cls, directory: str | Path, encoder: Encoder | None = None, *, model: str | None = None, backend: str | None = None
    ) -> Corpus:
        """Open an existing index. An `encoder` (or `model` name) other than the index's → `ModelMismatch`.

        Without an encoder, one for the index's own model (on `backend`, default: the one that
        built the index) is created on first use; searching by clause or plan never needs it.
        """
        directory = Path(directory)
        if not directory.exists():
            raise StoreError(f"no index at {directory} (create one with: semplan index PATH --out {directory})")
        manifest_path = directory / MANIFEST
        if not directory.is_dir() or not manifest_path.is_file():
            raise StoreError(f"{directory} is not a semplan index (no {MANIFEST})")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise StoreError(f"{manifest_path} is unreadable: {error}") from None
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise StoreError(
                f"{directory} has index format {version}, this semplan reads format {FORMAT_VERSION}; re-run semplan index"
            )
        if not (directory / DATABASE).is_file():
            raise StoreError(f"{directory} is damaged: {DATABASE} is missing")
        stored = manifest["model"]
        if encoder is not None and not _same_model(stored, encoder.identity()):
            raise ModelMismatch(
                f"index {directory} was built with {_describe_model(stored)}, not {_describe_model(encoder.identity())}"
            )
        if model is not None and encoder is None:
            from semplan.models import resolve_model

            spec = resolve_model(model)
            wanted = {"model": spec.name, "revision": spec.revision, "dims": spec.dims}
            if not _same_model(stored, wanted) or (spec.dims and spec.dims != manifest["dims"]):
                raise ModelMismatch(f"index {directory} was built with {_describe_model(stored)}, not {_describe_model(wanted)}")
        conn = _connect(directory / DATABASE)
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != len(MIGRATIONS):
                # Older schema: migrate under the writer lock so two processes never race on it.
                corpus = cls(directory, manifest, conn, encoder)
                with corpus._writing():
                    _migrate(conn)
                corpus._backend = backend
                return corpus
        except sqlite3.DatabaseError as error:
            conn.close()
            raise StoreError(f"{directory / DATABASE} is unreadable: {error}") from None
        corpus = cls(directory, manifest, conn, encoder)
        corpus._backend = backend
        return corpus

    @classmethod
    def open_or_create(
        cls, directory: str | Path, model: str | None = None, backend: str = "auto", *, encoder: Encoder | None = None
    ) -> Corpus:
        directory = Path(directory)
        if (directory / MANIFEST).exists():
            return cls.open(directory, encoder=encoder, model=model)
        return cls.create(directory, model=model or DEFAULT_MODEL, backend=backend, encoder=encoder)

    def close(self) -> None:
        self._conn.close()
        self._faiss = None

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Corpus({str(self.directory)!r}, model={_describe_model(self.manifest['model'])})"

    # ------------------------------------------------------------ model

    @property
    def dims(self) -> int:
        return int(self.manifest["dims"])

    @property
    def model_identity(self) -> dict[str, Any]:
        return dict(self.manifest["model"])

    @property
    def encoder(self) -> Encoder:
        """The Encoder of the index's model, created on first use."""
        if self._encoder is None:
            from semplan.encode import Encoder

            stored = self.manifest["model"]
            name = stored.get("model") or stored.get("name") or DEFAULT_MODEL
            backend = self._backend or stored.get("backend") or "auto"
            try:
                encoder = Encoder(model=name, backend=backend)
            except SemplanError:
                if self._backend:
                    raise
                # The backend that built the index is not installed here; vectors of another
                # backend of the same weights are close enough to query with.
                encoder = Encoder(model=name, backend="auto")
            if not _same_model(stored, encoder.identity()):
                raise ModelMismatch(
                    f"index {self.directory} was built with {_describe_model(stored)}, "
                    f"but {name} is now {_describe_model(encoder.identity())}; rebuild the index"
                )
            self._encoder = encoder
        return self._encoder

    # ------------------------------------------------------------ reading

    def generation(self) -> int:
        return int(self._conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    def _plan_records(self) -> dict[str, PlanRecord]:
        generation = self.generation()
        if self._plans_cache is None or self._plans_generation != generation:
            rows = self._conn.execute(
                "SELECT plan_id, path, sha256, n_clauses, encoding, added_at FROM plans ORDER BY plan_id"
            ).fetchall()
            self._plans_cache = {row[0]: PlanRecord(*row) for row in rows}
            self._plans_generation = generation
            self._source_cache.clear()
        return self._plans_cache

    def plans(self) -> list[PlanRecord]:
        return list(self._plan_records().values())

    def plan(self, plan_id: str) -> PlanRecord:
        records = self._plan_records()
        if plan_id not in records:
            raise StoreError(self._unknown_plan_message(plan_id))
        return records[plan_id]

    def _unknown_plan_message(self, plan_id: str) -> str:
        known = list(self._plan_records())
        shown = ", ".join(known[:8]) + (", …" if len(known) > 8 else "")
        return f"unknown plan {plan_id!r} (the index has: {shown or 'no plans'})"

    def check_plans(self, plan_ids: Iterable[str]) -> None:
        records = self._plan_records()
        for plan_id in plan_ids:
            if plan_id not in records:
                raise StoreError(self._unknown_plan_message(plan_id))

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM clauses").fetchone()[0])

    def _clause_from_row(self, row: Sequence[Any]) -> Clause:
        from semplan.segment import Clause

        values = dict(zip(_CLAUSE_COLUMNS, row[: len(_CLAUSE_COLUMNS)], strict=True))
        values["spans"] = tuple((int(start), int(end)) for start, end in json.loads(values["spans"]))
        extra = row[len(_CLAUSE_COLUMNS)]
        if extra:
            known = {field.name for field in dataclasses.fields(Clause)}
            values.update({key: value for key, value in json.loads(extra).items() if key in known})
        return Clause(**values)

    _SELECT_CLAUSE = "SELECT " + ", ".join(_CLAUSE_COLUMNS) + ", extra FROM clauses"

    def clauses(self, plan_id: str | None = None) -> list[Clause]:
        """Clauses ordered by plan id, then position in the plan."""
        if plan_id is None:
            rows = self._conn.execute(f"{self._SELECT_CLAUSE} ORDER BY plan_id, n").fetchall()
        else:
            self.plan(plan_id)
            rows = self._conn.execute(f"{self._SELECT_CLAUSE} WHERE plan_id = ? ORDER BY n", (plan_id,)).fetchall()
        return [self._clause_from_row(row) for row in rows]

    def clause(self, clause_id: str) -> Clause:
        plan_id, n = self.parse_clause_id(clause_id)
        row = self._conn.execute(f"{self._SELECT_CLAUSE} WHERE plan_id = ? AND n = ?", (plan_id, n)).fetchone()
        if row is None:
            count = self.plan(plan_id).n_clauses
            raise StoreError(f"no clause {clause_id!r}: plan {plan_id!r} has clauses 1–{count}")
        return self._clause_from_row(row)

    def parse_clause_id(self, clause_id: str) -> tuple[str, int]:
        """`plan#n` → (plan, n), checking the plan exists."""
        plan_id, sep, number = str(clause_id).rpartition("#")
        if not sep or not plan_id or not number.isdigit():
            raise StoreError(f"bad clause id {clause_id!r}: expected PLAN#N, e.g. daqing-2021#12")
        self.plan(plan_id)
        return plan_id, int(number)

    def clauses_by_row_id(self, row_ids: Iterable[int]) -> dict[int, Clause]:
        """Clauses for FAISS ids; ids deleted since the FAISS index was loaded are left out."""
        wanted = sorted({int(row_id) for row_id in row_ids if row_id >= 0})
        found: dict[int, Clause] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {', '.join(_CLAUSE_COLUMNS)}, extra, id FROM clauses WHERE id IN ({marks})"
            for row in self._conn.execute(query, chunk):
                found[row[-1]] = self._clause_from_row(row[:-1])
        return found

    def row_ids(self, clause_ids: Sequence[str]) -> list[int]:
        result = []
        for clause_id in clause_ids:
            plan_id, n = self.parse_clause_id(clause_id)
            row = self._conn.execute("SELECT id FROM clauses WHERE plan_id = ? AND n = ?", (plan_id, n)).fetchone()
            if row is None:
                self.clause(clause_id)  # raises the one-line error
            result.append(int(row[0]))
        return result

    def vectors(self, clause_ids: Sequence[str] | None = None) -> np.ndarray:
        """float32 (n, dims), L2-normalised; rows follow `clauses()` order, or `clause_ids` order."""
        if clause_ids is None:
            cursor = self._conn.execute("SELECT vector FROM clauses ORDER BY plan_id, n")
            blobs: list[bytes] = []
            while batch := cursor.fetchmany(_FETCH):
                blobs.extend(row[0] for row in batch)
            return _vectors_from_blobs(blobs, self.dims)
        row_ids = self.row_ids(list(clause_ids))
        by_row = self._vectors_by_row_id(row_ids)
        return _vectors_from_blobs([by_row[row_id] for row_id in row_ids], self.dims)

    def _vectors_by_row_id(self, row_ids: Sequence[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        unique = sorted(set(row_ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._conn.execute(f"SELECT id, vector FROM clauses WHERE id IN ({marks})", chunk).fetchall())
        return found

    def plan_vectors(self, plan_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, vectors) of every clause of the given plans."""
        if not plan_ids:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dims), dtype=np.float32)
        marks = ",".join("?" * len(plan_ids))
        rows = self._conn.execute(
            f"SELECT id, vector FROM clauses WHERE plan_id IN ({marks}) ORDER BY plan_id, n", list(plan_ids)
        ).fetchall()
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        return ids, _vectors_from_blobs([row[1] for row in rows], self.dims)

    def source_text(self, plan_id: str) -> str:
        self.plan(plan_id)
        if plan_id not in self._source_cache:
            row = self._conn.execute("SELECT source_text FROM plans WHERE plan_id = ?", (plan_id,)).fetchone()
            self._source_cache[plan_id] = row[0]
        return self._source_cache[plan_id]

    # ------------------------------------------------------------ FAISS

    def _all_vectors_with_ids(self) -> tuple[np.ndarray, np.ndarray]:
        cursor = self._conn.execute("SELECT id, vector FROM clauses ORDER BY id")
        ids: list[int] = []
        blobs: list[bytes] = []
        while batch := cursor.fetchmany(_FETCH):
            for row_id, blob in batch:
                ids.append(row_id)
                blobs.append(blob)
        return np.array(ids, dtype=np.int64), _vectors_from_blobs(blobs, self.dims)

    def faiss_index(self) -> faiss.Index:
        """The FAISS index for the database's current generation (rebuilt in memory if the file is stale)."""
        import faiss

        generation = self.generation()
        if self._faiss is not None and self._faiss_generation == generation:
            return self._faiss
        configure_threads()
        self._reload_manifest()
        info = self.manifest["index"]
        path = self.directory / info["file"] if info.get("file") else None
        index = None
        if path is not None and info.get("generation") == generation:
            try:
                index = faiss.read_index(str(path))
            except RuntimeError:
                index = None  # removed by a concurrent writer, or damaged: rebuild below
            if index is not None and index.ntotal != len(self):
                index = None
        if index is None:
            ids, vectors = self._all_vectors_with_ids()
            kind = choose_index_kind(len(ids), int(info.get("ann_threshold", DEFAULT_ANN_THRESHOLD)))
            index, _ = build_faiss_index(vectors, ids, kind)
        self._faiss = index
        self._faiss_generation = generation
        return index

    def _reload_manifest(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.manifest = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8"))

    def search_vectors(
        self,
        queries: np.ndarray,
        k: int = 10,
        *,
        only_plans: Iterable[str] | str | None = None,
        exclude_plans: Iterable[str] | str | None = None,
        exclude_row_ids: Iterable[int] = (),
    ) -> list[list[tuple[int, float]]]:
        """For each query vector, up to k (row id, score) pairs, best first, honouring the plan filters."""
        only = _plan_list(only_plans)
        exclude = _plan_list(exclude_plans) or []
        self.check_plans((only or []) + exclude)
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        excluded_rows = set(int(row_id) for row_id in exclude_row_ids)
        if queries.shape[1] != self.dims:
            raise StoreError(f"query vectors have {queries.shape[1]} dims, the index {self.dims}")
        k_wanted = k + len(excluded_rows)
        if only is not None:
            allowed = [plan_id for plan_id in dict.fromkeys(only) if plan_id not in exclude]
            n_allowed = sum(self._plan_records()[plan_id].n_clauses for plan_id in allowed)
            if n_allowed <= EXACT_SUBSET_LIMIT:
                ids, vectors = self.plan_vectors(allowed)
                scores = queries @ vectors.T
                return [self._top(row, ids, k_wanted, excluded_rows, k) for row in scores]
            include_ids, _ = self.plan_vectors(allowed)
            scores, ids = faiss_search(self.faiss_index(), queries, k_wanted, include_ids=include_ids)
        else:
            index = self.faiss_index()
            exclude_ids = self.plan_vectors(exclude)[0] if exclude else None
            scores, ids = faiss_search(index, queries, k_wanted, exclude_ids=exclude_ids)
        return [
            [(int(i), float(s)) for s, i in zip(score_row, id_row, strict=True) if i >= 0 and int(i) not in excluded_rows][:k]
            for score_row, id_row in zip(scores, ids, strict=True)
        ]

    @staticmethod
    def _top(scores: np.ndarray, ids: np.ndarray, k_wanted: int, excluded: set[int], k: int) -> list[tuple[int, float]]:
        if len(scores) == 0:
            return []
        take = min(k_wanted, len(scores))
        top = np.argpartition(-scores, take - 1)[:take]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(ids[i]), float(scores[i])) for i in top if int(ids[i]) not in excluded][:k]

    def search_lexical(
        self,
        query_text: str,
        limit: int = 100,
        *,
        only_plans: Sequence[str] | None = None,
        exclude_plans: Sequence[str] = (),
        exclude_row_ids: Iterable[int] = (),
    ) -> list[tuple[int, float]]:
        """Up to `limit` (row id, BM25) pairs, best first, over character bigrams of the matching text."""
        terms = sorted(set(bigrams(query_text)))
        if not terms or limit < 1:
            return []
        match = " OR ".join(f'"{term}"' for term in terms)
        where, params = ["clause_bigrams MATCH ?"], [match]
        if only_plans is not None:
            where.append(f"c.plan_id IN ({','.join('?' * len(only_plans))})")
            params.extend(only_plans)
        if exclude_plans:
            where.append(f"c.plan_id NOT IN ({','.join('?' * len(exclude_plans))})")
            params.extend(exclude_plans)
        excluded = {int(row_id) for row_id in exclude_row_ids}
        # FTS5's bm25() is Okapi BM25 (k1 = 1.2, b = 0.75), negated so that smaller sorts first.
        rows = self._conn.execute(
            "SELECT c.id, -bm25(clause_bigrams) AS score FROM clause_bigrams JOIN clauses c ON c.id = clause_bigrams.rowid "
            f"WHERE {' AND '.join(where)} ORDER BY score DESC LIMIT ?",
            [*params, limit + len(excluded)],
        ).fetchall()
        return [(int(row_id), float(score)) for row_id, score in rows if row_id not in excluded][:limit]

    # ------------------------------------------------------------ searching (see semplan.search)

    def similar(
        self,
        text: str | None = None,
        *,
        clause: str | None = None,
        k: int = 10,
        only_plans: Iterable[str] | str | None = None,
        exclude_plans: Iterable[str] | str | None = None,
        min_score: float | None = None,
        **options: Any,
    ) -> list[Hit]:
        """Clauses most similar to a free-text query or to a stored clause (`clause="plan#n"`)."""
        from semplan import search

        if (text is None) == (clause is None):
            raise SemplanError("give either a text or clause=PLAN#N")
        if clause is not None:
            return search.similar_to_clause(
                self, clause, k=k, only_plans=only_plans, exclude_plans=exclude_plans, min_score=min_score, **options
            )
        return search.similar_to_text(
            self, text, k=k, only_plans=only_plans, exclude_plans=exclude_plans, min_score=min_score, **options
        )

    def align(self, plan_id: str, **options: Any) -> list[AlignedClause]:
        """For every clause of `plan_id`, its best match in each other plan."""
        from semplan import search

        return search.align_plan(self, plan_id, **options)

    # ------------------------------------------------------------ writing

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the index's writer lock; a second writer fails at once with a clear error."""
        if self._lock_handle is not None:  # re-entrant within one Corpus
            yield
            return
        handle = open(self.directory / LOCK, "a+")  # noqa: SIM115 - held for the whole block
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise StoreError(
                f"index {self.directory} is being written by another process (pid {holder}); try again when it finishes"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_handle = handle
        try:
            self._clean_leftovers()
            yield
        finally:
            self._lock_handle = None
            with contextlib.suppress(OSError):
                handle.truncate(0)
            handle.close()

    def _clean_leftovers(self) -> None:
        """Temp files of killed writers, and FAISS files the manifest no longer names."""
        current = self.manifest["index"].get("file")
        for path in self.directory.iterdir():
            stale_faiss = path.suffix == ".faiss" and path.name != current
            if (path.name.startswith(".") and path.name.endswith(".tmp")) or stale_faiss:
                with contextlib.suppress(OSError):
                    path.unlink()

    def add(
        self,
        paths: Iterable[str | Path],
        keep_going: bool = False,
        *,
        on_error: Callable[[str, Exception], None] | None = None,
    ) -> AddReport:
        """Read, segment and encode plan files (directories expand) into the index, in one transaction."""
        from semplan.read import iter_documents

        report = AddReport()

        def failed(path: Any, error: Exception) -> None:
            report.failed.append((str(path), str(error)))
            if on_error is not None:
                on_error(str(path), error)

        documents = iter_documents(list(paths), keep_going=keep_going, on_error=failed if keep_going else None)
        return self.add_documents(documents, keep_going=keep_going, on_error=failed, report=report)

    def add_documents(
        self,
        documents: Iterable[Document],
        keep_going: bool = False,
        *,
        on_error: Callable[[str, Exception], None] | None = None,
        report: AddReport | None = None,
        segmenter: Callable[[Document], list[Clause]] | None = None,
    ) -> AddReport:
        if segmenter is None:
            from semplan.segment import segment_document as segmenter
        report = report if report is not None else AddReport()
        encoder = self.encoder
        with self._writing():
            conn = self._conn
            seen: dict[str, str] = {}
            base, last_row_id = self._before_write()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for document in documents:
                    where = str(document.path) if document.path is not None else document.plan_id
                    try:
                        if document.plan_id in seen:
                            raise InputError(
                                f"{where}: plan id {document.plan_id!r} is already taken by {seen[document.plan_id]}"
                            )
                        seen[document.plan_id] = where
                        self._write_document(document, segmenter, encoder, report)
                    except SemplanError as error:
                        if not keep_going:
                            raise
                        if on_error is not None:
                            on_error(where, error)
                        else:
                            report.failed.append((where, str(error)))
                changed = bool(report.added or report.replaced)
                if changed:
                    self._bump_generation()
                    fault_point("index-encoded")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if changed:
                fault_point("index-committed")
            if changed or self.manifest["index"].get("generation") != self.generation():
                self._persist_faiss(base, last_row_id)
        return report

    def _write_document(
        self, document: Document, segmenter: Callable[[Document], list[Clause]], encoder: Encoder, report: AddReport
    ) -> None:
        conn = self._conn
        old = conn.execute("SELECT sha256 FROM plans WHERE plan_id = ?", (document.plan_id,)).fetchone()
        if old is not None and old[0] == document.sha256:
            conn.execute(
                "UPDATE plans SET path = ? WHERE plan_id = ?",
                (str(document.path) if document.path else None, document.plan_id),
            )
            report.unchanged.append(document.plan_id)
            return
        clauses = segmenter(document)
        hashes = [text_hash(clause.match_text) for clause in clauses]
        vectors = self._reuse_vectors(set(hashes))
        report.vectors_reused += sum(1 for h in hashes if h in vectors)
        missing: dict[str, str] = {}
        for clause, h in zip(clauses, hashes, strict=True):
            if h not in vectors:
                missing.setdefault(h, clause.match_text)
        if missing:
            calls_before = getattr(encoder, "model_calls", 0)
            encoded = np.asarray(encoder.encode_clauses(list(missing.values())), dtype=np.float32)
            model_calls = getattr(encoder, "model_calls", 0) - calls_before
            if encoded.shape != (len(missing), self.dims):
                raise StoreError(f"the encoder returned vectors of shape {encoded.shape}, expected ({len(missing)}, {self.dims})")
            for h, vector in zip(missing, encoded, strict=True):
                vectors[h] = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
            report.texts_encoded += model_calls
            report.texts_cached += len(missing) - model_calls
        if old is not None:
            self._delete_plan(document.plan_id)
            report.replaced.append(document.plan_id)
        else:
            report.added.append(document.plan_id)
        conn.execute(
            "INSERT INTO plans (plan_id, path, sha256, encoding, source_text, n_clauses, added_at) VALUES (?,?,?,?,?,?,?)",
            (
                document.plan_id,
                str(document.path) if document.path is not None else None,
                document.sha256,
                document.encoding,
                document.text,
                len(clauses),
                _now(),
            ),
        )
        conn.executemany(
            "INSERT INTO clauses (" + ", ".join(_CLAUSE_COLUMNS) + ", extra, text_hash, vector) VALUES ("
            + ",".join("?" * (len(_CLAUSE_COLUMNS) + 3))
            + ")",
            [self._clause_row(clause, h, vectors[h]) for clause, h in zip(clauses, hashes, strict=True)],
        )
        conn.execute(
            "INSERT INTO clause_bigrams (rowid, bigrams) SELECT id, semplan_bigrams(match_text) FROM clauses WHERE plan_id = ?",
            (document.plan_id,),
        )
        report.clauses_written += len(clauses)

    @staticmethod
    def _clause_row(clause: Clause, h: str, vector: bytes) -> tuple[Any, ...]:
        values = dataclasses.asdict(clause)
        row = [values.pop(column) for column in _CLAUSE_COLUMNS]
        row[_CLAUSE_COLUMNS.index("spans")] = json.dumps([list(span) for span in clause.spans])
        extra = json.dumps(values, ensure_ascii=False) if values else None
        return (*row, extra, h, vector)

    def _reuse_vectors(self, hashes: set[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        wanted = sorted(hashes)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                self._conn.execute(
                    f"SELECT text_hash, vector FROM clauses WHERE text_hash IN ({marks}) GROUP BY text_hash", chunk
                ).fetchall()
            )
        return found

    def _bump_generation(self) -> None:
        self._conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def remove(self, plan_id: str | Iterable[str]) -> list[str]:
        """Remove plans (and their clauses) from the index; unknown ids are an error."""
        plan_ids = _plan_list(plan_id) or []
        with self._writing():
            self.check_plans(plan_ids)
            base, last_row_id = self._before_write()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for each in plan_ids:
                    self._delete_plan(each)
                if plan_ids:
                    self._bump_generation()
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            if plan_ids:
                self._persist_faiss(base, last_row_id)
        return plan_ids

    def _before_write(self) -> tuple[faiss.Index | None, int]:
        """The IVF index to update in place (None: rebuild), and the last clause row id so far."""
        self._removed_row_ids: list[int] = []
        last_row_id = int(self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM clauses").fetchone()[0])
        base = self.faiss_index() if self.manifest["index"].get("kind") == "ivf" else None
        return base, last_row_id

    def _delete_plan(self, plan_id: str) -> None:
        rows = self._conn.execute("SELECT id FROM clauses WHERE plan_id = ?", (plan_id,)).fetchall()
        self._removed_row_ids.extend(row[0] for row in rows)
        self._conn.execute("DELETE FROM clause_bigrams WHERE rowid IN (SELECT id FROM clauses WHERE plan_id = ?)", (plan_id,))
        self._conn.execute("DELETE FROM plans WHERE plan_id = ?", (plan_id,))  # cascades to clauses

    def _persist_faiss(self, base: faiss.Index | None = None, last_row_id: int = 0) -> None:
        """Write the FAISS index of the committed generation, then the manifest that names it."""
        import faiss

        generation = self.generation()
        info = dict(self.manifest["index"])
        threshold = int(info.get("ann_threshold", DEFAULT_ANN_THRESHOLD))
        n_vectors = len(self)
        kind = choose_index_kind(n_vectors, threshold)
        trained_on = int(info.get("trained_on", 0))
        if base is not None and kind == "ivf" and trained_on / 2 <= n_vectors <= trained_on * 2:
            # Retraining k-means over a large corpus for every added plan is what makes IVF slow to
            # maintain; while the corpus stays within 2× of what the centroids were trained on,
            # the lists stay balanced enough to update in place.
            if self._removed_row_ids:
                base.remove_ids(faiss.IDSelectorBatch(np.array(self._removed_row_ids, dtype=np.int64)))
            rows = self._conn.execute("SELECT id, vector FROM clauses WHERE id > ? ORDER BY id", (last_row_id,)).fetchall()
            if rows:
                base.add_with_ids(
                    _vectors_from_blobs([row[1] for row in rows], self.dims), np.array([row[0] for row in rows], dtype=np.int64)
                )
            index, description = base, {}
        else:
            # The exact index is rebuilt: one pass over the stored vectors (about a second per
            # 100k), no bookkeeping to get wrong.
            ids, vectors = self._all_vectors_with_ids()
            index, description = build_faiss_index(vectors, ids, kind)
            if kind == "flat":
                for key in ("nlist", "nprobe", "trained_on", "calibrated_recall_at_10"):
                    info.pop(key, None)
        name = f"vectors-{generation:06d}.faiss"
        _write_faiss_atomic(index, self.directory / name)
        info.update(description)
        info.update({"file": name, "generation": generation, "ann_threshold": threshold})
        plans, clauses = self._conn.execute("SELECT COUNT(*), COALESCE(SUM(n_clauses), 0) FROM plans").fetchone()
        manifest = dict(self.manifest)
        manifest.update(
            {
                "semplan_version": semplan_version(),
                "index": info,
                "counts": {"plans": plans, "clauses": clauses},
                "updated": _now(),
            }
        )
        _write_atomic(
            self.directory / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode(), fault_name="manifest"
        )
        self.manifest = manifest
        self._faiss = index
        self._faiss_generation = generation
        self._clean_leftovers()
