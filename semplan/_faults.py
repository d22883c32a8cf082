"""Named fault points, for crash tests only.

`SEMPLAN_FAULT_AT=<point>[:<n>]` makes the process stop at the n-th time (default: the first) it
passes `fault_point("<point>")`: it writes the point's name to `SEMPLAN_FAULT_MARKER` (if set) and
then blocks until killed, or, with `SEMPLAN_FAULT_ACTION=exit`, ends at once with `os._exit(70)`
(no cleanup, no `finally`, as a crash would). A test waits for the marker, not for a time, so it
kills the process at exactly that point on any machine. Unset, a fault point is one dictionary
lookup and nothing else.

The points (where each sits is the contract the crash tests check):

- `index-encoded`          every new plan is encoded and inserted, before the SQLite commit
- `index-committed`        after the SQLite commit, before the FAISS file is written
- `faiss-temp-written`     the new FAISS file is written and fsynced under its temporary name
- `faiss-renamed`          the new FAISS file has its final name; the manifest still names the old one
- `manifest-temp-written`  the new manifest is written under its temporary name, not yet renamed
- `manifest-renamed`       the new manifest is in place, leftovers not yet cleaned
- `embedding-cache-committed`  one batch of vectors is committed to the embedding cache
"""

from __future__ import annotations

import os
import threading

FAULT_POINTS = (
    "index-encoded",
    "index-committed",
    "faiss-temp-written",
    "faiss-renamed",
    "manifest-temp-written",
    "manifest-renamed",
    "embedding-cache-committed",
)

_passes: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Stop here if `SEMPLAN_FAULT_AT` names this point (and this is the pass it counts to)."""
    wanted = os.environ.get("SEMPLAN_FAULT_AT")
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] != (int(count) if count else 1):
        return
    marker = os.environ.get("SEMPLAN_FAULT_MARKER")
    if marker:
        # Renamed into place, so a test that sees the marker sees all of it.
        with open(f"{marker}.tmp", "w", encoding="utf-8") as handle:
            handle.write(name)
        os.replace(f"{marker}.tmp", marker)
    if os.environ.get("SEMPLAN_FAULT_ACTION") == "exit":
        os._exit(70)
    threading.Event().wait()  # until killed
