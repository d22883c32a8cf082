"""The bundled sample corpus: five education work plans (see sample_plans/README.md)."""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_plans"


def sample_plan_paths() -> list[Path]:
    """The five bundled plans, sorted by file name; the plan id of each is its file stem."""
    return sorted(SAMPLE_DIR.glob("*.txt"))
