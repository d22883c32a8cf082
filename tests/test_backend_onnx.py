"""The onnxruntime backends against the torch fp32 reference, with the real default model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from semplan.errors import ModelError

onnx_backend = pytest.importorskip("semplan.backends.onnx")

if not onnx_backend.available():  # pragma: no cover - onnxruntime is a dependency
    pytest.skip("onnxruntime is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def spec():
    from semplan.models import DEFAULT_MODEL, resolve_model

    try:
        return resolve_model(DEFAULT_MODEL)
    except ModelError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def texts(sample_clauses) -> list[str]:
    """Every 6th sample clause and the 4 longest: ~100 texts, all clause kinds, the longest inputs."""
    longest = sorted(sample_clauses, key=lambda clause: len(clause.match_text))[-4:]
    chosen = sample_clauses[::6] + longest
    return ["passage: " + clause.match_text for clause in chosen]


@pytest.fixture(scope="module")
def reference(spec, texts) -> np.ndarray:
    from semplan.backends import load_backend

    return load_backend(spec, "torch").embed(texts)


@pytest.fixture(scope="module")
def int8(spec):
    return onnx_backend.load(spec, quantized=True)


def test_int8_agrees_with_torch_fp32(int8, texts, reference):
    vectors = int8.embed(texts)
    assert int8.name == "onnx-int8"
    assert vectors.shape == (len(texts), int8.dims) == reference.shape
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * reference).sum(axis=1)
    assert cosine.mean() >= 0.99, cosine.mean()
    assert cosine.min() >= 0.97, cosine.min()


def test_fp32_export_matches_torch(spec, texts, reference):
    fp32 = onnx_backend.load(spec, quantized=False)
    assert fp32.name == "onnx"
    cosine = (fp32.embed(texts[:24]) * reference[:24]).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine.min()


def test_export_is_reused(spec, monkeypatch):
    exported = onnx_backend.ensure_export(spec, quantized=True)
    before = exported.stat().st_mtime_ns

    def must_not_run(*args, **kwargs):
        raise AssertionError("the second load exported again")

    monkeypatch.setattr(onnx_backend, "export_fp32", must_not_run)
    monkeypatch.setattr(onnx_backend, "quantize_int8", must_not_run)
    backend = onnx_backend.load(spec, quantized=True)
    assert backend.embed(["passage: 加强教师队伍建设。"]).shape == (1, backend.dims)
    assert exported.stat().st_mtime_ns == before
    assert not list(exported.parent.glob(".*.tmp")), "a scratch file was left behind"


def test_export_is_keyed_to_revision_and_recipe(spec):
    here = onnx_backend.export_dir(spec)
    assert here.name == f"{spec.revision}-v{onnx_backend.EXPORT_FORMAT}"
    other = onnx_backend.export_dir(dataclasses.replace(spec, revision="0123456789ab"))
    assert other != here


def test_rows_keep_input_order_and_empty_input(int8):
    texts = ["passage: " + "推进义务教育优质均衡发展," * 6, "query: 双减", "passage: 加强师德师风建设。"]
    together = int8.embed(texts)
    alone = np.vstack([int8.embed([text]) for text in texts])
    # Each text runs alone, so its activation scales are its own: the same bits in any company.
    np.testing.assert_array_equal(together, alone)
    assert int8.embed([]).shape == (0, int8.dims)


def test_long_text_is_truncated_not_rejected(int8):
    long_text = "passage: " + "全面贯彻党的教育方针,落实立德树人根本任务。" * 80
    vector = int8.embed([long_text, long_text + "以及后面被截断的内容"])
    assert vector.shape == (2, int8.dims)
    # Both hit the token cap, so everything past it is ignored.
    assert float(vector[0] @ vector[1]) > 0.9999


def test_model_not_on_disk_is_one_line_error(spec):
    hub_only = dataclasses.replace(spec, name="org/not-here", location="org/not-here")
    with pytest.raises(ModelError) as error:
        onnx_backend.load(hub_only, quantized=True)
    assert "\n" not in str(error.value)
    assert "--backend torch" in str(error.value)


def test_load_backend_routes_to_onnx(spec):
    from semplan.backends import auto_backend_name, load_backend

    assert load_backend(spec, "onnx-int8").name == "onnx-int8"
    # openvino-int8 on a CPU with VNNI when openvino is installed, else onnx-int8
    assert load_backend(spec, "auto").name == auto_backend_name(spec)


def test_benchmark_guard_compares_with_the_committed_figure_of_the_same_cpu_kind(tmp_path):
    from benchmarks.encode import check, committed_ratio

    committed = tmp_path / "baseline.json"
    committed.write_text(
        '{"encode": {"by_cpu_kind": {"avx2": {"quick_ratio_to_baseline": 2.4}, "vnni": {"quick_ratio_to_baseline": 4.0}}}}',
        encoding="utf-8",
    )

    def records(ratio: float, cosine: float) -> list[dict]:
        return [{"engine": "auto", "backend": "onnx-int8", "ratio_to_baseline": ratio, "mean_cosine_to_fp32": cosine}]

    assert check(records(2.9, 0.996), committed, "vnni") is None  # 2.9 >= 0.7 × 4.0
    # the same ratio on a VNNI CPU fails where it passes on an AVX2 one: a fast CPU hides no regression
    assert "on a vnni CPU, below 70% of the committed 4.00x (2.80x)" in check(records(2.7, 0.996), committed, "vnni")
    assert check(records(2.7, 0.996), committed, "avx2") is None
    assert "below 70% of the committed 2.40x" in check(records(1.6, 0.996), committed, "avx2")
    # a CPU kind with no committed figure is reported by the caller, never failed
    assert check(records(0.5, 0.996), committed, "other") is None and committed_ratio(committed, "other") is None
    assert committed_ratio(committed, "vnni") == 4.0
    assert "below 0.99" in check(records(3.0, 0.98), committed, "other")
    assert "cannot read" in check(records(3.0, 0.996), tmp_path / "missing.json", "avx2")


def test_committed_baseline_has_a_figure_per_cpu_kind():
    import json
    from pathlib import Path

    committed = json.loads((Path(__file__).resolve().parent.parent / "benchmarks" / "baseline.json").read_text())
    kinds = committed["encode"]["by_cpu_kind"]
    assert set(kinds) <= {"avx2", "vnni", "other"} and "avx2" in kinds
    assert all(float(figures["quick_ratio_to_baseline"]) > 1 for figures in kinds.values())
