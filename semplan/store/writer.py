"""One write transaction of an index: plans put or deleted together, committed once (see Corpus.writing)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from semplan._faults import fault_point
from semplan.errors import InvalidArgument
from semplan.segment import Clause
from semplan.store import lexical, schema
from semplan.store.schema import IN_LIST_LIMIT


class PlanWriter:
    """Puts and deletes plans inside the open transaction; it sees its own uncommitted rows."""

    def __init__(self, conn: sqlite3.Connection, dims: int):
        self._conn = conn
        self.dims = dims
        self.plans_put: list[str] = []
        self.plans_deleted: list[str] = []
        self.removed_row_ids: list[int] = []  # for an IVF index updated in place

    @property
    def changed(self) -> bool:
        return bool(self.plans_put or self.plans_deleted)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            if self.changed:
                self._conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
            if self.plans_put:
                fault_point("index-encoded")
            self._conn.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself on some errors (a full disk, SQLITE_FULL): a ROLLBACK then
            # fails with "no transaction is active" and would hide the real cause.
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            raise
        if self.plans_put:
            fault_point("index-committed")

    def stored_sha256(self, plan_id: str) -> str | None:
        """The sha256 of the stored source of `plan_id`, None if the plan is not stored."""
        row = self._conn.execute("SELECT sha256 FROM plans WHERE plan_id = ?", (plan_id,)).fetchone()
        return None if row is None else row[0]

    def update_path(self, plan_id: str, path: str | None) -> None:
        """Record where an unchanged plan's file is now."""
        self._conn.execute("UPDATE plans SET path = ? WHERE plan_id = ?", (path, plan_id))

    def stored_vectors(self, match_texts: Iterable[str]) -> dict[str, np.ndarray]:
        """The stored vector of each matching text the index already holds (by the text's sha256)."""
        by_hash = {schema.text_hash(text): text for text in set(match_texts)}
        wanted = sorted(by_hash)
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), IN_LIST_LIMIT):
            chunk = wanted[start : start + IN_LIST_LIMIT]
            rows = self._conn.execute(
                f"SELECT text_hash, vector FROM clauses WHERE text_hash IN ({','.join('?' * len(chunk))}) GROUP BY text_hash",
                chunk,
            )
            found.update((by_hash[digest], np.frombuffer(blob, dtype=np.float32)) for digest, blob in rows)
        return found

    def put_plan(
        self,
        plan_id: str,
        *,
        source_text: str,
        sha256: str,
        clauses: Sequence[Clause],
        vectors: np.ndarray,
        path: str | None = None,
        encoding: str | None = None,
    ) -> bool:
        """Store a plan, its clauses and one vector per clause, replacing a stored plan of that id.

        Returns whether a stored plan was replaced.
        """
        if np.shape(vectors) != (len(clauses), self.dims):
            raise InvalidArgument(f"{len(clauses)} clauses of {self.dims} dims need vectors of that shape, not {np.shape(vectors)}")
        replaced = self.stored_sha256(plan_id) is not None
        if replaced:
            self.delete_plan(plan_id)
        self._conn.execute(
            "INSERT INTO plans (plan_id, path, sha256, encoding, source_text, n_clauses, added_at) VALUES (?,?,?,?,?,?,?)",
            (plan_id, path, sha256, encoding, source_text, len(clauses), schema.now()),
        )
        self._conn.executemany(
            schema.INSERT_CLAUSE, [schema.clause_row(clause, vector) for clause, vector in zip(clauses, vectors, strict=True)]
        )
        lexical.add_plan(self._conn, plan_id)
        self.plans_put.append(plan_id)
        return replaced

    def put_metadata(self, plan_id: str, values: Mapping[str, Any]) -> None:
        """Store a stored plan's metadata (schema.PLAN_METADATA_COLUMNS and `sources`), replacing any."""
        self._conn.execute(schema.PUT_PLAN_METADATA, schema.plan_metadata_row(plan_id, values))

    def stored_metadata(self, plan_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(f"{schema.SELECT_PLAN_METADATA} WHERE plan_id = ?", (plan_id,)).fetchone()
        return None if row is None else schema.plan_metadata_from_row(row)

    def delete_plan(self, plan_id: str) -> None:
        rows = self._conn.execute("SELECT id FROM clauses WHERE plan_id = ?", (plan_id,)).fetchall()
        self.removed_row_ids.extend(row[0] for row in rows)
        lexical.delete_plan(self._conn, plan_id)
        self._conn.execute("DELETE FROM plans WHERE plan_id = ?", (plan_id,))  # cascades to clauses
        self.plans_deleted.append(plan_id)
