"""What an index directory holds on disk: the SQLite schema and its migrations, the manifest, the clause rows.

    manifest.json         format version, semplan version, model identity, dims, FAISS kind, counts,
                          the FAISS file's sha256 and size, the vectors' content hash
    corpus.sqlite         plans (source path, sha256, decoded text), clauses (every Clause field,
                          spans as JSON, match_text, the float32 vector as a blob), the bigram table,
                          the model identity and settings again (so a lost manifest can be rebuilt)
    vectors-NNNNNN.faiss  the FAISS index of generation NNNNNN (ids = clause row ids)
    .lock                 held by the one process writing
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import re
import shlex
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from semplan._fs import read_json, staged_dir, write_json_atomic
from semplan._sqlite import migrate as run_migrations
from semplan._sqlite import schema_version
from semplan.encode import describe_model
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
# Rows fetched from SQLite per round trip when reading vectors.
FETCH = 10_000

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
    ("m003_settings", lambda conn: _settings_from_manifest(conn)),
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
# The meta rows of migration m003: what the manifest says about the model and the FAISS index, kept
# in the database too, so `semplan check --repair` can rebuild a lost or damaged manifest.
SETTINGS = ("model", "dims", "ann_threshold")
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
    if (directory / DATABASE).exists():
        raise StoreError(f"{directory} holds an index database but no {MANIFEST}; {repair_hint(directory)}")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise StoreError(f"{directory} exists and is not an empty directory")
    try:
        with staged_dir(directory, suffix=".creating", replace=False) as staging:
            conn = connect(staging / DATABASE)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                migrate(conn)
                conn.execute("BEGIN IMMEDIATE")
                store_settings(conn, model_identity, int(model_identity["dims"]), ann_threshold)
                conn.execute("COMMIT")
            finally:
                conn.close()
            (staging / LOCK).touch()
            write_manifest(staging, new_manifest(model_identity, ann_threshold))
    except FileExistsError:
        raise StoreError(f"{directory} was created by another process meanwhile") from None
    except sqlite3.Error as error:
        raise database_error(error, directory) from error
    except OSError as error:
        raise os_error(error, directory, f"creating {directory}") from error


# ---------------------------------------------------------------- settings (migration m003)


def store_settings(conn: sqlite3.Connection, model_identity: Mapping[str, Any], dims: int, ann_threshold: int) -> None:
    rows = [
        ("model", json.dumps(dict(model_identity), ensure_ascii=False, sort_keys=True)),
        ("dims", str(int(dims))),
        ("ann_threshold", str(int(ann_threshold))),
    ]
    conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", rows)


def read_settings(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """{"model", "dims", "ann_threshold"} as the database records them; None if it does not (or not readably)."""
    marks = ",".join("?" * len(SETTINGS))
    rows = dict(conn.execute(f"SELECT key, value FROM meta WHERE key IN ({marks})", SETTINGS).fetchall())
    try:
        settings = {"model": json.loads(rows["model"]), "dims": int(rows["dims"]), "ann_threshold": int(rows["ann_threshold"])}
    except (KeyError, ValueError):
        return None
    return settings if isinstance(settings["model"], dict) else None


def prepare_database(
    conn: sqlite3.Connection, directory: Path, manifest: dict[str, Any], locked: Callable[[], AbstractContextManager[None]]
) -> None:
    """Migrate an older schema (as the writer: under `locked()`), and refuse a database that is not this manifest's."""
    try:
        if schema_version(conn) == 0:
            raise StoreError(
                f"{directory / DATABASE} holds no semplan index (an empty or foreign database); re-create the index "
                "from the plan files: semplan index PLAN_FILES --out NEW_INDEX"
            )
        if not is_current(conn):
            with locked():
                migrate(conn)
        disagreement = settings_disagreement(manifest, read_settings(conn))
    except sqlite3.Error as error:
        raise database_error(error, directory) from error
    if disagreement is not None:
        raise StoreError(f"{directory}: {disagreement}; {repair_hint(directory)}")


def settings_disagreement(manifest: dict[str, Any], settings: dict[str, Any] | None) -> str | None:
    """How a (valid) manifest and the database's settings disagree, in a few words; None if they do not
    (or the database records none: an index migrated without a readable manifest)."""
    if settings is None:
        return None
    recorded = {"model": manifest["model"], "dims": manifest["dims"], "ann_threshold": manifest["index"]["ann_threshold"]}
    for key, value in recorded.items():
        if settings[key] != value:
            shown = (describe_model(value), describe_model(settings[key])) if key == "model" else (value, settings[key])
            return (f"{MANIFEST} and {DATABASE} disagree on the {key.replace('_', ' ')} "
                    f"({shown[0]} in {MANIFEST}, {shown[1]} in {DATABASE})")
    return None


