"""The Corpus: one index directory, read by anyone, written by one process at a time.

It stores what it is given (plans, their clauses and one vector per clause) and answers for it:
records, clauses, vectors, nearest row ids. Reading files, segmenting and encoding happen before
(semplan.ingest), turning row ids into hits after (semplan.search).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan._fs import exclusive_lock
from semplan.encode import describe_model, same_model
from semplan.errors import ClauseNotFound, InvalidArgument, ModelMismatch, PlanNotFound
from semplan.store import faiss_file, lexical, schema
from semplan.store.faiss_index import configure_threads, exact_top, faiss_search
from semplan.store.records import ALL_PLANS, PlanFilter, PlanRecord
from semplan.store.schema import DATABASE, DEFAULT_ANN_THRESHOLD, IN_LIST_LIMIT, LOCK, MANIFEST, SELECT_CLAUSE
from semplan.store.views import CorpusFrames
from semplan.store.writer import PlanWriter

if TYPE_CHECKING:
    import faiss

    from semplan.segment import Clause

# Above this many candidate vectors a search restricted to some plans goes through FAISS instead of
# numpy: a handful of plans is a few thousand vectors, which an approximate index would only lose
# recall on.
EXACT_SUBSET_LIMIT = 50_000
def _database_errors(method):
    """An SQLite error (a damaged page, a full disk) becomes a one-line StoreError naming the index."""

    @functools.wraps(method)
    def wrapper(self: Corpus, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            raise schema.database_error(error, self.directory) from error

    return wrapper


def _database_errors_in_every_method(cls: type) -> type:
    """Whichever method of `cls` meets a damaged page or a full disk says so in one line, never as a
    traceback (`writing` also catches them inside its block, where the PlanWriter's statements run)."""
    for name, member in list(vars(cls).items()):
        if inspect.isfunction(member) and (not name.startswith("__") or name == "__len__"):
            setattr(cls, name, _database_errors(member))
    return cls


@_database_errors_in_every_method
class Corpus(CorpusFrames):
    """An index directory: plans, clauses, vectors and a FAISS index. Use `create` or `open`."""

    def __init__(self, directory: Path, manifest: dict[str, Any], conn: sqlite3.Connection):
        self.directory = directory
        self.manifest = manifest
        self._conn = conn
        self._faiss: faiss.Index | None = None
        self._faiss_generation: int | None = None
        self._plans_cache: dict[str, PlanRecord] | None = None
        self._plans_generation: int | None = None
        self._source_cache: dict[str, str] = {}
        self._holding_lock = False

    # ------------------------------------------------------------ create / open

    @staticmethod
    def exists(directory: str | os.PathLike) -> bool:
        return (Path(directory) / MANIFEST).exists()

    @classmethod
    def create(
        cls, directory: str | os.PathLike, model_identity: Mapping[str, Any], *, ann_threshold: int = DEFAULT_ANN_THRESHOLD
    ) -> Corpus:
        """A new, empty index at `directory` for vectors of `model_identity` (`Encoder.identity()`, with "dims")."""
        schema.create_directory(Path(directory), model_identity, ann_threshold)
        return cls.open(directory, model_identity=model_identity)

    @classmethod
    def open(cls, directory: str | os.PathLike, *, model_identity: Mapping[str, Any] | None = None) -> Corpus:
        """Open an existing index; a `model_identity` (even a partial one) other than the index's → `ModelMismatch`."""
        directory = Path(directory)
        manifest = schema.read_manifest(directory)
        stored = manifest["model"]
        if model_identity is not None and not same_model(stored, model_identity):
            raise ModelMismatch(
                f"index {directory} was built with {describe_model(stored)}, not {describe_model(model_identity)}"
            )
        try:
            conn = schema.connect(directory / DATABASE)
        except sqlite3.Error as error:
            raise schema.database_error(error, directory) from error
        corpus = cls(directory, manifest, conn)
        try:
            schema.prepare_database(conn, directory, manifest, corpus._locked)
        except BaseException:
            conn.close()
            raise
        return corpus

    def close(self) -> None:
        self._conn.close()
        self._faiss = None

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Corpus({str(self.directory)!r}, model={describe_model(self.manifest['model'])})"

    @property
    def dims(self) -> int:
        return int(self.manifest["dims"])

    @property
    def model_identity(self) -> dict[str, Any]:
        return dict(self.manifest["model"])

    # ------------------------------------------------------------ reading

    def generation(self) -> int:
        """The count of committed writes: every reader cache is keyed by it."""
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
        self.check_plans([plan_id])
        return self._plan_records()[plan_id]

    def check_plans(self, plan_ids: Iterable[str]) -> None:
        """`PlanNotFound` for the first id that is not in the index."""
        records = self._plan_records()
        for plan_id in plan_ids:
            if plan_id not in records:
                known = list(records)
                shown = ", ".join(known[:8]) + (", …" if len(known) > 8 else "")
                raise PlanNotFound(f"unknown plan {plan_id!r} (the index has: {shown or 'no plans'})")

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM clauses").fetchone()[0])

    def clauses(self, plan_id: str | None = None) -> list[Clause]:
        """Clauses ordered by plan id, then position in the plan."""
        if plan_id is None:
            rows = self._conn.execute(f"{SELECT_CLAUSE} ORDER BY plan_id, n").fetchall()
        else:
            self.plan(plan_id)
            rows = self._conn.execute(f"{SELECT_CLAUSE} WHERE plan_id = ? ORDER BY n", (plan_id,)).fetchall()
        return [schema.clause_from_row(row) for row in rows]

    def clause(self, clause_id: str) -> Clause:
        row_id = self.row_id(clause_id)
        return self.clauses_by_row_id([row_id])[row_id]

    def parse_clause_id(self, clause_id: str) -> tuple[str, int]:
        """`plan#n` → (plan, n), checking the plan exists."""
        plan_id, sep, number = str(clause_id).rpartition("#")
        # isdigit() alone admits `²` and other non-ASCII digits int() refuses; SQLite's integers end at 2**63.
        if not sep or not plan_id or not (number.isascii() and number.isdigit()) or len(number) > 18:
            raise InvalidArgument(f"bad clause id {clause_id!r}: expected PLAN#N, e.g. daqing-2021#12")
        self.plan(plan_id)
        return plan_id, int(number)

    def row_id(self, clause_id: str) -> int:
        """The clause's row id, which is also its FAISS id."""
        plan_id, n = self.parse_clause_id(clause_id)
        row = self._conn.execute("SELECT id FROM clauses WHERE plan_id = ? AND n = ?", (plan_id, n)).fetchone()
        if row is None:
            count = self.plan(plan_id).n_clauses
            raise ClauseNotFound(f"no clause {clause_id!r}: plan {plan_id!r} has clauses 1–{count}")
        return int(row[0])

    def row_ids(self, clause_ids: Sequence[str]) -> list[int]:
        return [self.row_id(clause_id) for clause_id in clause_ids]

    def _rows_in(self, select: str, row_ids: Iterable[int]) -> Iterator[tuple[Any, ...]]:
        """`select` (ending in `id IN`) over distinct row ids, a bounded list at a time."""
        wanted = sorted({int(row_id) for row_id in row_ids})
        for start in range(0, len(wanted), IN_LIST_LIMIT):
            chunk = wanted[start : start + IN_LIST_LIMIT]
            yield from self._conn.execute(f"{select} ({','.join('?' * len(chunk))})", chunk)

    def clauses_by_row_id(self, row_ids: Iterable[int]) -> dict[int, Clause]:
        """Clauses for FAISS ids; ids deleted since the FAISS index was loaded are left out."""
        select = SELECT_CLAUSE.replace(" FROM", ", id FROM") + " WHERE id IN"
        return {row[-1]: schema.clause_from_row(row[:-1]) for row in self._rows_in(select, (i for i in row_ids if i >= 0))}

    def vectors_by_row_id(self, row_ids: Iterable[int]) -> dict[int, np.ndarray]:
        rows = self._rows_in("SELECT id, vector FROM clauses WHERE id IN", row_ids)
        return {row_id: np.frombuffer(blob, dtype=np.float32) for row_id, blob in rows}

    def vectors(self, clause_ids: Sequence[str] | None = None) -> np.ndarray:
        """float32 (n, dims), L2-normalised; rows follow `clauses()` order, or `clause_ids` order."""
        if clause_ids is None:
            blobs = [row[0] for row in schema.stream(self._conn, "SELECT vector FROM clauses ORDER BY plan_id, n")]
            return schema.vectors_from_blobs(blobs, self.dims)
        row_ids = self.row_ids(list(clause_ids))
        by_row = self.vectors_by_row_id(row_ids)
        return schema.vectors_from_blobs([by_row[row_id].tobytes() for row_id in row_ids], self.dims)

    def plan_vectors(self, plan_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, vectors) of every clause of the given plans, in `clauses()` order."""
        marks = ",".join("?" * len(plan_ids))
        rows = self._conn.execute(
            f"SELECT id, vector FROM clauses WHERE plan_id IN ({marks}) ORDER BY plan_id, n", list(plan_ids)
        ).fetchall()
        return np.array([row[0] for row in rows], dtype=np.int64), schema.vectors_from_blobs([row[1] for row in rows], self.dims)

    def source_text(self, plan_id: str) -> str:
        self.plan(plan_id)
        if plan_id not in self._source_cache:
            row = self._conn.execute("SELECT source_text FROM plans WHERE plan_id = ?", (plan_id,)).fetchone()
            self._source_cache[plan_id] = row[0]
        return self._source_cache[plan_id]

    # ------------------------------------------------------------ FAISS and BM25

    def faiss_index(self) -> faiss.Index:
        """The FAISS index of the database's current generation, from the file the manifest names if
        that file is whole (sha256, size, count); else rebuilt from SQLite, saved when no other process
        is writing, and the rebuild logged. Never answers from a file that does not match."""
        generation = self.generation()
        if self._faiss is None or self._faiss_generation != generation:
            configure_threads()
            self.manifest = schema.reread_manifest(self.directory, self.manifest)
            index, problem = faiss_file.load(self.directory, self.manifest, generation, len(self), self.dims)
            if index is None:
                index, generation, self.manifest = faiss_file.rebuild(
                    self.directory, self._conn, self.manifest, self.dims, problem, self._locked
                )
            self._faiss, self._faiss_generation = index, generation
        return self._faiss

    def search_vectors(
        self, queries: np.ndarray, k: int = 10, *, plans: PlanFilter = ALL_PLANS, exclude_row_ids: Iterable[int] = ()
    ) -> list[list[tuple[int, float]]]:
        """For each query vector, up to k (row id, score) pairs, best first, within `plans`.

        Restricted to a few plans, their stored vectors are searched exactly with numpy; otherwise
        FAISS scans with an `IDSelector` that skips the other ids (both index kinds honour it), since
        no fixed widening of an unfiltered search guarantees k results.
        """
        self.check_plans(plans.named())
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        excluded = {int(row_id) for row_id in exclude_row_ids}
        if queries.shape[1] != self.dims:
            raise InvalidArgument(f"query vectors have {queries.shape[1]} dims, the index {self.dims}")
        allowed = plans.allowed()
        if allowed is not None:
            ids, vectors = self.plan_vectors(allowed)
            if len(ids) <= EXACT_SUBSET_LIMIT:
                return [exact_top(row, ids, k, excluded) for row in queries @ vectors.T]
            scores, found = faiss_search(self.faiss_index(), queries, k + len(excluded), include_ids=ids)
        else:
            exclude_ids = self.plan_vectors(plans.exclude)[0] if plans.exclude else None
            scores, found = faiss_search(self.faiss_index(), queries, k + len(excluded), exclude_ids=exclude_ids)
        return [
            [(int(i), float(s)) for s, i in zip(score_row, id_row, strict=True) if i >= 0 and int(i) not in excluded][:k]
            for score_row, id_row in zip(scores, found, strict=True)
        ]

    def search_lexical(
        self, query_text: str, limit: int = 100, *, plans: PlanFilter = ALL_PLANS, exclude_row_ids: Iterable[int] = ()
    ) -> list[tuple[int, float]]:
        """Up to `limit` (row id, BM25) pairs, best first, over character bigrams of the matching text."""
        return lexical.search(self._conn, query_text, limit, plans, exclude_row_ids)

    # ------------------------------------------------------------ writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the index's writer lock; a second writer fails at once with `LockBusy`. Re-entrant."""
        if self._holding_lock:  # a write verifying (and repairing) its FAISS file
            yield
            return
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(exclusive_lock(self.directory / LOCK, wait=False, what=f"index {self.directory}"))
            except OSError as error:
                raise schema.os_error(error, self.directory, f"locking {self.directory / LOCK}") from error
            self._holding_lock = True
            try:
                schema.remove_leftovers(self.directory, self.manifest)
                yield
            finally:
                self._holding_lock = False

    @contextlib.contextmanager
    def writing(self) -> Iterator[PlanWriter]:
        """One write: what the block puts and deletes through the PlanWriter is committed together or not at all.

        SQLite is the single source of truth; the commit also bumps the generation. The FAISS file
        is derived data written after it, then the manifest that names it, so a writer killed in
        between leaves a manifest naming an older generation, and readers rebuild from SQLite.
        """
        try:
            with self._locked():
                # An IVF index takes small changes in place, so load the current one before changing rows.
                base = self.faiss_index() if self.manifest["index"].get("kind") == "ivf" else None
                last_row_id = int(self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM clauses").fetchone()[0])
                writer = PlanWriter(self._conn, self.dims)
                with writer.transaction():
                    yield writer
                if writer.changed or self.manifest["index"].get("generation") != self.generation():
                    self._persist_faiss(base, last_row_id, writer.removed_row_ids)
                else:
                    self.faiss_index()  # an unchanged write still verifies the FAISS file, and repairs it
        except sqlite3.Error as error:
            raise schema.database_error(error, self.directory) from error

    def rebuild_faiss(self) -> None:
        """Rebuild the FAISS file from the database and name it in a new manifest (`semplan check --repair`)."""
        with self._locked():
            self._persist_faiss()

    def remove(self, plan_id: str | Iterable[str]) -> list[str]:
        """Remove plans (and their clauses) from the index; unknown ids are an error."""
        plan_ids = [plan_id] if isinstance(plan_id, str) else list(plan_id)
        with self.writing() as writer:
            self.check_plans(plan_ids)
            for each in plan_ids:
                writer.delete_plan(each)
        return plan_ids

    def _persist_faiss(self, base: faiss.Index | None = None, last_row_id: int = 0, removed_row_ids: Sequence[int] = ()) -> None:
        """Write the FAISS file of the committed generation, then the manifest that names it (under the lock)."""
        index, self.manifest = faiss_file.persist(
            self.directory, self._conn, self.manifest, self.dims,
            base=base, last_row_id=last_row_id, removed_row_ids=removed_row_ids,
        )
        self._faiss, self._faiss_generation = index, self.generation()
