"""semplan: what a stack of government work plans has in common, what each says alone, what changed.

The pipeline, one module a stage (docs/ARCHITECTURE.md)::

    >>> import semplan
    >>> document = semplan.read_document("plan.txt")
    >>> clauses = semplan.segment_document(document)      # list[Clause] with exact spans
    >>> vectors = semplan.embed(clauses)                  # float32 (n, 384), L2-normalised, cached
    >>> semplan.update_index("out/index", ["plans/"])     # read, segment, encode, store
    >>> corpus = semplan.Corpus.open("out/index")
    >>> hits = semplan.Searcher(corpus).by_text("课后服务", k=5)
    >>> analysis = semplan.find_priorities(corpus.clauses(), corpus.vectors(), seed=42)

Names are imported on first use, so `import semplan` (and the CLI) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

# Exported name → the module that defines it. No name here is also a submodule's name, so
# `semplan.segment` is always the module and `semplan.segment_document` the function.
_EXPORTS = {
    "read_document": "semplan.read",
    "Document": "semplan.read",
    "segment_document": "semplan.segment",
    "Clause": "semplan.segment",
    "Encoder": "semplan.encode",
    "embed": "semplan.encode",
    "Corpus": "semplan.store",
    "PlanFilter": "semplan.store",
    "update_index": "semplan.ingest",
    "index_paths": "semplan.ingest",
    "Searcher": "semplan.search",
    "find_priorities": "semplan.cluster",
    "PriorityClusterer": "semplan.cluster",
    "write_report": "semplan.report",
    "report_corpus": "semplan.report",
    "SemplanError": "semplan.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'semplan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
