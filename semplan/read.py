"""bytes → text: encodings, .txt/.docx/.html/.pdf. (Contract fixed; implementation in progress.)"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Document:
    plan_id: str
    path: Path | None
    text: str  # decoded source; every Clause span indexes into this string
    sha256: str  # of the raw file bytes
    encoding: str  # detected encoding, or the format ("docx", "pdf", ...)


def read_document(path: str | Path, plan_id: str | None = None) -> Document:
    raise NotImplementedError
