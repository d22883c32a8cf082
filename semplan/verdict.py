"""One match verdict for a pair of clauses: `same` commitment, `related` (same topic, another
commitment) or `different`, from the cosine score and thresholds calibrated per model.

The thresholds, and the precision and recall they were measured at, are committed in
`semplan/data/verdicts.json`, keyed by model name and revision; `semplan eval verdicts`
recomputes them from the labelled clause pairs (tests/data/pairs, docs/quality.md). A model
without a calibration gets no verdict (None), never a guessed one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

VERDICTS = ("same", "related", "different")
CALIBRATION_FILE = Path(__file__).resolve().parent / "data" / "verdicts.json"


@dataclass(frozen=True)
class Calibration:
    """Cosine thresholds of one model: score ≥ same → `same`, ≥ related → `related`, else `different`."""

    model: str
    revision: str
    same: float
    related: float

    def verdict(self, score: float) -> str:
        if score >= self.same:
            return "same"
        if score >= self.related:
            return "related"
        return "different"


def calibration_key(model: str, revision: str | None) -> str:
    return f"{model}@{revision or ''}"


@lru_cache(maxsize=1)
def _calibrations() -> dict[str, Any]:
    if not CALIBRATION_FILE.exists():
        return {}
    return json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))


def calibration_for(identity: Mapping[str, Any]) -> Calibration | None:
    """The calibration of a model identity (an index manifest's "model", `Encoder.identity()`), or None."""
    model = str(identity.get("model") or identity.get("name") or "")
    revision = identity.get("revision")
    entry = _calibrations().get(calibration_key(model, revision))
    if entry is None:
        return None
    return Calibration(model=model, revision=str(revision or ""), same=float(entry["same"]), related=float(entry["related"]))


def verdict_of(score: float | None, calibration: Calibration | None) -> str | None:
    """The verdict of a cosine score, None when there is no score or no calibration."""
    if score is None or calibration is None:
        return None
    return calibration.verdict(float(score))
