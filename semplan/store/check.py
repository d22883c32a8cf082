"""`semplan check`: what is wrong with an index directory, and rebuilding what its database still holds.

SQLite is the source of truth; the FAISS file and the manifest are derived from it, so either can be
rebuilt as long as the database is readable and records the index's model and settings (migration
m003). A damaged database cannot be repaired in place: the finding names the command that
re-creates the index from the plan files it records.

The inspection takes the writer lock without waiting (a writer at work would show as damage), so
a check while `semplan index` runs is a one-line `LockBusy`.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semplan._fs import dead_staging, exclusive_lock, read_json, remove_dead_staging
from semplan._sqlite import schema_version
from semplan.errors import StoreError
from semplan.store import lexical, schema
from semplan.store.corpus import Corpus
from semplan.store.faiss_index import digest_vectors, index_contents, read_verified_index
from semplan.store.schema import DATABASE, LOCK, MANIFEST, MIGRATIONS

# Findings --repair cannot act on: the database itself is unusable, or newer than this semplan.
_BLOCKING = ("database-missing", "database-damaged", "database-newer", "manifest-newer")
# Findings a rebuilt FAISS file (and the manifest written with it) resolves.
_FAISS = ("counts-mismatch", "faiss-stale", "faiss-file", "faiss-content", "vectors-hash")
# How far a stored vector's norm may be from 1 (they are stored L2-normalised, as float32).
_NORM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Finding:
    """One thing wrong with an index: a short code, a one-line message, whether --repair fixes it."""

    code: str
    message: str
    repairable: bool

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "repairable": self.repairable}


@dataclass
class CheckReport:
    """What `check_index` found (after `repair_index`: what is still wrong, and what was done)."""

    directory: Path
    findings: list[Finding]
    counts: dict[str, int] | None = None  # plans, clauses, when the database is readable
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": str(self.directory), "ok": self.ok, "counts": self.counts,
            "findings": [finding.to_dict() for finding in self.findings], "repaired": self.repaired,
        }


def check_index(directory: str | Path) -> CheckReport:
    """Every problem of the index at `directory`: manifest, database, settings, counts, FAISS file, vectors, leftovers."""
    directory = _index_directory(directory)
    with _lock(directory, required=False):
        return _Inspection(directory).run()


def repair_index(directory: str | Path) -> CheckReport:
    """Rebuild what the database allows (settings, manifest, FAISS file, bigram table), remove leftovers, re-check."""
    directory = _index_directory(directory)
    with _lock(directory, required=True):
        found = _Inspection(directory).run()
        if any(finding.code in _BLOCKING for finding in found.findings):
            return found
        repaired, rebuild_faiss = _repair_files(directory, found)
    if rebuild_faiss:
        with Corpus.open(directory) as corpus:
            corpus.rebuild_faiss()
        repaired.append("rebuilt the FAISS file from the database")
    with _lock(directory, required=True):
        report = _Inspection(directory).run()
    report.repaired = repaired
    return report


def _index_directory(directory: str | Path) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise StoreError(f"no index at {directory}")
    if not (directory / MANIFEST).exists() and not (directory / DATABASE).exists():
        raise StoreError(f"{directory} is not a semplan index (no {MANIFEST}, no {DATABASE})")
    return directory


@contextlib.contextmanager
def _lock(directory: Path, *, required: bool) -> Iterator[None]:
    """The writer lock, without waiting; a check of a read-only index goes on without it."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(exclusive_lock(directory / LOCK, wait=False, what=f"index {directory}"))
        except OSError as error:
            if required:
                raise schema.os_error(error, directory, f"locking {directory / LOCK}") from error
        yield


