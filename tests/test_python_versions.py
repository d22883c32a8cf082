"""The quick subset `scripts/test-python-version 3.12` runs on newer Pythons (and the main suite on 3.11):
import everything, segment, encode with the built model, index and search the sample plans."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_runner import semplan

PACKAGE = Path(__file__).resolve().parent.parent / "semplan"


def test_every_module_imports():
    names = sorted(
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in PACKAGE.rglob("*.py")
        if path.name != "__main__.py"  # importing it runs the command line
    )
    for name in names:
        importlib.import_module(name)
    assert sys.version_info[:2] >= (3, 11)


def test_encode_index_and_search_the_sample(tmp_path, sample_clauses, sample_dir, e5_encoder, monkeypatch):
    from semplan.ingest import index_paths
    from semplan.search import Searcher
    from semplan.store import Corpus

    vectors = e5_encoder.encode_clauses([clause.match_text for clause in sample_clauses[:8]])
    assert vectors.shape == (8, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    with Corpus.create(tmp_path / "index", e5_encoder.identity()) as corpus:
        report = index_paths(corpus, [sample_dir], encoder=e5_encoder)
        assert len(report.added) == 5 and report.clauses_written == len(corpus)
        hits = Searcher(corpus, e5_encoder).by_text("课后服务", k=3)
        assert len(hits) == 3 and hits[0].score > 0.85
    monkeypatch.setenv("SEMPLAN_CACHE_DIR", str(Path(e5_encoder.cache_path).parent))
    code, out, err = semplan("similar", "课后服务", "--index", str(tmp_path / "index"), "-k", "2", "--json")
    assert code == 0, err
    assert out.count('"clause_id"') == 2


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_requires_python_admits(version):
    import tomllib

    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert f"{version}.0" in SpecifierSet(project["requires-python"])
