"""Encoder backends: one way each of turning prompted texts into vectors.

A backend knows nothing of caches, clauses or prompts: `semplan.encode.Encoder` applies the
prompt, skips cached texts, batches, and calls `Backend.embed` on what is left.

Backends by name (`BACKEND_NAMES`, the one list the CLI offers too):
- "torch": sentence-transformers in fp32 on the CPU, the reference every other backend is checked against;
- "onnx" / "onnx-int8": onnxruntime, fp32 or dynamically quantized (semplan/backends/onnx.py);
- "openvino-int8": OpenVINO, statically quantized with calibrated scales (semplan/backends/openvino.py);
- "use": the pure-numpy Universal Sentence Encoder (only for the `use-multilingual` model);
- "auto": the fastest one installed for the model on this CPU: openvino-int8 where the CPU has int8
  dot-product instructions (VNNI), which its int8 kernels are built on, else onnx-int8, else torch.
  The name chosen is the backend's `name`, so it goes into the cache key and the index manifest.

Every int8 backend gives a text the same vector whatever it is batched with (tests/test_backend_static.py).
"""

from __future__ import annotations

import functools
import importlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from semplan.errors import MissingDependency, ModelError, SemplanError
from semplan.models import Log, ModelSpec, build_model, resolve_model

if TYPE_CHECKING:
    import numpy as np  # not at run time: the CLI imports BACKEND_NAMES for its choices and must start fast

logger = logging.getLogger(__name__)

BACKEND_NAMES = ("auto", "torch", "onnx", "onnx-int8", "openvino-int8", "use")
# CPU flags (Linux /proc/cpuinfo names) of int8 dot-product instructions: AVX512-VNNI, AVX-VNNI, AMX.
# Without them an int8 multiply-add takes two instructions (vpmaddubsw + vpmaddwd) and static int8
# gains little over dynamic (docs/models-design.md).
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


class Backend(Protocol):
    name: str  # "torch", "onnx-int8", "use", ... part of every cache key
    dims: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), dims), L2-normalised, rows in input order."""
        ...


# The fallback notice is given once per process, not once per Encoder.
_fallback_noticed = False
_openvino_fallback_noticed = False


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
    if backend == "openvino-int8":
        openvino = _optional_module("semplan.backends.openvino")
        if openvino is None or not openvino.available():
            raise ModelError(
                "the 'openvino-int8' backend is not available here (needs openvino: pip install 'semplan[openvino]'); "
                "use --backend onnx-int8"
            )
        return openvino.load(spec)
    return _load_auto(spec)


@functools.cache
def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags as Linux names them (empty where /proc/cpuinfo is not there)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def auto_backend_name(spec: ModelSpec) -> str:
    """The backend "auto" tries first for `spec` on this machine (it falls back when that cannot load)."""
    if spec.kind == "use":
        return "use"
    openvino = _optional_module("semplan.backends.openvino")
    if INT8_DOT_FLAGS & cpu_flags() and openvino is not None and openvino.available():
        return "openvino-int8"
    onnx = _onnx_module()
    return "onnx-int8" if onnx is not None and onnx.available() else "torch"


def prepare_model(name: str, *, force: bool = False, verify: bool = False, log: Log | None = None) -> ModelSpec:
    """Build registry model `name` (a no-op when intact) and prepare what its "auto" backend loads.

    For a sentence-transformers model that is the onnx-int8 export, and the openvino-int8 one where
    "auto" would choose it, each made once per model revision, so the first `semplan index` after a
    build neither exports nor waits.
    """
    build_model(name, force=force, log=log, verify=verify)
    spec = resolve_model(name)
    if spec.kind != "sentence-transformers":
        return spec
    if auto_backend_name(spec) == "openvino-int8":
        try:
            _optional_module("semplan.backends.openvino").ensure_export(spec, log=log)
        except SemplanError as error:
            (log or logger.info)(f"{name}: no openvino-int8 export ({error}); it will be encoded with onnx-int8")
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
    global _fallback_noticed, _openvino_fallback_noticed
    if auto_backend_name(spec) == "openvino-int8":
        try:
            return _optional_module("semplan.backends.openvino").load(spec)
        except (ModelError, MissingDependency) as error:
            if not _openvino_fallback_noticed:
                logger.warning("openvino-int8 cannot load %s (%s); trying onnx-int8", spec.name, error)
                _openvino_fallback_noticed = True
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
    return _optional_module("semplan.backends.onnx")


def _optional_module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
