"""Encoder backends: one way each of turning prompted texts into vectors.

A backend knows nothing of caches, clauses or prompts: `semplan.encode.Encoder` applies the
prompt, skips cached texts, batches, and calls `Backend.embed` on what is left.

Backends by name (`BACKEND_NAMES`, the one list the CLI offers too):
- "torch": sentence-transformers in fp32 on the CPU, the reference every other backend is checked against;
- "onnx" / "onnx-int8": onnxruntime, fp32 or dynamically quantized (semplan/backends/onnx.py);
- "use": the pure-numpy Universal Sentence Encoder (only for the `use-multilingual` model);
- "auto": the fastest one installed for the model.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Protocol

from semplan.errors import ModelError, SemplanError
from semplan.models import Log, ModelSpec, build_model, resolve_model

if TYPE_CHECKING:
    import numpy as np  # not at run time: the CLI imports BACKEND_NAMES for its choices and must start fast

logger = logging.getLogger(__name__)

BACKEND_NAMES = ("auto", "torch", "onnx", "onnx-int8", "use")


class Backend(Protocol):
    name: str  # "torch", "onnx-int8", "use", ... part of every cache key
    dims: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), dims), L2-normalised, rows in input order."""
        ...


# The fallback notice is given once per process, not once per Encoder.
_fallback_noticed = False


def load_backend(spec: ModelSpec, backend: str = "auto") -> Backend:
    """The backend named `backend` with `spec`'s model loaded, ready to embed."""
    if backend not in BACKEND_NAMES:
        raise ModelError(f"unknown backend {backend!r}; choose one of {', '.join(BACKEND_NAMES)}")
    if spec.kind == "use":
        if backend not in ("auto", "use"):
            raise ModelError(f"model {spec.name!r} runs only on the 'use' backend, not {backend!r}")
        from semplan.backends import use

        return use.load(spec)
    if spec.kind != "sentence-transformers":
        raise ModelError(f"model {spec.name!r} is of unknown kind {spec.kind!r}")
    if backend == "use":
        raise ModelError(f"the 'use' backend runs only the use-multilingual model, not {spec.name!r}")
    if backend == "torch":
        return _load_torch(spec)
    if backend in ("onnx", "onnx-int8"):
        onnx = _onnx_module()
        if onnx is None or not onnx.available():
            raise ModelError(
                f"the {backend!r} backend is not available here (needs onnxruntime and semplan.backends.onnx); "
                "use --backend torch"
            )
        return onnx.load(spec, quantized=backend == "onnx-int8")
    return _load_auto(spec)


def prepare_model(name: str, *, force: bool = False, verify: bool = False, log: Log | None = None) -> ModelSpec:
    """Build registry model `name` (a no-op when intact) and prepare what its "auto" backend loads.

    For a sentence-transformers model that is the onnx-int8 export, made once per model revision, so
    the first `semplan index` after a build neither exports nor waits.
    """
    build_model(name, force=force, log=log, verify=verify)
    spec = resolve_model(name)
    if spec.kind != "sentence-transformers":
        return spec
    onnx = _onnx_module()
    if onnx is None or not onnx.available():
        return spec
    try:
        onnx.ensure_export(spec, quantized=True, log=log)
    except SemplanError as error:
        # As "auto" does when it loads: a model the onnx backend cannot take is encoded by torch.
        (log or logger.info)(f"{name}: no onnx-int8 export ({error}); it will be encoded with torch")
    return spec


def _load_auto(spec: ModelSpec) -> Backend:
    global _fallback_noticed
    onnx = _onnx_module()
    reason = "the onnx backend is not installed"
    if onnx is not None:
        try:
            if onnx.available():
                return onnx.load(spec, quantized=True)
            reason = "the onnx backend is not available"
        except ModelError as error:
            # e.g. this model has no ONNX export: torch still runs it, only slower.
            reason = f"onnx-int8 cannot load it ({error})"
    if not _fallback_noticed:
        logger.warning("%s; encoding with torch fp32 (slower)", reason)
        _fallback_noticed = True
    return _load_torch(spec)


def _load_torch(spec: ModelSpec) -> Backend:
    from semplan.backends import torch_st

    return torch_st.load(spec)


def _onnx_module():
    """semplan.backends.onnx if it exists and imports, else None (it is an optional module)."""
    try:
        return importlib.import_module("semplan.backends.onnx")
    except ImportError:
        return None
