"""The Parquet shards between the Ray stages and the index: one row per plan, its clauses and vectors.

A row holds what the index's write path needs for one plan: the read document (plan id, path,
sha256, encoding, source text), its masked clause records (JSON, the `Clause` fields) and its
vectors (little-endian float32, one row per clause). One row per plan rather than per clause keeps a
plan's clauses together, so the index is built by streaming the shards a batch of rows at a time,
in any order, without a shuffle.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from semplan.read import Document
from semplan.segment import Clause

# The columns of a shard row, in order.
COLUMNS = (
    "plan_id", "path", "sha256", "encoding", "text",  # the read document
    "error",  # why the plan could not be read or segmented, else None
    "unchanged",  # the index holds this plan's file already: not segmented or encoded
    "clauses",  # JSON list of the masked clauses' fields
    "vectors",  # bytes of a (len(clauses), dims) float32 array
    "texts_encoded",  # distinct texts the model ran on for this plan (not in the embedding cache)
    "texts_cached",  # distinct texts the embedding cache held
)


def document_row(document: Document, *, unchanged: bool) -> dict[str, Any]:
    return {
        "plan_id": document.plan_id, "path": None if document.path is None else str(document.path),
        "sha256": document.sha256, "encoding": document.encoding, "text": document.text, "error": None,
        "unchanged": unchanged, "clauses": "[]", "vectors": b"", "texts_encoded": 0, "texts_cached": 0,
    }


def error_row(path: str, plan_id: str | None, error: str) -> dict[str, Any]:
    return {
        "plan_id": plan_id or "", "path": path, "sha256": "", "encoding": "", "text": "", "error": error,
        "unchanged": False, "clauses": "[]", "vectors": b"", "texts_encoded": 0, "texts_cached": 0,
    }


def row_document(row: dict[str, Any]) -> Document:
    return Document(row["plan_id"], None if row["path"] is None else Path(row["path"]), row["text"],
                    row["sha256"], row["encoding"])


def clauses_json(clauses: list[Clause]) -> str:
    return json.dumps([dataclasses.asdict(clause) for clause in clauses], ensure_ascii=False)


def row_clauses(row: dict[str, Any]) -> list[Clause]:
    return [
        Clause(**{**fields, "spans": tuple(tuple(span) for span in fields["spans"])})
        for fields in json.loads(row["clauses"])
    ]


def vectors_bytes(vectors: np.ndarray) -> bytes:
    return np.ascontiguousarray(vectors, dtype="<f4").tobytes()


def row_vectors(row: dict[str, Any], dims: int) -> np.ndarray:
    return np.frombuffer(row["vectors"], dtype="<f4").reshape(-1, dims).astype(np.float32)


def read_rows(directory: Path, batch_rows: int = 64) -> Iterator[dict[str, Any]]:
    """Every row of the Parquet shards in `directory`, a batch of rows in memory at a time."""
    import pyarrow.dataset

    dataset = pyarrow.dataset.dataset(str(directory), format="parquet")
    for batch in dataset.to_batches(columns=list(COLUMNS), batch_size=batch_rows):
        yield from batch.to_pylist()
