"""The FAISS file of an index: answered from only when it is the file the manifest describes, else
rebuilt from SQLite; written after each commit, then the manifest that names it and records its
sha256, size and vector count and the vectors' content hash (`faiss_index.digest_vectors`)."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan.errors import StoreError
from semplan.store import schema
from semplan.store.faiss_index import (
    build_faiss_index,
    can_update_in_place,
    choose_index_kind,
    describe_index,
    digest_vectors,
    read_verified_index,
    update_in_place,
    write_index,
)
from semplan.store.schema import DEFAULT_ANN_THRESHOLD, MANIFEST

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)


def load(
    directory: Path, manifest: dict[str, Any], generation: int, n_clauses: int, dims: int
) -> tuple[faiss.Index | None, str | None]:
    """(the index of `generation`, None) from the file the manifest names, or (None, what is wrong with it)."""
    info = manifest["index"]
    if info.get("generation") != generation:
        return None, f"is older than the database (generation {info.get('generation')}, not {generation})"
    if info.get("file") is None:
        if n_clauses:
            return None, "is missing"
        return build_faiss_index(np.zeros((0, dims), np.float32), np.zeros(0, np.int64), "flat")[0], None  # a new index
    index, problem = read_verified_index(directory / info["file"], info)
    if index is not None and index.ntotal != n_clauses:
        return None, f"holds {index.ntotal} vectors, the database {n_clauses}"
    return index, problem


def build(manifest: dict[str, Any], ids: np.ndarray, vectors: np.ndarray) -> tuple[faiss.Index, dict[str, Any]]:
    """The index the manifest's settings call for over these vectors (exact, or IVF above `ann_threshold`)."""
    threshold = int(manifest["index"].get("ann_threshold", DEFAULT_ANN_THRESHOLD))
    return build_faiss_index(vectors, ids, choose_index_kind(len(ids), threshold))


def persist(
    directory: Path, conn: sqlite3.Connection, manifest: dict[str, Any], dims: int, *,
    base: faiss.Index | None = None, last_row_id: int = 0, removed_row_ids: Sequence[int] = (),
) -> tuple[faiss.Index, dict[str, Any]]:
    """Write the FAISS index of the committed generation, then the manifest that names it; returns both.

    The caller holds the writer lock. An IVF `base` takes the write's changes in place (rows above
    `last_row_id` added, `removed_row_ids` removed) while that keeps its lists balanced; anything else
    is rebuilt from the stored vectors. A failed write (a full disk) leaves the previous file and
    manifest, and the StoreError says what holds.
    """
    generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
    n_clauses = int(conn.execute("SELECT COUNT(*) FROM clauses").fetchone()[0])
    info = dict(manifest["index"])
    info["ann_threshold"] = int(info.get("ann_threshold", DEFAULT_ANN_THRESHOLD))
    if base is not None and can_update_in_place(info, choose_index_kind(n_clauses, info["ann_threshold"]), n_clauses):
        update_in_place(base, list(removed_row_ids), *schema.vectors_by_id(conn, dims, after=last_row_id))
        index, digest = base, digest_vectors(schema.iter_vectors(conn, dims))
    else:
        # Rebuilt: one pass over the stored vectors (about a second per 100k), no bookkeeping to get wrong.
        ids, vectors = schema.vectors_by_id(conn, dims)
        index, description = build(manifest, ids, vectors)
        info, digest = describe_index(info, description), digest_vectors([(ids, vectors)])
    name = f"vectors-{generation:06d}.faiss"
    try:
        try:
            info.update(write_index(index, directory / name))
        except (OSError, RuntimeError) as error:
            raise schema.os_error(error, directory, f"writing {directory / name}") from error
        info.update({"file": name, "generation": generation, "vectors_sha256": digest})
        plans, clauses = conn.execute("SELECT COUNT(*), COALESCE(SUM(n_clauses), 0) FROM plans").fetchone()
        try:
            manifest = schema.write_manifest_of_write(directory, manifest, info, {"plans": plans, "clauses": clauses})
        except OSError as error:
            if name != manifest["index"].get("file"):  # named by no manifest: free its space now
                (directory / name).unlink(missing_ok=True)
            raise schema.os_error(error, directory, f"writing {directory / MANIFEST}") from error
    except StoreError as error:
        raise StoreError(
            f"{error}; the database has the change but the FAISS file and manifest are the previous ones (searches "
            f"rebuild the index in memory meanwhile): once there is room, {schema.repair_hint(directory)}"
        ) from error
    schema.remove_leftovers(directory, manifest)
    return index, manifest


def rebuild(
    directory: Path, conn: sqlite3.Connection, manifest: dict[str, Any], dims: int, problem: str,
    locked: Callable[[], AbstractContextManager[None]],
) -> tuple[faiss.Index, int, dict[str, Any]]:
    """(index, its generation, the manifest now) for a FAISS file that `load` refused because of `problem`.

    Built from SQLite; written, with a new manifest, when the writer lock (`locked()`) can be had
    without waiting, else kept in memory for this process. The rebuild is logged as a warning, except
    for a file that is stale only because another process is between its commit and its manifest.
    """
    what = f"the FAISS file of {directory} {problem}; rebuilt from the database"
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locked())
        except StoreError as busy:  # another writer (it will write the file), or a read-only index
            with schema.snapshot(conn):
                generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
                ids, vectors = schema.vectors_by_id(conn, dims)
            stale = problem.startswith("is older")
            log.log(logging.DEBUG if stale else logging.WARNING, "%s (kept in memory: %s)", what, busy)
            return build(manifest, ids, vectors)[0], generation, manifest
        # Under the lock nobody commits: the database and the manifest on disk are the current ones.
        manifest = schema.reread_manifest(directory, manifest)
        generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        try:
            index, manifest = persist(directory, conn, manifest, dims)
        except StoreError as error:
            log.warning("%s (kept in memory: %s)", what, error)
            return build(manifest, *schema.vectors_by_id(conn, dims))[0], generation, manifest
        log.warning("%s", what)
        return index, generation, manifest