def _settings_from_manifest(conn: sqlite3.Connection) -> None:
    """Migration m003: an index made before it has its settings only in the manifest beside the database."""
    database = next((Path(row[2]) for row in conn.execute("PRAGMA database_list") if row[1] == "main" and row[2]), None)
    manifest = read_json(database.parent / MANIFEST) if database is not None else None
    if manifest_problem(manifest) is None:
        store_settings(conn, manifest["model"], manifest["dims"], manifest["index"]["ann_threshold"])


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


def repair_hint(directory: Path) -> str:
    return f"run: semplan check {shlex.quote(str(directory))} --repair"


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the index at `directory`, checked to be one this semplan reads."""
    if not directory.exists():
        raise StoreError(f"no index at {directory} (create one with: semplan index PATH --out {shlex.quote(str(directory))})")
    path = directory / MANIFEST
    if directory.is_dir() and not path.exists() and (directory / DATABASE).is_file():
        raise StoreError(f"{path} is missing; {repair_hint(directory)}")
    if not directory.is_dir() or not path.is_file():
        raise StoreError(f"{directory} is not a semplan index (no {MANIFEST})")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise StoreError(f"cannot read {path} ({error.strerror})") from None
    except ValueError as error:  # not UTF-8
        raise StoreError(f"{path} is damaged (not JSON: {error}); {repair_hint(directory)}") from None
    try:
        manifest = json.loads(text)
    except ValueError as error:
        raise StoreError(f"{path} is damaged (not JSON: {error}); {repair_hint(directory)}") from None
    if newer_format(manifest):
        raise StoreError(
            f"{directory} was written by a newer semplan (index format {manifest['format_version']}; "
            f"this one reads format {FORMAT_VERSION}): upgrade semplan"
        )
    problem = manifest_problem(manifest)
    if problem is not None:
        raise StoreError(f"{path} is damaged ({problem}); {repair_hint(directory)}")
    if not (directory / DATABASE).is_file():
        raise StoreError(
            f"{directory} is damaged: {DATABASE} is missing; re-create the index from the plan files: "
            "semplan index PLAN_FILES --out NEW_INDEX"
        )
    return manifest


def reread_manifest(directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest on disk now (another process may have written), or `manifest` if it is gone or damaged."""
    current = read_json(directory / MANIFEST)
    return current if manifest_problem(current) is None else manifest


_FAISS_NAME = re.compile(r"vectors-[0-9]{6,}\.faiss")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Manifest entries that must be integers ≥ the given minimum when present (None: must be present).
_INDEX_INTEGERS = {"generation": 0, "ann_threshold": 1, "nlist": 1, "nprobe": 1, "trained_on": 0, "ntotal": 0, "bytes": 0}


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def newer_format(manifest: Any) -> bool:
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    return _integer(version) and version > FORMAT_VERSION


def manifest_problem(manifest: Any) -> str | None:
    """What makes `manifest` one this semplan cannot trust, in a few words; None if nothing does."""
    if not isinstance(manifest, dict):
        kind = {list: "array", str: "string", type(None): "null", bool: "boolean"}.get(type(manifest), "number")
        return f"a JSON {kind} where an object belongs"
    if manifest.get("format_version") != FORMAT_VERSION or not _integer(manifest.get("format_version")):
        return f"format_version is {manifest.get('format_version')!r}, not {FORMAT_VERSION}"
    model, dims = manifest.get("model"), manifest.get("dims")
    if not isinstance(model, dict):
        return "model is missing" if model is None else f"model is {model!r}, not an object"
    if not isinstance(model.get("model"), str) or not model["model"]:
        return "model has no name"
    if not _integer(dims) or dims < 1:
        return f"dims is {dims!r}, not a positive integer"
    if "dims" in model and model["dims"] != dims:
        return f"dims is {dims} but the model's are {model['dims']!r}"
    for entry in ("index", "counts"):
        if not isinstance(manifest.get(entry), dict):
            return f"{entry} is {manifest.get(entry)!r}, not an object"
    index = manifest["index"]
    if index.get("kind") not in ("flat", "ivf"):
        return f"index.kind is {index.get('kind')!r}, not flat or ivf"
    file = index.get("file")
    if file is not None and not (isinstance(file, str) and _FAISS_NAME.fullmatch(file)):
        return f"index.file is {file!r}, not a vectors-NNNNNN.faiss name"
    for key, least in _INDEX_INTEGERS.items():
        value = index.get(key)
        if (value is not None or key in ("generation", "ann_threshold")) and not (_integer(value) and value >= least):
            return f"index.{key} is {value!r}, not an integer ≥ {least}"
    for key in ("sha256", "vectors_sha256"):
        if index.get(key) is not None and not (isinstance(index[key], str) and _SHA256.fullmatch(index[key])):
            return f"index.{key} is {index[key]!r}, not a sha256"
    for key in ("plans", "clauses"):
        value = manifest["counts"].get(key)
        if not (_integer(value) and value >= 0):
            return f"counts.{key} is {value!r}, not an integer ≥ 0"
    return None


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


