"""Encoder backends: one way each of turning prompted texts into vectors.

A backend knows nothing of caches, clauses or prompts: `semplan.encode.Encoder` applies the
prompt, skips cached texts, batches, and calls `Backend.embed` on what is left.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    name: str  # "torch", "onnx-int8", "use", ... part of every cache key
    dims: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), dims), L2-normalised, rows in input order."""
        ...