def _repair_files(directory: Path, found: CheckReport) -> tuple[list[str], bool]:
    """The repairs made under the lock; returns what was done and whether the FAISS file must be rebuilt."""
    codes = {finding.code for finding in found.findings}
    repaired: list[str] = []
    manifest = read_json(directory / MANIFEST)
    manifest_ok = schema.manifest_problem(manifest) is None
    # What the inspection called leftovers; FAISS files a rebuilt manifest no longer names go with the rebuild.
    for path in [*schema.remove_leftovers(directory, manifest if manifest_ok else None),
                 *remove_dead_staging(directory, ".creating")]:
        repaired.append(f"removed {path}")
    conn = schema.connect(directory / DATABASE)
    try:
        if "database-schema" in codes:
            schema.migrate(conn)  # m003 copies the settings from a readable manifest
            repaired.append(f"migrated {DATABASE} to schema {len(MIGRATIONS)}")
        settings = schema.read_settings(conn)
        if settings is None and manifest_ok:
            conn.execute("BEGIN IMMEDIATE")
            schema.store_settings(conn, manifest["model"], manifest["dims"], manifest["index"]["ann_threshold"])
            conn.execute("COMMIT")
            settings = schema.read_settings(conn)
            repaired.append(f"recorded the model and settings of {MANIFEST} in {DATABASE}")
        if settings is not None and codes & {"manifest-missing", "manifest-damaged", "model-mismatch"}:
            rebuilt = schema.new_manifest({**settings["model"], "dims": settings["dims"]}, settings["ann_threshold"])
            rebuilt.update(model=settings["model"], dims=settings["dims"])
            if isinstance(manifest, dict) and isinstance(manifest.get("created"), str):
                rebuilt["created"] = manifest["created"]
            schema.write_manifest(directory, rebuilt)
            manifest, manifest_ok = rebuilt, True
            repaired.append(f"rebuilt {MANIFEST} from the database")
        if "lexical-table" in codes:
            conn.execute("BEGIN IMMEDIATE")
            lexical.refill(conn)
            conn.execute("COMMIT")
            repaired.append("refilled the bigram table from the clauses")
    except sqlite3.Error as error:
        raise schema.database_error(error, directory) from error
    except OSError as error:
        raise schema.os_error(error, directory, f"repairing {directory}") from error
    finally:
        conn.close()
    rebuild = bool(codes & {*_FAISS, "manifest-missing", "manifest-damaged", "model-mismatch"}) and manifest_ok
    return repaired, rebuild


def _recreate_command(directory: Path, conn: sqlite3.Connection | None) -> str:
    """`semplan index <the plan files it records> --out <a free sibling>`, as far as the database can be read."""
    paths: list[str] = []
    with contextlib.suppress(sqlite3.Error):
        if conn is not None:
            paths = [row[0] for row in conn.execute("SELECT path FROM plans ORDER BY plan_id") if row[0]]
    new = directory.with_name(f"{directory.name}.new")
    number = 2
    while new.exists():
        new, number = directory.with_name(f"{directory.name}.new{number}"), number + 1
    files = " ".join(shlex.quote(path) for path in paths) if paths else "PLAN_FILES"
    command = f"re-create the index from its plan files: semplan index {files} --out {shlex.quote(str(new))}"
    missing = sum(1 for path in paths if not Path(path).exists())
    return command + (f" ({missing} of these files are not there from here)" if missing else "")


