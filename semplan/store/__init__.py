"""The on-disk corpus: plans, clauses and their vectors in one directory, searchable with FAISS.

It stores what it is given and never reads files, segments or encodes (that is semplan.ingest).
SQLite is the single source of truth and every write is one SQLite transaction that also bumps a
generation counter, so a reader sees the old or the new set of plans, never half of one. The FAISS
file is derived data, written after the commit and then named by a new manifest; a reader whose
manifest names an older generation rebuilds the index in memory from SQLite. One process writes at
a time (an exclusive lock the kernel releases when it dies); readers take no lock (WAL mode).

- `corpus`: the `Corpus` (open, create, read, search row ids, write through a `PlanWriter`)
- `schema`: the files of an index directory, the SQLite schema and its migrations, the manifest
- `faiss_index`: which FAISS index, building and calibrating it, searching it (docs/index-design.md)
- `lexical`: character bigrams and BM25 over SQLite FTS5
- `check`: what is wrong with an index directory, and rebuilding what its database still holds
"""

from semplan.store.check import CheckReport, Finding, check_index, repair_index
from semplan.store.corpus import EXACT_SUBSET_LIMIT, Corpus
from semplan.store.faiss_index import (
    CALIBRATION_TARGET,
    build_faiss_index,
    calibrate_nprobe,
    choose_index_kind,
    configure_threads,
    faiss_search,
    ivf_nlist,
)
from semplan.store.lexical import bigram_text, bigrams
from semplan.store.records import ALL_PLANS, PlanFilter, PlanRecord
from semplan.store.schema import (
    DATABASE,
    DEFAULT_ANN_THRESHOLD,
    FORMAT_VERSION,
    LOCK,
    MANIFEST,
    MIGRATIONS,
    semplan_version,
    text_hash,
)
from semplan.store.views import stored_plan_metadata
from semplan.store.writer import PlanWriter

__all__ = [
    "CALIBRATION_TARGET",
    "DATABASE",
    "DEFAULT_ANN_THRESHOLD",
    "EXACT_SUBSET_LIMIT",
    "FORMAT_VERSION",
    "LOCK",
    "MANIFEST",
    "MIGRATIONS",
    "CheckReport",
    "Corpus",
    "Finding",
    "ALL_PLANS",
    "PlanFilter",
    "PlanRecord",
    "PlanWriter",
    "bigram_text",
    "bigrams",
    "build_faiss_index",
    "calibrate_nprobe",
    "check_index",
    "choose_index_kind",
    "configure_threads",
    "faiss_search",
    "ivf_nlist",
    "repair_index",
    "semplan_version",
    "stored_plan_metadata",
    "text_hash",
]
