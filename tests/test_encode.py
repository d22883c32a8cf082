"""The encoder: prompts, batching, the cache and its keys, resumability; then the real default model."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
from crash import kill_at_fault_point

import semplan
from semplan.encode import EmbeddingCache, Encoder, embed
from semplan.errors import InvalidArgument, ModelError, ModelMismatch, StoreError
from semplan.models import ModelSpec

REPO = Path(__file__).resolve().parent.parent

FAKE_SPEC = ModelSpec(
    name="fake-model",
    kind="sentence-transformers",
    location="/nonexistent/fake-model",
    revision="rev-1",
    dims=8,
    prompts={"query": "query: ", "passage": "passage: "},
)


class FakeBackend:
    """Deterministic vectors from the sha256 of each (prompted) text; records every call."""

    dims = 8

    def __init__(self, name: str = "fake", fail_after_calls: int | None = None):
        self.name = name
        self.calls: list[list[str]] = []
        self.fail_after_calls = fail_after_calls

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.fail_after_calls is not None and len(self.calls) >= self.fail_after_calls:
            raise KeyboardInterrupt("simulated interruption")
        self.calls.append(list(texts))
        rows = [np.frombuffer(hashlib.sha256(text.encode()).digest()[:8], dtype=np.uint8) for text in texts]
        vectors = np.array(rows, dtype=np.float32).reshape(len(texts), self.dims) - 127.5
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def fake_encoder(tmp_path, backend=None, spec=FAKE_SPEC, cache="cache.sqlite", **options) -> Encoder:
    cache_path = None if cache is None else tmp_path / cache
    options.setdefault("progress", False)
    return Encoder(model=spec, backend=backend or FakeBackend(), cache_path=cache_path, **options)


TEXTS = [f"第{n}条 推进{'学前教育' * (n % 7)}普惠发展" for n in range(100)]


# -- unit tests on a deterministic fake backend -------------------------------------------------------


def test_vectors_are_normalised_float32_in_input_order(tmp_path):
    encoder = fake_encoder(tmp_path, batch_size=7)
    vectors = encoder.encode_passages(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    expected = FakeBackend().embed(["passage: " + text for text in TEXTS])
    np.testing.assert_array_equal(vectors, expected)


def test_batches_are_length_sorted_and_prompted(tmp_path):
    backend = FakeBackend()
    fake_encoder(tmp_path, backend, batch_size=10).encode_passages(TEXTS)
    assert all(len(batch) <= 10 for batch in backend.calls)
    sent = [text for batch in backend.calls for text in batch]
    assert all(text.startswith("passage: ") for text in sent)
    assert [len(text) for text in sent] == sorted((len(text) for text in sent), reverse=True)
    backend.calls.clear()
    fake_encoder(tmp_path, backend, cache=None).encode_queries(["课后服务"])
    assert backend.calls == [["query: 课后服务"]]


def test_model_without_prompts_sends_raw_text(tmp_path):
    backend = FakeBackend()
    spec = ModelSpec(name="plain", kind="sentence-transformers", location="x", revision="r", dims=8)
    encoder = fake_encoder(tmp_path, backend, spec=spec)
    encoder.encode_queries(["课后服务"])
    encoder.encode_passages(["课后服务"])
    assert backend.calls == [["课后服务"]]  # same key (no prompt): the second is a cache hit
    assert encoder.identity()["prompts"] == {"passage": "", "query": "", "clause": ""}


def test_second_encode_makes_no_model_calls(tmp_path):
    encoder = fake_encoder(tmp_path)
    first = encoder.encode_passages(TEXTS)
    assert encoder.texts_encoded == len(TEXTS)
    second = encoder.encode_passages(TEXTS)
    assert encoder.texts_encoded == len(TEXTS)
    np.testing.assert_array_equal(first, second)
    # A new process (here: a new Encoder) finds them too.
    again = fake_encoder(tmp_path)
    np.testing.assert_array_equal(again.encode_passages(TEXTS), first)
    assert again.texts_encoded == 0


def test_repeated_texts_are_encoded_once(tmp_path):
    encoder = fake_encoder(tmp_path, cache=None)
    vectors = encoder.encode_passages(["甲", "乙", "甲", "甲"])
    assert encoder.texts_encoded == 2
    np.testing.assert_array_equal(vectors[0], vectors[2])


def test_cache_key_separates_prompt_backend_model_and_revision(tmp_path):
    base = fake_encoder(tmp_path)
    base.encode_passages(TEXTS[:5])
    queries = fake_encoder(tmp_path)
    queries.encode_queries(TEXTS[:5])
    assert queries.texts_encoded == 5  # another prompt
    other_backend = fake_encoder(tmp_path, FakeBackend(name="fake-int8"))
    other_backend.encode_passages(TEXTS[:5])
    assert other_backend.texts_encoded == 5
    for changed in (
        ModelSpec(**{**FAKE_SPEC.__dict__, "revision": "rev-2"}),
        ModelSpec(**{**FAKE_SPEC.__dict__, "name": "other-model"}),
        ModelSpec(**{**FAKE_SPEC.__dict__, "prompts": {"passage": "document: "}}),
    ):
        encoder = fake_encoder(tmp_path, spec=changed)
        encoder.encode_passages(TEXTS[:5])
        assert encoder.texts_encoded == 5, changed
    unchanged = fake_encoder(tmp_path)
    unchanged.encode_passages(TEXTS[:5])
    assert unchanged.texts_encoded == 0
    # A changed text under the same position is a miss (the key is the text's hash, not an id).
    unchanged.encode_passages([TEXTS[0] + "。"])
    assert unchanged.texts_encoded == 1


def test_interrupted_encode_resumes_with_identical_vectors(tmp_path):
    reference = fake_encoder(tmp_path, cache=None, batch_size=8).encode_passages(TEXTS)
    crashing = FakeBackend(fail_after_calls=3)
    with pytest.raises(KeyboardInterrupt):
        fake_encoder(tmp_path, crashing, batch_size=8).encode_passages(TEXTS)
    assert EmbeddingCache(tmp_path / "cache.sqlite").count() == 3 * 8  # committed batch by batch
    resumed = fake_encoder(tmp_path, batch_size=8)
    np.testing.assert_array_equal(resumed.encode_passages(TEXTS), reference)
    assert resumed.texts_encoded == len(TEXTS) - 3 * 8


def test_iterables_stream_in_chunks(tmp_path):
    pulled = 0

    def texts():
        nonlocal pulled
        for n in range(1000):
            pulled += 1
            yield f"句子{n}"

    backend = FakeBackend()
    ahead = []
    original_embed = backend.embed

    def embed(batch):
        ahead.append(pulled - sum(len(call) for call in backend.calls))
        return original_embed(batch)

    backend.embed = embed
    encoder = fake_encoder(tmp_path, backend, cache=None, chunk_size=100, batch_size=25)
    vectors = encoder.encode_passages(texts())
    assert vectors.shape == (1000, 8)
    assert max(ahead) <= 100  # never more than one chunk read ahead of the model
    np.testing.assert_array_equal(
        vectors, fake_encoder(tmp_path, cache=None).encode_passages([f"句子{n}" for n in range(1000)])
    )
    chunks = list(encoder.iter_encode((f"句子{n}" for n in range(250)), role="passage"))
    assert [len(chunk) for chunk in chunks] == [100, 100, 50]


def test_empty_input_and_single_string(tmp_path):
    encoder = fake_encoder(tmp_path)
    assert encoder.encode_passages([]).shape == (0, 8)
    assert encoder.encode_passages(iter([])).shape == (0, 8)
    assert encoder.encode_queries("课后服务").shape == (1, 8)


def test_bad_input_is_a_one_line_error(tmp_path):
    encoder = fake_encoder(tmp_path)
    with pytest.raises(InvalidArgument, match="item 1 is int"):
        encoder.encode_passages(["甲", 3])
    with pytest.raises(InvalidArgument, match="batch size"):
        fake_encoder(tmp_path, batch_size=0)


def test_backend_returning_wrong_shape_is_a_model_error(tmp_path):
    class Broken(FakeBackend):
        def embed(self, texts):
            return np.zeros((len(texts), 3), dtype=np.float32)

    with pytest.raises(ModelError, match="returned shape"):
        fake_encoder(tmp_path, Broken()).encode_passages(["甲"])


def test_cache_is_wal_and_readable_while_written(tmp_path):
    encoder = fake_encoder(tmp_path, batch_size=4)
    encoder.encode_passages(TEXTS[:8])
    reader = sqlite3.connect(tmp_path / "cache.sqlite")
    assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 8
    encoder.encode_passages(TEXTS[8:16])  # a writer is not blocked by an open read transaction
    assert reader.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 8  # snapshot isolation
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 16
    blob = reader.execute("SELECT vector FROM embeddings LIMIT 1").fetchone()[0]
    assert len(blob) == 8 * 4  # float32


def test_damaged_or_newer_cache_is_a_store_error(tmp_path):
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="cannot open the embedding cache"):
        fake_encoder(tmp_path, cache="junk.sqlite")
    db = sqlite3.connect(tmp_path / "new.sqlite")
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(StoreError, match="newer semplan"):
        fake_encoder(tmp_path, cache="new.sqlite")


def test_default_cache_path_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMPLAN_CACHE_DIR", str(tmp_path / "c"))
    encoder = Encoder(model=FAKE_SPEC, backend=FakeBackend(), progress=False)
    assert encoder.cache_path == tmp_path / "c" / "embeddings.sqlite"
    encoder.encode_passages(["甲"])
    assert encoder.cache_path.exists()


def test_progress_hears_every_text_and_nothing_is_printed(tmp_path, capsys, recording_progress):
    progress = recording_progress
    encoder = fake_encoder(tmp_path, progress=progress)
    encoder.encode_passages(TEXTS)
    encoder.encode_passages(TEXTS[:4])  # from the cache this time: still counted
    stages = [event for event in progress.events if event[0] == "stage"]
    assert stages == [("stage", "encode", len(TEXTS), "texts"), ("stage", "encode", 4, "texts")]
    advanced = [event[1] for event in progress.events if event[0] == "advance"]
    assert sum(advanced) == len(TEXTS) + 4
    assert capsys.readouterr() == ("", "")  # the library draws no bar of its own
    Encoder(model=FAKE_SPEC, backend=FakeBackend(), cache_path=None, progress=False).encode_passages(TEXTS)
    assert capsys.readouterr() == ("", "")


def test_identity_names_everything_an_index_must_match(tmp_path):
    identity = fake_encoder(tmp_path).identity()
    assert identity == {
        "model": "fake-model",
        "kind": "sentence-transformers",
        "revision": "rev-1",
        "backend": "fake",
        "dims": 8,
        "prompts": {"passage": "passage: ", "query": "query: ", "clause": "passage: "},
    }


def test_for_index_uses_the_indexs_backend_or_an_installed_one(monkeypatch, tmp_path):
    loaded = []

    def load(spec, backend):
        loaded.append(backend)
        if backend == "onnx-int8":
            raise ModelError("backend 'onnx-int8' is not available")
        return FakeBackend(name="torch")

    monkeypatch.setattr("semplan.encode.resolve_model", lambda name: FAKE_SPEC)
    monkeypatch.setattr("semplan.encode.load_backend", load)
    identity = {**fake_encoder(tmp_path).identity(), "backend": "onnx-int8"}
    encoder = Encoder.for_index(identity, cache_path=None)
    assert loaded == ["onnx-int8", "auto"] and encoder.backend_name == "torch"
    with pytest.raises(ModelError, match="not available"):
        Encoder.for_index(identity, "onnx-int8", cache_path=None)  # a backend asked for is never swapped
    assert Encoder.for_index(identity, "torch", cache_path=None).backend_name == "torch"
    with pytest.raises(
        ModelMismatch, match=r"^index out/x was built with fake-model@rev-0, but fake-model is now fake-model@rev-1; "
        r"re-create it: semplan index PLAN_FILES --out NEW_INDEX$",
    ):
        Encoder.for_index({**identity, "revision": "rev-0"}, index="out/x", cache_path=None)


def test_embed_takes_clauses_or_strings(tmp_path):
    class Clause:
        def __init__(self, match_text):
            self.match_text = match_text

    encoder = fake_encoder(tmp_path)
    from_clauses = embed([Clause(text) for text in TEXTS[:3]], encoder=encoder)
    from_stream = embed((Clause(text) for text in TEXTS[:3]), encoder=encoder)
    np.testing.assert_array_equal(from_clauses, encoder.encode_passages(TEXTS[:3]))
    np.testing.assert_array_equal(from_stream, from_clauses)
    # The package exports the function; semplan.encode stays the module.
    np.testing.assert_array_equal(semplan.embed(TEXTS[:3], encoder=encoder), from_clauses)
    assert semplan.Encoder is Encoder and semplan.encode.Encoder is Encoder and semplan.embed is embed


def test_load_backend_auto_falls_back_to_torch_with_one_line(monkeypatch, caplog):
    import semplan.backends as backends

    monkeypatch.setattr(backends, "_onnx_module", lambda: None)
    monkeypatch.setattr(backends, "cpu_flags", lambda: frozenset({"avx2"}))  # no VNNI: openvino-int8 not tried
    monkeypatch.setattr(backends, "_fallback_noticed", False)
    monkeypatch.setattr(backends, "_load_torch", lambda spec: FakeBackend(name="torch"))
    with caplog.at_level(logging.WARNING, logger="semplan.backends"):
        assert backends.load_backend(FAKE_SPEC, "auto").name == "torch"
        assert backends.load_backend(FAKE_SPEC, "auto").name == "torch"
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0] and "torch" in warnings[0]
    with pytest.raises(ModelError, match="not available"):
        backends.load_backend(FAKE_SPEC, "onnx-int8")
    with pytest.raises(ModelError, match="unknown backend"):
        backends.load_backend(FAKE_SPEC, "tensorflow")
    with pytest.raises(ModelError, match="only the use-multilingual"):
        backends.load_backend(FAKE_SPEC, "use")


def test_load_backend_auto_prefers_onnx_int8(monkeypatch):
    import types

    import semplan.backends as backends

    fake_onnx = types.SimpleNamespace(
        available=lambda: True,
        load=lambda spec, quantized: FakeBackend(name="onnx-int8" if quantized else "onnx"),
    )
    monkeypatch.setattr(backends, "_onnx_module", lambda: fake_onnx)
    monkeypatch.setattr(backends, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert backends.auto_backend_name(FAKE_SPEC) == "onnx-int8"
    assert backends.load_backend(FAKE_SPEC, "auto").name == "onnx-int8"
    assert backends.load_backend(FAKE_SPEC, "onnx").name == "onnx"


def test_load_backend_auto_prefers_openvino_int8_on_vnni_and_falls_back(monkeypatch, caplog):
    import types

    import semplan.backends as backends

    fake_onnx = types.SimpleNamespace(available=lambda: True, load=lambda spec, quantized: FakeBackend(name="onnx-int8"))
    fake_openvino = types.SimpleNamespace(available=lambda: True, load=lambda spec: FakeBackend(name="openvino-int8"))
    monkeypatch.setattr(backends, "_onnx_module", lambda: fake_onnx)
    monkeypatch.setattr(backends, "_optional_module", lambda name: fake_openvino)
    monkeypatch.setattr(backends, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_vnni"}))
    assert backends.auto_backend_name(FAKE_SPEC) == "openvino-int8"
    encoder = Encoder(model=FAKE_SPEC, backend="auto", cache_path=None, progress=False)
    # the choice is the backend's name: it is in the identity an index stores and in the cache key
    assert encoder.identity()["backend"] == "openvino-int8"
    monkeypatch.setattr(backends, "cpu_flags", lambda: frozenset({"avx2"}))
    assert backends.load_backend(FAKE_SPEC, "auto").name == "onnx-int8"

    def cannot_load(spec):
        raise ModelError("no calibration set")

    monkeypatch.setattr(backends, "cpu_flags", lambda: frozenset({"avx512_vnni"}))
    monkeypatch.setattr(fake_openvino, "load", cannot_load)
    monkeypatch.setattr(backends, "_openvino_fallback_noticed", False)
    with caplog.at_level(logging.WARNING, logger="semplan.backends"):
        assert backends.load_backend(FAKE_SPEC, "auto").name == "onnx-int8"
    assert [record.getMessage() for record in caplog.records] == [
        "openvino-int8 cannot load fake-model (no calibration set); trying onnx-int8"
    ]


def test_hub_id_offline_is_a_one_line_model_error(monkeypatch):
    from semplan.backends import torch_st

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ModelSpec(
        name="someone/not-a-local-model",
        kind="sentence-transformers",
        location="someone/not-a-local-model",
        revision="",
        dims=None,
    )
    with pytest.raises(ModelError, match="not on disk and the model hub is offline") as raised:
        torch_st.load(spec)
    assert "\n" not in str(raised.value)


# -- the real default model (the session's e5_encoder) ------------------------------------------------


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


TWINS = [
    ("實施『安吉游戲』推廣計劃", "实施“安吉游戏”推广计划"),
    ("加強教師隊伍建設，提升教師專業素質", "加强教师队伍建设，提升教师专业素质"),
]


@pytest.mark.parametrize(("traditional", "simplified"), TWINS)
def test_traditional_clause_and_its_simplified_twin_agree(e5_encoder, traditional, simplified):
    raw = e5_encoder.encode_passages([traditional, simplified])
    assert cosine(raw[0], raw[1]) >= 0.95
    normalize = pytest.importorskip("semplan.normalize")
    matched = e5_encoder.encode_passages(
        [normalize.matching_text(traditional), normalize.matching_text(simplified)]
    )
    assert cosine(matched[0], matched[1]) >= 0.95


def test_second_encode_of_the_sample_corpus_makes_no_model_calls(e5_encoder, sample_clauses, tmp_path):
    texts = [clause.match_text for clause in sample_clauses]
    first = e5_encoder.encode_passages(texts)
    assert first.shape == (len(texts), 384) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    calls = e5_encoder.texts_encoded
    np.testing.assert_array_equal(e5_encoder.encode_passages(texts), first)
    assert e5_encoder.texts_encoded == calls
    # semplan.embed encodes clauses in the clause role: once, then from the cache.
    as_clauses = semplan.embed(sample_clauses, encoder=e5_encoder)
    calls = e5_encoder.texts_encoded
    np.testing.assert_array_equal(semplan.embed(sample_clauses, encoder=e5_encoder), as_clauses)
    np.testing.assert_array_equal(e5_encoder.encode_clauses(texts), as_clauses)
    assert e5_encoder.texts_encoded == calls
    # The same texts as queries carry another prompt: another key, new model calls, other vectors.
    private = Encoder(model=e5_encoder.spec, backend=e5_encoder.backend, cache_path=tmp_path / "c.sqlite")
    private.encode_passages(texts[:3])
    queries = private.encode_queries(texts[:3])
    assert private.texts_encoded == 6
    assert all(cosine(query, passage) < 0.9999 for query, passage in zip(queries, first[:3], strict=True))


# Run as a subprocess and killed half-way: encodes texts from a JSON file with a fresh cache.
ENCODE_SCRIPT = """
import json, sys
from semplan.encode import Encoder
cache_path, texts_path, backend = sys.argv[1:4]
texts = json.loads(open(texts_path, encoding="utf-8").read())
Encoder(cache_path=cache_path, backend=backend, batch_size=8, progress=False).encode_passages(texts)
"""


def cache_rows(path: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:  # not created or not migrated yet
        return 0


def test_killed_encode_resumes_with_identical_vectors(e5_encoder, sample_clauses, tmp_path):
    # 48 clauses (6 batches) of one sample plan keep this test short; the mechanism does not depend on size.
    texts = [clause.match_text for clause in sample_clauses if clause.plan_id == "daqing-2021"][:48]
    assert len(set(texts)) == len(texts) == 48
    texts_path = tmp_path / "texts.json"
    texts_path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    cache_path = tmp_path / "cache.sqlite"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    # The child stops right after committing its second batch and is killed there.
    kill_at_fault_point(
        [sys.executable, "-c", ENCODE_SCRIPT, str(cache_path), str(texts_path), e5_encoder.backend_name],
        "embedding-cache-committed:2", tmp_path / "fault-reached", env,
    )
    committed = cache_rows(cache_path)
    assert committed == 16  # exactly the two whole batches committed before the kill

    resumed_encoder = Encoder(
        model=e5_encoder.spec, backend=e5_encoder.backend, cache_path=cache_path, batch_size=8, progress=False
    )
    resumed = resumed_encoder.encode_passages(texts)
    assert resumed_encoder.texts_encoded == len(texts) - committed
    uninterrupted = Encoder(
        model=e5_encoder.spec, backend=e5_encoder.backend, cache_path=None, batch_size=8, progress=False
    ).encode_passages(texts)
    np.testing.assert_array_equal(resumed, uninterrupted)


def test_use_backend_encodes_when_built(tmp_path):
    from semplan.models import resolve_model

    try:
        spec = resolve_model("use-multilingual")
    except ModelError as error:
        pytest.skip(f"use-multilingual not available: {error}")
    encoder = Encoder(model=spec, cache_path=tmp_path / "cache.sqlite", progress=False)
    assert encoder.backend_name == "use" and encoder.dims == 512
    vectors = encoder.encode_passages(
        ["推进学前教育普惠发展", "推动学前教育普及普惠", "加强校园食品安全管理"]
    )
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    encoder.encode_passages(["推进学前教育普惠发展"])
    assert encoder.texts_encoded == 3


def test_read_only_cache_is_a_store_error(tmp_path):
    fake_encoder(tmp_path).encode_passages(["甲"])
    encoder = fake_encoder(tmp_path)
    encoder.cache._db.execute("PRAGMA query_only=1")  # as a read-only file would behave
    np.testing.assert_array_equal(
        encoder.encode_passages(["甲"]), fake_encoder(tmp_path).encode_passages(["甲"])
    )
    with pytest.raises(StoreError, match="embedding cache .*readonly|read-only|query_only"):
        encoder.encode_passages(["乙"])


def test_hub_id_with_unreachable_hub_fails_fast(monkeypatch):
    from semplan.backends import torch_st

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused
    spec = ModelSpec(
        name="someone/not-a-local-model",
        kind="sentence-transformers",
        location="someone/not-a-local-model",
        revision="main",
        dims=None,
    )
    # Fast means: no download is attempted (its retries are what take minutes), whatever the clock says.
    def download(*args, **kwargs):
        raise AssertionError("a download was attempted although the hub is unreachable")

    monkeypatch.setattr(torch_st, "_load_or_explain", download)
    with pytest.raises(
        ModelError, match=r"not on disk and the model hub is unreachable from here \(http://127"
    ):
        torch_st.load(spec)


def test_torch_reference_backend_agrees_with_the_default(e5_encoder, sample_clauses):
    torch_encoder = Encoder(model=e5_encoder.spec, backend="torch", cache_path=None, progress=False)
    assert torch_encoder.backend_name == "torch"
    texts = [clause.match_text for clause in sample_clauses[::40]] + [twin for pair in TWINS for twin in pair]
    reference = torch_encoder.encode_passages(texts)
    np.testing.assert_allclose(np.linalg.norm(reference, axis=1), 1.0, rtol=1e-5)
    assert cosine(reference[-4], reference[-3]) >= 0.95
    default = e5_encoder.encode_passages(texts)
    agreement = np.sum(reference * default, axis=1)
    assert agreement.min() >= 0.97, (e5_encoder.backend_name, agreement.min())
