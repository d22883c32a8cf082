"""Rebuild semplan/data/calibration/clauses.txt: the int8 calibration set (see the README.md beside it).

    python tests/data/calibration/make.py

Deterministic: the same source files and segmenter give the same file.
"""

from __future__ import annotations

from pathlib import Path

from semplan.read import read_document
from semplan.segment import segment_document

HERE = Path(__file__).resolve().parent
DATA = HERE.parent
TARGET = HERE.parents[2] / "semplan" / "data" / "calibration" / "clauses.txt"
# Public government reports only; never the evaluation data (sample plans, dev-gold, pairs, queries,
# sts-sample, clustering-sample). The wrapped Liaoning copy repeats the clean one, so it is left out.
SOURCES = sorted(
    path for path in (DATA / "realworld").glob("*.txt") if path.name != "liaoning-gwr-2026-wrapped30.txt"
) + sorted((DATA / "series").glob("*.txt"))
PER_DOCUMENT = 22


def calibration_texts() -> list[str]:
    texts: list[str] = []
    for path in SOURCES:
        clauses = [clause.match_text for clause in segment_document(read_document(path))]
        clauses = [text for text in clauses if "\n" not in text and text.strip()]
        step = len(clauses) / PER_DOCUMENT
        texts += [clauses[int(i * step)] for i in range(PER_DOCUMENT)]
    return texts


if __name__ == "__main__":
    texts = calibration_texts()
    TARGET.write_text("".join(text + "\n" for text in texts), encoding="utf-8")
    print(f"{len(texts)} clauses from {len(SOURCES)} documents")