def leftovers(directory: Path, manifest: dict[str, Any] | None) -> list[Path]:
    """Temp files of killed writers, and FAISS files the manifest does not name (None: no manifest to ask)."""
    current = manifest["index"].get("file") if manifest is not None else None
    return sorted(
        path for path in directory.iterdir()
        if (path.name.startswith(".") and path.name.endswith(".tmp"))
        or (manifest is not None and path.suffix == ".faiss" and path.name != current)
    )


def remove_leftovers(directory: Path, manifest: dict[str, Any] | None) -> list[Path]:
    removed = []
    for path in leftovers(directory, manifest):
        with contextlib.suppress(OSError):  # removed by another writer meanwhile, or not ours to remove
            path.unlink()
            removed.append(path)
    return removed


# ---------------------------------------------------------------- failures, said in one line

# SQLite's primary result codes (https://sqlite.org/rescode.html) that mean something to a user.
_SQLITE_DAMAGED = {11: "SQLITE_CORRUPT", 26: "SQLITE_NOTADB"}
_SQLITE_FULL = 13
_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def database_error(error: sqlite3.Error, directory: Path) -> StoreError:
    """A StoreError saying in one line what an SQLite error of the index's database means."""
    database = directory / DATABASE
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
    if code == _SQLITE_FULL:
        return StoreError(f"disk full while writing {database} ({error}); the index is as it was")
    if code in _SQLITE_DAMAGED or type(error) is sqlite3.DatabaseError:
        return StoreError(f"{database} is damaged ({error}); run: semplan check {shlex.quote(str(directory))}")
    return StoreError(f"{database}: {error}")


def is_disk_full(error: BaseException) -> bool:
    """An ENOSPC/EDQUOT OSError, or FAISS's RuntimeError that reports one."""
    if isinstance(error, OSError):
        return error.errno in _DISK_FULL
    return isinstance(error, RuntimeError) and any(os.strerror(code) in str(error) for code in _DISK_FULL)


def os_error(error: BaseException, directory: Path, doing: str) -> StoreError:
    """A StoreError for a failed write to the index (`doing`: "writing PATH"), disk full said as such."""
    reason = os.strerror(error.errno) if isinstance(error, OSError) and error.errno else str(error).rpartition("(")[2].rstrip(")")
    if is_disk_full(error):
        return StoreError(f"disk full while {doing} ({reason})")
    return StoreError(f"cannot finish {doing} ({reason or error})")


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


def stream(conn: sqlite3.Connection, select: str, parameters: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
    cursor = conn.execute(select, parameters)
    while batch := cursor.fetchmany(FETCH):
        yield from batch


def iter_vectors(conn: sqlite3.Connection, dims: int, *, after: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(row ids, vectors) of the clauses with a row id above `after`, by row id, a chunk at a time."""
    cursor = conn.execute("SELECT id, vector FROM clauses WHERE id > ? ORDER BY id", (after,))
    while batch := cursor.fetchmany(FETCH):
        yield np.array([row[0] for row in batch], dtype=np.int64), vectors_from_blobs([row[1] for row in batch], dims)


def vectors_by_id(conn: sqlite3.Connection, dims: int, *, after: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(row ids, vectors) of the clauses with a row id above `after`, by row id."""
    chunks = list(iter_vectors(conn, dims, after=after))
    if not chunks:
        return np.zeros(0, dtype=np.int64), np.zeros((0, dims), dtype=np.float32)
    return np.concatenate([ids for ids, _ in chunks]), np.concatenate([vectors for _, vectors in chunks])


@contextlib.contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Reads in the block see one committed state (a read transaction; WAL lets writers go on)."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


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
    joined = b"".join(blobs)
    if len(joined) != len(blobs) * dims * 4:
        raise sqlite3.DatabaseError("a stored vector has the wrong size")  # said as damage by database_error
    return np.frombuffer(joined, dtype=np.float32).reshape(len(blobs), dims).copy()
