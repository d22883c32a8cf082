"""What an index directory holds on disk: the SQLite schema and its migrations, the manifest, the clause rows.

    manifest.json         format version, semplan version, model identity, dims, FAISS kind, counts
    corpus.sqlite         plans (source path, sha256, decoded text), clauses (every Clause field,
                          spans as JSON, match_text, the float32 vector as a blob), the bigram table
    vectors-NNNNNN.faiss  the FAISS index of generation NNNNNN (ids = clause row ids)
    .lock                 held by the one process writing
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from semplan._fs import read_json, staged_dir, write_json_atomic
from semplan._sqlite import migrate as run_migrations
from semplan._sqlite import schema_version
from semplan.errors import StoreError
from semplan.segment import Clause
from semplan.store import lexical

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "corpus.sqlite"
LOCK = ".lock"
DEFAULT_ANN_THRESHOLD = 200_000
# Ids per `IN (…)` list: SQLite's limit on host parameters is 999 in older builds.
IN_LIST_LIMIT = 500

# Numbered schema migrations (SQL, or a function of the connection), run by semplan._sqlite.migrate.
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
    ("m002_clause_bigrams", lexical.create_table),
    # (the lead merges m003_index_meta here, before this one)
    (
        "m004_plan_metadata",
        """
        CREATE TABLE IF NOT EXISTS plan_metadata (
            plan_id TEXT PRIMARY KEY REFERENCES plans(plan_id) ON DELETE CASCADE,
            title TEXT,
            issuer TEXT,
            region TEXT,
            body TEXT,
            level TEXT,  -- national, province, city or county
            year INTEGER,
            doc_type TEXT,
            sources TEXT NOT NULL DEFAULT '{}'  -- JSON {field: "text" | "file name" | "sidecar" | "option"}
        );
        """,
    ),
]
# The columns of plan_metadata besides plan_id and sources (semplan.metadata.FIELDS).
PLAN_METADATA_COLUMNS = ("title", "issuer", "region", "body", "level", "year", "doc_type")
SELECT_PLAN_METADATA = "SELECT plan_id, " + ", ".join(PLAN_METADATA_COLUMNS) + ", sources FROM plan_metadata"
PUT_PLAN_METADATA = (
    "INSERT OR REPLACE INTO plan_metadata (plan_id, " + ", ".join(PLAN_METADATA_COLUMNS) + ", sources) VALUES ("
    + ",".join("?" * (len(PLAN_METADATA_COLUMNS) + 2)) + ")"
)

CLAUSE_COLUMNS = (
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
SELECT_CLAUSE = "SELECT " + ", ".join(CLAUSE_COLUMNS) + ", extra FROM clauses"
INSERT_CLAUSE = (
    "INSERT INTO clauses (" + ", ".join(CLAUSE_COLUMNS) + ", extra, text_hash, vector) VALUES ("
    + ",".join("?" * (len(CLAUSE_COLUMNS) + 3)) + ")"
)


def connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE … COMMIT) so one write is
    # exactly one transaction, whatever Python's sqlite3 module would do implicitly.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    lexical.register(conn)
    return conn


def is_current(conn: sqlite3.Connection) -> bool:
    return schema_version(conn) == len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    run_migrations(conn, MIGRATIONS, what="the index database")


def create_directory(directory: Path, model_identity: Mapping[str, Any], ann_threshold: int) -> None:
    """A new, empty index directory: built in a hidden sibling and renamed into place, so a
    half-created index never exists under the final name."""
    if (directory / MANIFEST).exists():
        raise StoreError(f"an index already exists at {directory}")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise StoreError(f"{directory} exists and is not an empty directory")
    try:
        with staged_dir(directory, suffix=".creating", replace=False) as staging:
            conn = connect(staging / DATABASE)
            conn.execute("PRAGMA journal_mode = WAL")
            migrate(conn)
            conn.close()
            (staging / LOCK).touch()
            write_manifest(staging, new_manifest(model_identity, ann_threshold))
    except FileExistsError:
        raise StoreError(f"{directory} was created by another process meanwhile") from None


# ---------------------------------------------------------------- manifest


def new_manifest(model_identity: Mapping[str, Any], ann_threshold: int) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "semplan_version": semplan_version(),
        "model": dict(model_identity),
        "dims": int(model_identity["dims"]),
        "index": {"kind": "flat", "file": None, "generation": 0, "ann_threshold": int(ann_threshold)},
        "counts": {"plans": 0, "clauses": 0},
        "created": now(),
        "updated": now(),
    }


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the index at `directory`, checked to be one this semplan reads."""
    if not directory.exists():
        raise StoreError(f"no index at {directory} (create one with: semplan index PATH --out {directory})")
    path = directory / MANIFEST
    if not directory.is_dir() or not path.is_file():
        raise StoreError(f"{directory} is not a semplan index (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StoreError(f"{path} is unreadable: {error}") from None
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise StoreError(
            f"{directory} has index format {version}, this semplan reads format {FORMAT_VERSION}; re-run semplan index"
        )
    if not (directory / DATABASE).is_file():
        raise StoreError(f"{directory} is damaged: {DATABASE} is missing")
    return manifest


def reread_manifest(directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest on disk now (another process may have written), or `manifest` if it cannot be read."""
    current = read_json(directory / MANIFEST)
    return current if isinstance(current, dict) else manifest


def write_manifest(directory: Path, manifest: dict[str, Any], *, fault_name: str | None = None) -> None:
    write_json_atomic(directory / MANIFEST, manifest, fault_name=fault_name)


def write_manifest_of_write(
    directory: Path, manifest: dict[str, Any], index_info: dict[str, Any], counts: dict[str, int]
) -> dict[str, Any]:
    """Replace the manifest after a write, naming its FAISS file: fault points `manifest-*`."""
    manifest = {
        **manifest, "semplan_version": semplan_version(), "index": index_info, "counts": counts, "updated": now()
    }
    write_manifest(directory, manifest, fault_name="manifest")
    return manifest


def remove_leftovers(directory: Path, manifest: dict[str, Any]) -> None:
    """Temp files of killed writers, and FAISS files the manifest no longer names."""
    current = manifest["index"].get("file")
    for path in directory.iterdir():
        stale_faiss = path.suffix == ".faiss" and path.name != current
        if (path.name.startswith(".") and path.name.endswith(".tmp")) or stale_faiss:
            with contextlib.suppress(OSError):  # removed by another writer meanwhile, or not ours to remove
                path.unlink()


def semplan_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("semplan")
    except PackageNotFoundError:
        return "unknown"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------- clause rows


def text_hash(match_text: str) -> str:
    return hashlib.sha256(match_text.encode("utf-8")).hexdigest()


def clause_row(clause: Clause, vector: np.ndarray) -> tuple[Any, ...]:
    values = dataclasses.asdict(clause)
    row = [values.pop(column) for column in CLAUSE_COLUMNS]
    row[CLAUSE_COLUMNS.index("spans")] = json.dumps([list(span) for span in clause.spans])
    extra = json.dumps(values, ensure_ascii=False) if values else None
    blob = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
    return (*row, extra, text_hash(clause.match_text), blob)


_CLAUSE_FIELDS = frozenset(field.name for field in dataclasses.fields(Clause))


def clause_from_row(row: Sequence[Any]) -> Clause:
    """A Clause from the columns of SELECT_CLAUSE."""
    values = dict(zip(CLAUSE_COLUMNS, row[: len(CLAUSE_COLUMNS)], strict=True))
    values["spans"] = tuple((int(start), int(end)) for start, end in json.loads(values["spans"]))
    extra = row[len(CLAUSE_COLUMNS)]
    if extra:
        values.update({key: value for key, value in json.loads(extra).items() if key in _CLAUSE_FIELDS})
    return Clause(**values)


def plan_metadata_row(plan_id: str, values: Mapping[str, Any]) -> tuple[Any, ...]:
    """The plan_metadata row of `values` (PLAN_METADATA_COLUMNS and `sources`; absent ones NULL)."""
    sources = json.dumps(dict(values.get("sources") or {}), ensure_ascii=False)
    return (plan_id, *(values.get(column) for column in PLAN_METADATA_COLUMNS), sources)


def plan_metadata_from_row(row: Sequence[Any]) -> dict[str, Any]:
    """{column: value, "sources": {...}} from a row of SELECT_PLAN_METADATA."""
    values = dict(zip(PLAN_METADATA_COLUMNS, row[1:-1], strict=True))
    values["sources"] = json.loads(row[-1] or "{}")
    return values


def vectors_from_blobs(blobs: Sequence[bytes], dims: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dims), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dims).copy()
