"""clauses → vectors: prompts by role, length-sorted batches, a persistent cache, one backend.

The cache skips work only when the model name and revision, the backend (which fixes the precision),
the prompt and the sha256 of the text all match, so a changed text, a rebuilt model or an int8 backend
never reuses another's vectors. Every batch is committed as soon as it is encoded: an interrupted run
resumes where it stopped, and because batches are formed deterministically (fixed chunks, length-sorted
within a chunk) the resumed run produces the same vectors an uninterrupted one would have.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from semplan._faults import fault_point
from semplan._fs import cache_dir
from semplan._progress import NO_PROGRESS, Progress, progress_or_none
from semplan._sqlite import migrate, schema_version
from semplan.backends import Backend, load_backend
from semplan.errors import InvalidArgument, ModelError, ModelMismatch, SemplanError, StoreError
from semplan.models import DEFAULT_MODEL, ModelSpec, resolve_model

ROLES = ("passage", "query", "clause")
# Texts read from the input iterable at a time: batches are length-sorted within a chunk. Memory stays
# flat in the corpus size (a chunk of texts and their vectors), and the chunk is long enough that
# length sorting still saves most of the padding.
DEFAULT_CHUNK_SIZE = 2048
# SQLite's default limit on host parameters is 999 in older builds.
_MAX_SQL_PARAMS = 500
# The embedding cache's file in the user cache directory (`semplan._fs.cache_dir()`).
CACHE_FILE = "embeddings.sqlite"


def text_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


# Numbered migrations, run by semplan._sqlite.migrate.
MIGRATIONS = [
    # Vectors by (cache key, sha256 of the unprompted text); one cache key per model/backend/prompt.
    ("m001_initial", """
    CREATE TABLE cache_keys (
        key_id INTEGER PRIMARY KEY,
        model TEXT NOT NULL,
        revision TEXT NOT NULL,
        backend TEXT NOT NULL,
        prompt TEXT NOT NULL,
        dims INTEGER NOT NULL,
        UNIQUE (model, revision, backend, prompt, dims)
    );
    CREATE TABLE embeddings (
        key_id INTEGER NOT NULL REFERENCES cache_keys (key_id),
        text_sha256 BLOB NOT NULL,
        vector BLOB NOT NULL,  -- little-endian float32, L2-normalised
        PRIMARY KEY (key_id, text_sha256)
    ) WITHOUT ROWID;
    """),
]


def _reporting_errors(method):
    """sqlite3 errors of a cache operation (locked, read-only, damaged) as one-line StoreErrors."""

    @functools.wraps(method)
    def wrapper(cache: EmbeddingCache, *args, **kwargs):
        try:
            return method(cache, *args, **kwargs)
        except sqlite3.Error as error:
            raise StoreError(f"embedding cache {cache.path}: {error}") from None

    return wrapper


class EmbeddingCache:
    """Vectors in SQLite (WAL, so readers never block on a writer), keyed by model, backend, prompt, text."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are explicit, one per batch written.
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL loses nothing on a killed process (only on power loss), and it is a cache.
            self._db.execute("PRAGMA synchronous=NORMAL")
            # A cache is disposable, so a newer one may also simply be deleted: say so.
            if schema_version(self._db) > len(MIGRATIONS):
                raise StoreError(f"the embedding cache {self.path} was written by a newer semplan; upgrade or delete it")
            migrate(self._db, MIGRATIONS, what=f"the embedding cache {self.path}")
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"cannot open the embedding cache {self.path}: {error}") from None

    @_reporting_errors
    def key_id(self, model: str, revision: str, backend: str, prompt: str, dims: int) -> int:
        key = (model, revision, backend, prompt, dims)
        where = "model=? AND revision=? AND backend=? AND prompt=? AND dims=?"
        row = self._db.execute(f"SELECT key_id FROM cache_keys WHERE {where}", key).fetchone()
        if row is None:
            self._db.execute(
                "INSERT OR IGNORE INTO cache_keys (model, revision, backend, prompt, dims) VALUES (?, ?, ?, ?, ?)",
                key,
            )
            row = self._db.execute(f"SELECT key_id FROM cache_keys WHERE {where}", key).fetchone()
        return row[0]

    @_reporting_errors
    def get_many(self, key_id: int, digests: list[bytes], dims: int) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(digests), _MAX_SQL_PARAMS):
            part = digests[start : start + _MAX_SQL_PARAMS]
            rows = self._db.execute(
                f"SELECT text_sha256, vector FROM embeddings WHERE key_id=? AND text_sha256 IN ({','.join('?' * len(part))})",
                [key_id, *part],
            )
            for digest, blob in rows:
                # A blob of the wrong size (a damaged row) is a miss and gets overwritten.
                if len(blob) == 4 * dims:
                    found[digest] = np.frombuffer(blob, dtype="<f4").astype(np.float32, copy=False)
        return found

    @_reporting_errors
    def put_many(self, key_id: int, digests: list[bytes], vectors: np.ndarray) -> None:
        """Store one batch in one transaction: after this returns, a killed run keeps it."""
        blobs = np.ascontiguousarray(vectors, dtype="<f4")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings (key_id, text_sha256, vector) VALUES (?, ?, ?)",
                [(key_id, digest, blobs[row].tobytes()) for row, digest in enumerate(digests)],
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        fault_point("embedding-cache-committed")

    @_reporting_errors
    def count(self, key_id: int | None = None) -> int:
        if key_id is None:
            return self._db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        return self._db.execute("SELECT count(*) FROM embeddings WHERE key_id=?", (key_id,)).fetchone()[0]

    def close(self) -> None:
        self._db.close()


