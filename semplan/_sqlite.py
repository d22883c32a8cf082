"""The one SQLite migrations runner: numbered steps, `PRAGMA user_version` counts those applied.

A step is an SQL script or a function of the connection. Each step and its version bump are one
`BEGIN IMMEDIATE` transaction, so two processes opening the same new database migrate it once,
one after the other, and a killed migration leaves the previous version whole.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence

from semplan.errors import StoreError

Step = str | Callable[[sqlite3.Connection], None]


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[tuple[str, Step]], *, what: str) -> int:
    """Apply the steps of `migrations` (name, step) not yet applied; returns how many ran.

    `conn` must be in autocommit mode (`isolation_level=None`). A database newer than the list
    (written by a later semplan) raises `StoreError` naming `what`.
    """
    ran = 0
    while True:
        applied = schema_version(conn)
        if applied > len(migrations):
            raise StoreError(
                f"{what} has schema {applied}, newer than this semplan knows ({len(migrations)}); upgrade semplan"
            )
        if applied == len(migrations):
            return ran
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            if schema_version(conn) == applied:
                _run(conn, migrations[applied][1])
                conn.execute(f"PRAGMA user_version = {applied + 1}")
                ran += 1
            conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (disk full) has already rolled back; a second ROLLBACK would raise
            # "no transaction is active" and hide the real cause.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise


def _run(conn: sqlite3.Connection, step: Step) -> None:
    if callable(step):
        step(conn)
        return
    statement = ""
    for line in step.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):  # knows about `;` in comments and strings
            conn.execute(statement)
            statement = ""
    if statement.strip():
        conn.execute(statement)