class _Inspection:
    """One pass over an index directory, collecting findings in a fixed order."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.findings: list[Finding] = []
        self.counts: dict[str, int] | None = None
        self.manifest: dict[str, Any] | None = None  # when it is one this semplan can use
        self.stale = False  # the manifest describes an older generation than the database's

    def add(self, code: str, message: str, repairable: bool = True) -> None:
        self.findings.append(Finding(code, message, repairable))

    def run(self) -> CheckReport:
        manifest_finding = self._manifest()
        conn, settings = self._database()
        if manifest_finding is not None:
            code, message = manifest_finding
            can_rebuild = settings is not None or (self.manifest is not None and conn is not None)
            self.findings.insert(0, Finding(code, message, code != "manifest-newer" and can_rebuild))
        if conn is not None:
            try:
                self._settings(conn, settings)
                self._generation(conn)
                self._counts(conn)
                self._faiss_and_vectors(conn)
                self._lexical(conn)
            except sqlite3.Error as error:  # damage PRAGMA integrity_check did not see
                self.add("database-damaged", f"{self.directory / DATABASE} is damaged ({error}); "
                         + _recreate_command(self.directory, conn), False)
            finally:
                conn.close()
        self._leftovers()
        return CheckReport(self.directory, self.findings, self.counts)

    def _manifest(self) -> tuple[str, str] | None:
        path = self.directory / MANIFEST
        if not path.exists():
            return "manifest-missing", f"{path} is missing"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            return "manifest-damaged", f"{path} is damaged (not JSON: {error})"
        if schema.newer_format(manifest):
            version = manifest["format_version"]
            return "manifest-newer", f"{path} is index format {version}, newer than this semplan reads: upgrade semplan"
        problem = schema.manifest_problem(manifest)
        if problem is not None:
            return "manifest-damaged", f"{path} is damaged ({problem})"
        self.manifest = manifest
        return None

    def _database(self) -> tuple[sqlite3.Connection | None, dict[str, Any] | None]:
        """An open connection to a database worth inspecting further, and the settings it records."""
        database = self.directory / DATABASE
        if not database.is_file():
            self.add("database-missing", f"{database} is missing; " + _recreate_command(self.directory, None), False)
            return None, None
        conn = schema.connect(database)
        try:
            version = schema_version(conn)
            # A row may hold several lines, under a "*** in database main ***" heading.
            problems = [line.strip() for row in conn.execute("PRAGMA integrity_check(10)") for line in row[0].splitlines()
                        if line.strip() and not line.startswith("***")]
        except sqlite3.Error as error:
            problems, version = [str(error)], -1
        if problems != ["ok"]:
            shown = problems[0] + (f"; {len(problems) - 1} more problems" if len(problems) > 1 else "")
            self.add("database-damaged", f"{database} is damaged ({shown}); " + _recreate_command(self.directory, conn), False)
        elif version == 0:
            self.add("database-damaged", f"{database} holds no semplan index; " + _recreate_command(self.directory, None), False)
        elif version > len(MIGRATIONS):
            self.add("database-newer", f"{database} has schema {version}, newer than this semplan knows: upgrade semplan",
                     False)
        else:
            if version < len(MIGRATIONS):
                self.add("database-schema", f"{database} has schema {version}; --repair migrates it to {len(MIGRATIONS)}")
            settings = schema.read_settings(conn) if version >= 3 else None
            return conn, settings
        conn.close()
        return None, None

    def _settings(self, conn: sqlite3.Connection, settings: dict[str, Any] | None) -> None:
        if settings is None:
            if schema_version(conn) >= 3 or self.manifest is None:
                message = f"{self.directory / DATABASE} does not record the index's model and settings"
                if self.manifest is None:  # nor does a readable manifest: nothing to rebuild them from
                    message += "; " + _recreate_command(self.directory, conn)
                self.add("settings-missing", message, self.manifest is not None)
            return
        disagreement = schema.settings_disagreement(self.manifest, settings) if self.manifest is not None else None
        if disagreement is not None:
            self.add("model-mismatch", f"{disagreement}; the database is the source of truth")

    def _counts(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute(
            "SELECT p.plan_id, p.path, p.n_clauses, (SELECT COUNT(*) FROM clauses c WHERE c.plan_id = p.plan_id) "
            "FROM plans p ORDER BY p.plan_id"
        ).fetchall()
        orphans = conn.execute("SELECT COUNT(*) FROM clauses WHERE plan_id NOT IN (SELECT plan_id FROM plans)").fetchone()[0]
        for plan_id, path, recorded, stored in rows:
            if recorded != stored:
                self.add("clause-counts", f"plan {plan_id!r} records {recorded} clauses but {stored} are stored; "
                         + _reindex_command(self.directory, {plan_id: path}), False)
        if orphans:
            self.add("clause-counts", f"{orphans} clauses belong to no stored plan; " + _recreate_command(self.directory, conn),
                     False)
        self.counts = {"plans": len(rows), "clauses": int(conn.execute("SELECT COUNT(*) FROM clauses").fetchone()[0])}
        if self.manifest is not None and not self.stale:
            database = {"plans": len(rows), "clauses": sum(row[2] for row in rows)}
            if self.manifest["counts"] != database:
                self.add("counts-mismatch", f"{MANIFEST} counts {self.manifest['counts']}, the database {database}")

    def _faiss_and_vectors(self, conn: sqlite3.Connection) -> None:
        settings = schema.read_settings(conn) if schema_version(conn) >= 3 else None
        dims = settings["dims"] if settings else self.manifest["dims"] if self.manifest else None
        if dims is None:
            return
        digest, damaged = _database_vectors(conn, dims)
        if self.manifest is not None and not self.stale:
            self._faiss_file(digest)
            recorded = self.manifest["index"].get("vectors_sha256")
            if recorded and recorded != digest:
                self.add("vectors-hash", f"the database's vectors are not those the FAISS file was built from "
                         f"(content hash {recorded[:12]}… recorded, {digest[:12]}… now)")
        if damaged:
            names = ", ".join(f"{plan_id}#{n}" for plan_id, n, _ in damaged[:5]) + (", …" if len(damaged) > 5 else "")
            paths = {plan_id: path for plan_id, _, path in damaged}
            self.add("vectors-damaged", f"{len(damaged)} stored vectors are not unit-length float32 ({names}); "
                     + _reindex_command(self.directory, paths), False)

    def _generation(self, conn: sqlite3.Connection) -> None:
        """A manifest of an older generation (a write interrupted after its commit): its counts, file and
        hashes describe that generation, so they are not compared with the database."""
        generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        if self.manifest is not None and self.manifest["index"]["generation"] != generation:
            self.stale = True
            self.add("faiss-stale", f"{MANIFEST} describes generation {self.manifest['index']['generation']}, "
                     f"the database is at {generation} (a write was interrupted after its commit)")

    def _faiss_file(self, digest: str) -> None:
        info = self.manifest["index"]
        if info.get("file") is None:
            if self.counts and self.counts["clauses"]:
                self.add("faiss-file", f"{MANIFEST} names no FAISS file for {self.counts['clauses']} clauses")
            return
        path = self.directory / info["file"]
        index, problem = read_verified_index(path, info)
        if index is None:
            self.add("faiss-file", f"{path} {problem}")
        elif self.counts is not None and index.ntotal != self.counts["clauses"]:
            self.add("faiss-file", f"{path} holds {index.ntotal} vectors, the database {self.counts['clauses']}")
        elif digest_vectors([index_contents(index)]) != digest:
            self.add("faiss-content", f"{path} holds other vectors than the database")

    def _lexical(self, conn: sqlite3.Connection) -> None:
        if schema_version(conn) < 2 or self.counts is None:
            return
        rows = conn.execute("SELECT COUNT(*) FROM clause_bigrams").fetchone()[0]
        if rows != self.counts["clauses"]:
            self.add("lexical-table", f"the bigram table has {rows} rows for {self.counts['clauses']} clauses")

    def _leftovers(self) -> None:
        for path in schema.leftovers(self.directory, self.manifest):
            if path.suffix == ".faiss":
                self.add("leftover", f"{path} is a FAISS file {MANIFEST} does not name")
            else:
                self.add("leftover", f"{path} is left over from an interrupted write")
        for path in dead_staging(self.directory, ".creating"):
            self.add("leftover", f"{path} is left over from an interrupted index creation")


def _database_vectors(conn: sqlite3.Connection, dims: int) -> tuple[str, list[tuple[str, int, str | None]]]:
    """The vectors' content hash as the manifest defines it, and the (plan, n, path) of stored vectors that
    are not unit-length float32 of `dims` (a damaged blob)."""
    damaged: list[tuple[str, int, str | None]] = []

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        cursor = conn.execute(
            "SELECT c.id, c.plan_id, c.n, p.path, c.vector FROM clauses c LEFT JOIN plans p USING (plan_id) ORDER BY c.id"
        )
        while batch := cursor.fetchmany(schema.FETCH):
            whole = [row for row in batch if len(row[4]) == 4 * dims]
            damaged.extend((row[1], row[2], row[3]) for row in batch if len(row[4]) != 4 * dims)
            ids = np.array([row[0] for row in whole], dtype=np.int64)
            vectors = schema.vectors_from_blobs([row[4] for row in whole], dims)
            norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
            for row, bad in zip(whole, ~np.isfinite(norms) | (np.abs(norms - 1) > _NORM_TOLERANCE), strict=True):
                if bad:
                    damaged.append((row[1], row[2], row[3]))
            yield ids, vectors

    return digest_vectors(chunks()), damaged


def _reindex_command(directory: Path, paths: dict[str, str | None]) -> str:
    """`semplan index <files> --remove <plans> --out DIR`: removes the plans, then adds their files anew."""
    files = [shlex.quote(path) for path in paths.values() if path]
    removes = " ".join(f"--remove {shlex.quote(plan_id)}" for plan_id in paths)
    if len(files) < len(paths):
        return f"re-index {', '.join(paths)} from their plan files: semplan index PLAN_FILES {removes} --out {shlex.quote(str(directory))}"
    return f"re-index them: semplan index {' '.join(files)} {removes} --out {shlex.quote(str(directory))}"