class Encoder:
    """A model on a backend, with prompts by role and a persistent cache.

    >>> encoder = Encoder()                       # multilingual-e5-small, fastest backend installed
    >>> vectors = encoder.encode_clauses(clause.match_text for clause in clauses)
    >>> query = encoder.encode_queries(["课后服务"])[0]

    `model` is a registry name, a local sentence-transformers directory, a hub id or a resolved ModelSpec;
    `backend` a backend name (see semplan.backends) or an object with the Backend protocol;
    `cache_path` "default" for the user cache, None for no cache, or a path. `batch_size`: texts per
    backend call and per cache commit; None is the backend's `texts_per_call` if it has one, else 32.
    `progress` (semplan._progress.Progress) hears of each call: stage "encode", texts done of the
    total; None (or False) for none. The library never draws a bar itself. Not safe to share
    between threads.
    """

    def __init__(
        self,
        model: str | ModelSpec = DEFAULT_MODEL,
        backend: str | Backend = "auto",
        cache_path: str | os.PathLike | None = "default",
        batch_size: int | None = None,
        progress: Progress | bool | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ):
        if batch_size is not None and batch_size < 1:
            raise InvalidArgument(f"batch size must be at least 1, got {batch_size}")
        if chunk_size < 1:
            raise InvalidArgument(f"chunk size must be at least 1, got {chunk_size}")
        self.spec = model if isinstance(model, ModelSpec) else resolve_model(str(model))
        self.backend = load_backend(self.spec, backend) if isinstance(backend, str) else backend
        # A backend that groups texts into runs itself (openvino-int8) fills them better from larger calls.
        batch_size = batch_size or int(getattr(self.backend, "texts_per_call", 32))
        self.backend_name = self.backend.name
        self.dims = int(self.backend.dims)
        if self.spec.dims and self.spec.dims != self.dims:
            raise ModelError(
                f"model {self.spec.name!r} should give {self.spec.dims} dims, its backend gives {self.dims}"
            )
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.progress = progress_or_none(progress)
        self.texts_encoded = 0  # texts the model itself ran on (not found in the cache)
        if cache_path is None:
            self.cache_path = None
            self.cache = None
        else:
            self.cache_path = cache_dir() / CACHE_FILE if cache_path == "default" else Path(cache_path)
            self.cache = EmbeddingCache(self.cache_path)
        self._key_ids: dict[str, int] = {}

    @classmethod
    def for_index(
        cls, model_identity: Mapping[str, Any], backend: str | None = None, *, index: str | os.PathLike | None = None,
        **options: Any,
    ) -> Encoder:
        """The encoder for querying or extending an index built with `model_identity` (its manifest's "model").

        `backend` None means the one that built the index; if that one is not installed here, the
        fastest installed backend of the same weights stands in, since its vectors are close enough
        to query with. Weights that changed since (another revision or prompts) → `ModelMismatch`.
        `index` names the index in that message; `options` go to Encoder.
        """
        name = str(model_identity.get("model") or model_identity.get("name") or DEFAULT_MODEL)
        try:
            encoder = cls(model=name, backend=backend or model_identity.get("backend") or "auto", **options)
        except SemplanError:
            if backend:
                raise
            encoder = cls(model=name, backend="auto", **options)
        if not same_model(model_identity, encoder.identity()):
            where = f"index {index}" if index is not None else "the index"
            raise ModelMismatch(
                f"{where} was built with {describe_model(model_identity)}, "
                f"but {name} is now {describe_model(encoder.identity())}; "
                "re-create it: semplan index PLAN_FILES --out NEW_INDEX"
            )
        return encoder

    def prompt(self, role: str) -> str:
        """The text prefixed to every text of this role ("passage: " for e5), "" for models without prompts."""
        if role not in ROLES:
            raise InvalidArgument(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        prompts = self.spec.prompts or {}
        passage = prompts.get("passage", prompts.get("document", ""))
        if role == "passage":
            return passage
        if role == "clause":
            # Clauses are compared with clauses (a symmetric task); a model says which prompt suits
            # that, as e5's card does ("query: " for similarity and clustering), else passages'.
            return prompts.get("clause", passage)
        return prompts.get("query", "")

    def identity(self) -> dict[str, Any]:
        """What an index stores in its manifest, to refuse searching it with another model."""
        return {
            "model": self.spec.name,
            "kind": self.spec.kind,
            "revision": self.spec.revision,
            "backend": self.backend_name,
            "dims": self.dims,
            "prompts": {role: self.prompt(role) for role in ROLES},
        }

    def encode(self, texts: Iterable[str], role: str) -> np.ndarray:
        """Texts of one role ("clause", "passage" or "query"); the methods below name the role."""
        return self._encode(texts, role)

    def encode_passages(self, texts: Iterable[str]) -> np.ndarray:
        """float32 (n, dims), L2-normalised, rows in input order; texts are read lazily, a chunk at a time."""
        return self._encode(texts, "passage")

    def encode_queries(self, texts: Iterable[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def encode_clauses(self, texts: Iterable[str]) -> np.ndarray:
        """Plan clauses, to be matched with other clauses and clustered: the model's "clause" prompt."""
        return self._encode(texts, "clause")

    def iter_encode(self, texts: Iterable[str], role: str = "passage") -> Iterator[np.ndarray]:
        """One (chunk, dims) array per chunk of input, in order: for writers that stream into an index."""
        return self._iter_chunks(texts, role, NO_PROGRESS)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> Encoder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------------

    def _encode(self, texts: Iterable[str], role: str) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        total = len(texts) if hasattr(texts, "__len__") else None
        progress = self.progress
        progress.stage("encode", total, "texts")
        if total is not None:
            out = np.empty((total, self.dims), dtype=np.float32)
            filled = 0
            for vectors in self._iter_chunks(texts, role, progress):
                out[filled : filled + len(vectors)] = vectors
                filled += len(vectors)
            return out[:filled]
        chunks = list(self._iter_chunks(texts, role, progress))
        return _concatenate_releasing(chunks, self.dims)

    def _iter_chunks(self, texts: Iterable[str], role: str, progress: Progress) -> Iterator[np.ndarray]:
        prompt = self.prompt(role)
        chunk: list[str] = []
        position = 0
        for text in texts:
            if not isinstance(text, str):
                raise InvalidArgument(f"can only encode text; item {position} is {type(text).__name__}")
            chunk.append(text)
            position += 1
            if len(chunk) == self.chunk_size:
                yield self._encode_chunk(chunk, prompt, progress)
                chunk = []
        if chunk:
            yield self._encode_chunk(chunk, prompt, progress)

    def _encode_chunk(self, texts: list[str], prompt: str, progress: Progress) -> np.ndarray:
        digests = [text_digest(text) for text in texts]
        text_by_digest = dict(zip(digests, texts, strict=True))  # a repeated text is encoded once
        occurrences = Counter(digests)
        key_id = self._key_id(prompt)
        found = self.cache.get_many(key_id, list(text_by_digest), self.dims) if self.cache is not None else {}
        progress.advance(sum(occurrences[digest] for digest in found))
        missing = [digest for digest in text_by_digest if digest not in found]
        # Longest first, as sentence-transformers does: similar lengths share a batch and pad little.
        # sorted() is stable, so the batches are the same on every run over the same input.
        missing.sort(key=lambda digest: -len(text_by_digest[digest]))
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            vectors = self._embed([prompt + text_by_digest[digest] for digest in batch])
            self.texts_encoded += len(batch)
            if self.cache is not None:
                self.cache.put_many(key_id, batch, vectors)
            found.update(zip(batch, vectors, strict=True))
            progress.advance(sum(occurrences[digest] for digest in batch))
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        for row, digest in enumerate(digests):
            out[row] = found[digest]
        return out

    def _embed(self, prompted_texts: list[str]) -> np.ndarray:
        # A copy: normalising below writes in place, and a backend may hand out a read-only or shared buffer.
        vectors = np.array(self.backend.embed(prompted_texts), dtype=np.float32)
        if vectors.shape != (len(prompted_texts), self.dims):
            raise ModelError(
                f"backend {self.backend_name!r} returned shape {vectors.shape} for {len(prompted_texts)} texts "
                f"of {self.dims} dims"
            )
        if not np.isfinite(vectors).all():
            raise ModelError(f"backend {self.backend_name!r} returned non-finite values")
        # Backends normalise already; rows that are off get fixed here, so "L2-normalised" is a property of
        # the Encoder, while rows that are fine keep the backend's exact bits.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        off = (np.abs(norms - 1) > 1e-5) & (norms > 0)
        np.divide(vectors, norms, out=vectors, where=off)
        return vectors

    def _key_id(self, prompt: str) -> int:
        if self.cache is None:
            return -1
        if prompt not in self._key_ids:
            self._key_ids[prompt] = self.cache.key_id(
                self.spec.name, self.spec.revision or "", self.backend_name, prompt, self.dims
            )
        return self._key_ids[prompt]

def same_model(stored: Mapping[str, Any], identity: Mapping[str, Any]) -> bool:
    """Same weights, dims and prompts (keys missing from either side are not compared); the backend may differ."""
    for key in ("revision", "dims", "prompts"):
        if key in stored and key in identity and stored[key] != identity[key]:
            return False
    if not stored.get("revision") or not identity.get("revision"):
        return model_name(stored) == model_name(identity)
    return True


def model_name(identity: Mapping[str, Any]) -> str:
    return str(identity.get("model") or identity.get("name") or "?")


def describe_model(identity: Mapping[str, Any]) -> str:
    """`name@revision` (the revision cut to 12 characters), as error messages show a model."""
    revision = str(identity.get("revision") or "")
    return f"{model_name(identity)}@{revision[:12]}" if revision else model_name(identity)


def _concatenate_releasing(chunks: list[np.ndarray], dims: int) -> np.ndarray:
    """Join chunk arrays, freeing each once copied: a large np.empty is committed page by page as it is
    written, so peak memory stays near one copy of the vectors rather than two."""
    out = np.empty((sum(len(chunk) for chunk in chunks), dims), dtype=np.float32)
    filled = 0
    chunks.reverse()
    while chunks:
        chunk = chunks.pop()
        out[filled : filled + len(chunk)] = chunk
        filled += len(chunk)
    return out


def embed(
    clauses: Iterable, model: str | ModelSpec = DEFAULT_MODEL, *, encoder: Encoder | None = None, **options
) -> np.ndarray:
    """Vectors of `clauses` (Clause objects: their match_text; or plain strings) in the clause role.

    >>> import semplan
    >>> vectors = semplan.embed(clauses, model="multilingual-e5-small")

    Encoders are kept between calls with the same arguments, so a notebook loads each model once.
    `options` go to Encoder (backend, cache_path, batch_size, progress).
    """
    if encoder is None:
        try:
            encoder = _shared_encoder(model, tuple(sorted(options.items())))
        except TypeError:  # an unhashable option value: no sharing
            encoder = Encoder(model, **options)
    if hasattr(clauses, "__len__"):
        return encoder.encode_clauses(_MatchTexts(clauses))
    return encoder.encode_clauses(_match_text(clause) for clause in clauses)


@functools.lru_cache(maxsize=4)
def _shared_encoder(model: str | ModelSpec, options: tuple) -> Encoder:
    return Encoder(model, **dict(options))


def _match_text(clause) -> str:
    return clause if isinstance(clause, str) else clause.match_text


class _MatchTexts:
    """The texts to encode for a sized collection of clauses: lazy, but with len() for the progress bar."""

    def __init__(self, clauses):
        self.clauses = clauses

    def __len__(self) -> int:
        return len(self.clauses)

    def __iter__(self) -> Iterator[str]:
        return (_match_text(clause) for clause in self.clauses)
