"""Batch-independent int8: the same text gets the same vector in any batch; openvino-int8 against torch fp32.

Uses the real default model. The openvino-int8 tests run where openvino is installed (`semplan[openvino]`,
part of the dev extra), whatever the CPU: "auto" only prefers it on CPUs with VNNI.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from semplan.errors import ModelError

REPO = Path(__file__).resolve().parent.parent
CALIBRATION = REPO / "semplan" / "data" / "calibration" / "clauses.txt"
CALIBRATION_RECIPE = REPO / "tests" / "data" / "calibration" / "make.py"


@pytest.fixture(scope="module")
def spec():
    from semplan.models import DEFAULT_MODEL, resolve_model

    try:
        return resolve_model(DEFAULT_MODEL)
    except ModelError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def openvino_backend(spec):
    from semplan.backends import openvino

    if not openvino.available():
        pytest.skip("openvino is not installed (pip install 'semplan[openvino]')")
    return openvino.load(spec)


@pytest.fixture(scope="module")
def all_texts(sample_clauses) -> list[str]:
    """Every sample clause, prompted as a passage."""
    return ["passage: " + clause.match_text for clause in sample_clauses]


@pytest.fixture(scope="module")
def reference(spec, all_texts) -> np.ndarray:
    from semplan.backends import load_backend

    torch = load_backend(spec, "torch")
    return np.vstack([torch.embed(all_texts[start : start + 64]) for start in range(0, len(all_texts), 64)])


def test_openvino_int8_agrees_with_torch_fp32_on_every_sample_clause(openvino_backend, all_texts, reference):
    vectors = openvino_backend.embed(all_texts)
    assert openvino_backend.name == "openvino-int8"
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * reference).sum(axis=1)
    assert cosine.mean() >= 0.995, cosine.mean()
    assert cosine.min() >= 0.98, cosine.min()


def batchings(count: int, seed: int) -> list[list[list[int]]]:
    """Ways of cutting rows 0..count-1 into calls: length order in 16s, shuffled 7s, reversed singles, one call."""
    shuffled = np.random.default_rng(seed).permutation(count).tolist()
    return [
        [list(range(start, min(start + 16, count))) for start in range(0, count, 16)],
        [shuffled[start : start + 7] for start in range(0, count, 7)],
        [[row] for row in reversed(range(count))],
        [shuffled],
    ]


@pytest.mark.parametrize("backend_name", ["openvino-int8", "onnx-int8"])
def test_int8_vectors_do_not_depend_on_batch_mates(spec, all_texts, backend_name):
    from semplan.backends import load_backend

    if backend_name == "openvino-int8":
        from semplan.backends import openvino

        if not openvino.available():
            pytest.skip("openvino is not installed")
    backend = load_backend(spec, backend_name)
    # short, median and long texts, sorted by length as the Encoder would send them
    texts = sorted(all_texts[::9] + sorted(all_texts, key=len)[-3:], key=len)
    results = []
    for calls in batchings(len(texts), seed=len(texts)):
        vectors = np.zeros((len(texts), backend.dims), dtype=np.float32)
        for rows in calls:
            vectors[rows] = backend.embed([texts[row] for row in rows])
        results.append(vectors)
    for other in results[1:]:
        assert np.abs(other - results[0]).max() < 1e-6
        np.testing.assert_array_equal(other, results[0])


def test_default_encoder_is_batch_independent(spec, sample_clauses):
    """Through the Encoder, as an index, a resumed run or a worker would use it: batch sizes and orders."""
    from semplan.encode import Encoder

    texts = [clause.match_text for clause in sample_clauses[::7]]
    encoder = Encoder(backend="auto", cache_path=None, progress=False)
    first = encoder.encode_clauses(texts)
    encoder.batch_size = 5
    reordered = encoder.encode_clauses(texts[::-1])[::-1]
    encoder.batch_size = 1
    mixed = encoder.encode_clauses(texts[: len(texts) // 2] + ["在全市推开课后服务。"] * 3)
    np.testing.assert_array_equal(reordered, first)
    np.testing.assert_array_equal(mixed[: len(texts) // 2], first[: len(texts) // 2])


def test_padded_width_depends_on_the_text_alone():
    from semplan.backends.openvino import padded_width

    widths = [padded_width(tokens) for tokens in range(1, 513)]
    assert all(width >= tokens for tokens, width in zip(range(1, 513), widths, strict=True))
    assert widths == sorted(widths)
    assert padded_width(30) == 32 and padded_width(64) == 64 and padded_width(65) == 80 and padded_width(129) == 160
    # from 32 tokens on, padding stays under a quarter of the text (below that, under 8 tokens)
    assert all((width - tokens) / tokens < 0.25 for tokens, width in zip(range(32, 513), widths[31:], strict=True))
    assert all(width - tokens < 8 for tokens, width in zip(range(1, 33), widths[:32], strict=True))


def test_openvino_export_is_reused_and_keyed(spec, openvino_backend, monkeypatch):
    from semplan.backends import openvino

    export = openvino.ensure_export(spec)
    before = (export / openvino.GRAPH_FILE).stat().st_mtime_ns

    def must_not_run(*args, **kwargs):
        raise AssertionError("the second load exported again")

    monkeypatch.setattr(openvino, "export_int8", must_not_run)
    assert openvino.load(spec).embed(["passage: 加强教师队伍建设。"]).shape == (1, 384)
    assert (export / openvino.GRAPH_FILE).stat().st_mtime_ns == before
    assert export.name.startswith(f"{spec.revision}-v{openvino.EXPORT_FORMAT}-")
    assert openvino.export_dir(dataclasses.replace(spec, revision="0123456789ab")) != export
    assert not list(export.parent.glob(f".{export.name}.*.build")), "a staging directory was left behind"


def test_openvino_model_not_on_disk_is_one_line_error(spec):
    from semplan.backends import openvino

    if not openvino.available():
        pytest.skip("openvino is not installed")
    with pytest.raises(ModelError) as error:
        openvino.load(dataclasses.replace(spec, name="org/not-here", location="org/not-here"))
    assert "\n" not in str(error.value) and "--backend torch" in str(error.value)


def test_calibration_set_is_public_reports_not_evaluation_data(sample_clauses, dev_gold):
    calibration = set(CALIBRATION.read_text(encoding="utf-8").splitlines())
    assert 250 <= len(calibration) <= 400
    evaluation = {clause.match_text for clause in sample_clauses}
    evaluation |= {clause.text for clause in sample_clauses}
    assert not calibration & evaluation
    data = REPO / "tests" / "data"
    held_out = json.dumps(dev_gold, ensure_ascii=False)
    for path in [*(data / "pairs").rglob("*"), *(data / "queries").rglob("*"), data / "sts-sample.tsv",
                 data / "clustering-sample.tsv"]:
        if path.is_file():
            held_out += path.read_text(encoding="utf-8", errors="replace")
    assert not [text for text in calibration if len(text) > 12 and text in held_out]


def test_calibration_set_is_fixed_and_drawn_from_its_sources():
    """The set is data, kept as committed: re-running make.py with a later segmenter would draw other
    clauses and move every activation scale (and so every vector's identity). What must hold is
    that each clause comes from the recipe's source documents."""
    import importlib.util

    recipe = importlib.util.spec_from_file_location("calibration_make", CALIBRATION_RECIPE)
    module = importlib.util.module_from_spec(recipe)
    recipe.loader.exec_module(module)
    texts = CALIBRATION.read_text(encoding="utf-8").splitlines()
    assert len(texts) == module.PER_DOCUMENT * len(module.SOURCES)
    from semplan.normalize import matching_text

    sources = "".join(matching_text(path.read_text(encoding="utf-8")) for path in module.SOURCES)
    squeezed = "".join(sources.split())
    missing = [text for text in texts if "".join(text.split()) not in squeezed]
    assert len(missing) <= len(texts) // 20, missing[:3]


def test_installed_wheel_carries_the_calibration_set(tmp_path):
    """openvino-int8 makes its export from the calibration set on first use: an installed wheel, without
    the repository's tests/, must have it (it used to live under tests/data/ and was not in the wheel)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "semplan", source / "semplan", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-500:]
    wheel = next((tmp_path / "dist").glob("semplan-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        assert "semplan/data/calibration/clauses.txt" in archive.namelist()
        assert "semplan/data/calibration/SOURCES.md" in archive.namelist()
    target = tmp_path / "installed"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-500:]
    probe = (
        "import semplan.backends.openvino as ov; "
        "assert ov.CALIBRATION_FILE.is_relative_to(ov.Path(ov.__file__).parents[1]), ov.CALIBRATION_FILE; "
        "print(len(ov.calibration_texts()), ov.__file__)"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target)},
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr[-500:]
    count, module = answer.stdout.split()
    assert Path(module).is_relative_to(target)
    assert int(count) == len(CALIBRATION.read_text(encoding="utf-8").splitlines())
