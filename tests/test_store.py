"""Storage, ingestion and search logic (semplan.store, .ingest, .search) with a deterministic fake backend (fast, no model).

End-to-end tests with the real model are in tests/test_search.py and tests/test_cli_index.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semplan.errors import ClauseNotFound, InvalidArgument, LockBusy, ModelMismatch, PlanNotFound, StoreError
from semplan.ingest import index_documents
from semplan.models import ModelSpec
from semplan.read import Document
from semplan.search import PlanFilter, Searcher
from semplan.segment import Clause
from semplan.store import (
    MANIFEST,
    MIGRATIONS,
    Corpus,
    build_faiss_index,
    choose_index_kind,
    faiss_search,
)

DIMS = 32


class BigramBackend:
    """Hashes character bigrams into DIMS buckets: similar strings get similar unit vectors."""

    name = "fake-bigram"
    dims = DIMS

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        for row, text in enumerate(texts):
            text = text.split(": ", 1)[-1]  # drop the prompt
            for i in range(max(1, len(text) - 1)):
                bucket = int(hashlib.md5(text[i : i + 2].encode()).hexdigest(), 16) % DIMS
                out[row, bucket] += 1
        out += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def fake_encoder(revision: str = "rev-1"):
    from semplan.encode import Encoder

    spec = ModelSpec(
        name="fake-model",
        kind="sentence-transformers",
        location="",
        revision=revision,
        dims=DIMS,
        prompts={"query": "query: ", "passage": "passage: "},
    )
    return Encoder(spec, backend=BigramBackend(), cache_path=None, progress=False)


def split_sentences(document: Document) -> list[Clause]:
    """A stand-in segmenter: one clause per `。`-terminated sentence, with exact spans."""
    clauses = []
    for n, match in enumerate(re.finditer(r"[^。\n]+。?", document.text), start=1):
        text = match.group()
        clauses.append(
            Clause(
                plan_id=document.plan_id,
                n=n,
                kind="sentence",
                text=text,
                match_text=text.strip(),
                spans=((match.start(), match.end()),),
                section_number=1,
                section_title="总体要求",
            )
        )
    return clauses


def document(plan_id: str, text: str) -> Document:
    return Document(plan_id, None, text, hashlib.sha256(text.encode()).hexdigest(), "utf-8")


PLANS = {
    "alpha": "实施安吉游戏推广计划。加强校外培训机构治理。健全近视防控体系。",
    "beta": "推进安吉游戏推广工作。规范校外培训机构。开展劳动教育。",
    "gamma": "加快标准化考场建设。落实课后服务经费保障。",
}


def add(corpus: Corpus, encoder, documents):
    return index_documents(corpus, documents, encoder=encoder, segmenter=split_sentences)


@pytest.fixture
def encoder():
    return fake_encoder()


@pytest.fixture
def corpus(tmp_path, encoder):
    corpus = Corpus.create(tmp_path / "index", encoder.identity())
    add(corpus, encoder, (document(p, t) for p, t in PLANS.items()))
    yield corpus
    corpus.close()


def test_round_trip(corpus, tmp_path):
    reopened = Corpus.open(tmp_path / "index", model_identity=fake_encoder().identity())
    assert [plan.plan_id for plan in reopened.plans()] == ["alpha", "beta", "gamma"]
    assert [plan.n_clauses for plan in reopened.plans()] == [3, 3, 2]
    clauses = reopened.clauses()
    assert [c.clause_id for c in clauses][:3] == ["alpha#1", "alpha#2", "alpha#3"]
    expected = split_sentences(document("beta", PLANS["beta"]))
    assert reopened.clauses("beta") == expected
    for clause in clauses:
        source = reopened.source_text(clause.plan_id)
        assert "".join(source[s:e] for s, e in clause.spans) == clause.text
    vectors = reopened.vectors()
    assert vectors.shape == (8, DIMS) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    direct = fake_encoder().encode_passages([c.match_text for c in clauses])
    np.testing.assert_allclose(vectors, direct, atol=1e-6)
    np.testing.assert_allclose(reopened.vectors(["gamma#2", "alpha#1"]), direct[[7, 0]], atol=1e-6)
    manifest = json.loads((tmp_path / "index" / MANIFEST).read_text())
    assert manifest["format_version"] == 1
    assert manifest["model"]["revision"] == "rev-1" and manifest["dims"] == DIMS
    assert manifest["counts"] == {"plans": 3, "clauses": 8}
    assert manifest["index"]["kind"] == "flat"
    assert (tmp_path / "index" / manifest["index"]["file"]).exists()
    reopened.close()


def test_incremental_add_encodes_only_new_texts(corpus, encoder):
    calls = encoder.texts_encoded
    report = add(corpus, encoder, (document(p, t) for p, t in PLANS.items()))
    assert report.unchanged == ["alpha", "beta", "gamma"] and encoder.texts_encoded == calls
    # A sixth-plan-like copy: two sentences shared with alpha, one new.
    report = add(corpus, encoder, [document("delta", "实施安吉游戏推广计划。健全近视防控体系。建设智慧校园。")])
    assert report.added == ["delta"] and report.vectors_reused == 2 and report.texts_encoded == 1
    assert encoder.texts_encoded == calls + 1
    # A changed file replaces its plan's clauses.
    report = add(corpus, encoder, [document("gamma", "加快标准化考场建设。新增一条。")])
    assert report.replaced == ["gamma"] and encoder.texts_encoded == calls + 2
    assert [c.text for c in corpus.clauses("gamma")] == ["加快标准化考场建设。", "新增一条。"]
    assert len(corpus) == len(corpus.clauses()) == 11
    assert corpus.faiss_index().ntotal == 11


def test_remove(corpus):
    corpus.remove("beta")
    assert [plan.plan_id for plan in corpus.plans()] == ["alpha", "gamma"]
    hits = corpus.search_vectors(corpus.vectors(["alpha#1"]), k=10)[0]
    assert len(hits) == 5
    with pytest.raises(PlanNotFound, match=r"^unknown plan 'beta' \(the index has: alpha, gamma\)$"):
        corpus.remove("beta")


def test_errors(corpus, tmp_path):
    with pytest.raises(InvalidArgument, match=r"^bad clause id 'alpha-1': expected PLAN#N, e.g. daqing-2021#12$"):
        corpus.clause("alpha-1")
    with pytest.raises(ClauseNotFound, match=r"^no clause 'alpha#9': plan 'alpha' has clauses 1–3$"):
        corpus.clause("alpha#9")
    with pytest.raises(PlanNotFound, match=r"^unknown plan 'zeta'"):
        corpus.clause("zeta#1")
    with pytest.raises(StoreError, match=r"^no index at .*missing \(create one with: semplan index PATH --out"):
        Corpus.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match=r"is not a semplan index \(no manifest.json\)$"):
        Corpus.open(tmp_path / "empty")
    with pytest.raises(ModelMismatch, match=r"was built with fake-model@rev-1, not fake-model@rev-2$"):
        Corpus.open(tmp_path / "index", model_identity=fake_encoder("rev-2").identity())
    with pytest.raises(StoreError, match="an index already exists"):
        Corpus.create(tmp_path / "index", fake_encoder().identity())


def test_second_writer_is_refused(corpus, tmp_path):
    other = Corpus.open(tmp_path / "index", model_identity=fake_encoder().identity())
    with corpus.writing():
        with pytest.raises(LockBusy, match=r"is being written by another process \(pid \d+\)"):
            other.remove("alpha")
    other.remove("alpha")  # the lock is free again
    other.close()


def test_stale_faiss_is_rebuilt_from_the_database(corpus, encoder, tmp_path):
    """A writer killed after the SQLite commit but before the FAISS file and manifest are written."""
    manifest_before = (tmp_path / "index" / MANIFEST).read_bytes()
    faiss_before = json.loads(manifest_before)["index"]["file"]
    corpus._persist_faiss = lambda *args: None  # the crash
    add(corpus, encoder, [document("delta", "建设智慧校园。")])
    assert (tmp_path / "index" / MANIFEST).read_bytes() == manifest_before
    reopened = Corpus.open(tmp_path / "index", model_identity=fake_encoder().identity())
    assert "delta" in [plan.plan_id for plan in reopened.plans()]
    query = reopened.vectors(["delta#1"])
    assert reopened.search_vectors(query, k=1)[0][0][1] == pytest.approx(1.0, abs=1e-5)
    # The next write persists a fresh FAISS file and removes the stale one.
    reopened.remove("gamma")
    manifest = json.loads((tmp_path / "index" / MANIFEST).read_text())
    assert manifest["index"]["generation"] == reopened.generation()
    assert not (tmp_path / "index" / faiss_before).exists()
    reopened.close()


@pytest.mark.parametrize("threshold", [200_000, 4])
def test_plan_filters_on_flat_and_ivf(tmp_path, encoder, threshold):
    corpus = Corpus.create(tmp_path / "index", encoder.identity(), ann_threshold=threshold)
    add(corpus, encoder, (document(p, t) for p, t in PLANS.items()))
    assert corpus.manifest["index"]["kind"] == choose_index_kind(8, threshold)
    query = corpus.vectors(["alpha#1"])
    plans_of = {i: c.plan_id for i, c in corpus.clauses_by_row_id(range(1, 100)).items()}
    everything = corpus.search_vectors(query, k=8)[0]
    assert len(everything) == 8 and everything[0][1] == pytest.approx(1.0, abs=1e-5)
    only = corpus.search_vectors(query, k=8, plans=PlanFilter(only=["beta"]))[0]
    assert {plans_of[i] for i, _ in only} == {"beta"} and len(only) == 3
    excluded = corpus.search_vectors(query, k=8, plans=PlanFilter(exclude=["alpha", "gamma"]))[0]
    assert {plans_of[i] for i, _ in excluded} == {"beta"} and len(excluded) == 3
    both = corpus.search_vectors(query, k=8, plans=PlanFilter(only=["alpha", "beta"], exclude=["alpha"]))[0]
    assert [i for i, _ in both] == [i for i, _ in only]
    corpus.close()


def test_ivf_index_is_updated_in_place(tmp_path, encoder):
    corpus = Corpus.create(tmp_path / "index", encoder.identity(), ann_threshold=4)
    add(corpus, encoder, (document(p, t) for p, t in PLANS.items()))
    trained = corpus.manifest["index"]["trained_on"]
    add(corpus, encoder, [document("gamma", "加快标准化考场建设。新增一条。再加一条。")])
    assert corpus.manifest["index"]["trained_on"] == trained  # not retrained
    assert corpus.faiss_index().ntotal == len(corpus) == 9
    reopened = Corpus.open(tmp_path / "index", model_identity=fake_encoder().identity())
    query = reopened.vectors(["gamma#3"])
    assert reopened.search_vectors(query, k=1)[0][0] == (reopened.row_ids(["gamma#3"])[0], pytest.approx(1.0, abs=1e-5))
    corpus.close()
    reopened.close()


def test_similar_api_with_fake_model(corpus, encoder):
    searcher = Searcher(corpus, encoder)
    hits = searcher.by_text("实施安吉游戏推广计划", k=3)
    assert hits[0].clause_id == "alpha#1" and hits[0].score > 0.9
    by_clause = searcher.by_clause("alpha#1", k=3)
    assert all(hit.plan_id != "alpha" for hit in by_clause) and by_clause[0].clause_id == "beta#1"
    own = searcher.by_clause("alpha#1", k=10, plans=PlanFilter(include_own_plan=True))
    assert "alpha#1" not in [hit.clause_id for hit in own] and "alpha#2" in [hit.clause_id for hit in own]
    assert all(hit.score >= 0.5 for hit in searcher.by_clause("alpha#1", k=10, min_score=0.5))
    alignment = searcher.align("alpha")
    assert [row.clause.clause_id for row in alignment] == ["alpha#1", "alpha#2", "alpha#3"]
    assert alignment[0].matches["beta"].clause_id == "beta#1"
    assert set(alignment[0].matches) == {"beta", "gamma"}
    data = hits[0].to_dict()
    assert {"plan", "clause_id", "kind", "section", "item", "text", "spans", "score"} <= set(data)


def test_hit_dict_keeps_the_published_keys(corpus, encoder):
    """Scripts read `semplan similar --json/--csv`: the keys and their order stay as they were."""
    hit = Searcher(corpus, encoder).by_clause("alpha#1", k=1)[0]
    # issue 14 appended verdict, shared_terms and paraphrase; the earlier keys keep their order
    assert list(hit.to_dict()) == ["plan", "clause_id", "kind", "section", "item", "text", "spans", "score", "path", "n",
                                   "verdict", "shared_terms", "paraphrase"]
    assert hit.to_dict()["plan"] == hit.plan_id == "beta" and hit.to_dict()["section"] == hit.section_title == "总体要求"
    fused = Searcher(corpus, encoder).by_clause("alpha#1", k=1, lexical=True)[0]
    assert list(fused.to_dict())[-1] == "lexical_score"


def test_search_errors_are_typed(corpus, encoder):
    searcher = Searcher(corpus, encoder)
    with pytest.raises(InvalidArgument, match=r"^k must be at least 1, got 0$"):
        searcher.by_clause("alpha#1", k=0)
    with pytest.raises(InvalidArgument, match=r"^the query text is empty$"):
        searcher.by_text("  ")
    with pytest.raises(PlanNotFound, match=r"^unknown plan 'zeta'") as raised:
        searcher.by_text("安吉游戏", plans=PlanFilter(exclude=["zeta"]))
    assert isinstance(raised.value, KeyError) and str(raised.value).startswith("unknown plan")
    with pytest.raises(ClauseNotFound):
        searcher.by_clause("alpha#9")
    with pytest.raises(PlanNotFound):
        searcher.align("zeta")


def test_plan_filter():
    assert PlanFilter(only="a", exclude=["b"]) == PlanFilter(only=("a",), exclude=("b",))
    assert PlanFilter(only=["a", "b", "a"], exclude=["b"]).allowed() == ["a"]
    assert PlanFilter().allowed() is None and PlanFilter(exclude="x").admits("y") and not PlanFilter(only=["x"]).admits("y")
    # A clause query leaves its own plan out, unless asked to keep it or the filter names it.
    assert PlanFilter().for_clause_of("a") == PlanFilter(exclude=("a",))
    assert PlanFilter(include_own_plan=True).for_clause_of("a").exclude == ()
    assert PlanFilter(only=["a", "b"]).for_clause_of("a").exclude == ()


def test_equal_texts_align_to_the_first_of_them(tmp_path, encoder):
    """Exact searches rank equal scores in stored order, so alignment picks a plan's first such clause."""
    corpus = Corpus.create(tmp_path / "index", encoder.identity())
    add(corpus, encoder, [document("a", "开展劳动教育。"), document("b", "其他事项。开展劳动教育。开展劳动教育。")])
    assert Searcher(corpus).align("a")[0].matches["b"].clause_id == "b#2"
    only_b = Searcher(corpus).by_clause("a#1", k=3, plans=PlanFilter(only=["b"]))
    assert [hit.clause_id for hit in only_b] == ["b#2", "b#3", "b#1"]
    corpus.close()


def test_alignment_is_the_best_match_in_each_plan(corpus, encoder):
    searcher = Searcher(corpus, encoder)
    for target in ("beta", "gamma"):
        _, vectors = corpus.plan_vectors([target])
        expected = (corpus.vectors()[:3] @ vectors.T).argmax(axis=1)
        matches = [row.matches[target] for row in searcher.align("alpha")]
        assert [hit.n for hit in matches] == [int(column) + 1 for column in expected]
    strict = searcher.align("alpha", plans=PlanFilter(exclude=["gamma"]), min_score=0.99)
    assert all(set(row.matches) == {"beta"} for row in strict) and any(row.matches["beta"] is None for row in strict)


def test_update_index_opens_or_creates(tmp_path, encoder):
    from semplan.ingest import update_index

    paths = []
    for plan_id, text in PLANS.items():
        paths.append(tmp_path / f"{plan_id}.txt")
        paths[-1].write_text(text, encoding="utf-8")
    directory = tmp_path / "index"
    with pytest.raises(StoreError, match=r"^no index at .*index \(create one with"):
        update_index(directory, remove=["alpha"])
    created = update_index(directory, paths[:2], encoder=encoder, ann_threshold=100)
    assert created.added.added == ["alpha", "beta"] and created.counts["plans"] == 2 and created.faiss_kind == "flat"
    with Corpus.open(directory) as corpus:
        assert corpus.manifest["index"]["ann_threshold"] == 100
    with pytest.raises(InvalidArgument, match="applies only when creating an index"):
        update_index(directory, paths, encoder=encoder, ann_threshold=100)
    with pytest.raises(ModelMismatch):
        update_index(directory, paths, encoder=fake_encoder("rev-2"))
    updated = update_index(directory, paths, remove=["alpha"], encoder=encoder)
    assert updated.removed == ["alpha"] and updated.added.added == ["alpha", "gamma"]
    with Corpus.open(directory) as corpus:
        assert updated.counts == {"plans": 3, "clauses": len(corpus.clauses())} == corpus.manifest["counts"]
    assert updated.added.unchanged == ["beta"] and updated.model == "fake-model"


SAMPLE_VECTORS = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "sample_vectors.npy"


def _recombined(n: int, seed: int) -> np.ndarray:
    """Unit vectors recombined from the sample plans' real e5 clause vectors, as benchmarks/search.py builds them.

    A real clause vector plus a second at weight U(0, 0.5), half of them a third at U(0, 0.25),
    plus noise: clustered at many scales like real embeddings. Adversarial data (ten vectors per
    random topic) is in the benchmark's worst-case rows, not here: there IVF needs most lists.
    """
    base = np.load(SAMPLE_VECTORS).astype(np.float32)
    rng = np.random.default_rng(seed)
    first, second, third = (rng.integers(0, len(base), n) for _ in range(3))
    vectors = base[first] + rng.uniform(0, 0.5, (n, 1)).astype(np.float32) * base[second]
    vectors += (rng.uniform(0, 0.25, (n, 1)) * (rng.random((n, 1)) < 0.5)).astype(np.float32) * base[third]
    vectors += 0.015 * rng.standard_normal(vectors.shape, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_ivf_recall_at_10_on_200k_vectors():
    """The approximate index the store switches to above its threshold keeps recall@10 ≥ 0.95."""
    n = 200_000
    vectors = _recombined(n, seed=7)
    queries = _recombined(200, seed=8)  # held out: not members of the index
    ids = np.arange(n, dtype=np.int64) + 1
    index, description = build_faiss_index(vectors, ids, "ivf")
    assert description["kind"] == "ivf" and description["nprobe"] < description["nlist"]
    assert description["calibrated_recall_at_10"] >= 0.97
    _, approximate = faiss_search(index, queries, 10)
    exact_scores = queries @ vectors.T
    top = np.argpartition(-exact_scores, 9, axis=1)[:, :10]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(exact_scores, top, axis=1), axis=1), axis=1)
    exact = top + 1  # best first
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approximate, exact, strict=True)])
    print(f"IVF recall@10 on 200k: {recall:.3f} ({description})")
    assert recall >= 0.95, recall
    # Excluding ids works on the IVF index too, and the next neighbours take their place.
    excluded = exact[:, 0]
    _, filtered = faiss_search(index, queries, 10, exclude_ids=excluded)
    assert not (filtered == excluded[:, None]).any() and (filtered >= 0).all()


def test_empty_index_searches_to_nothing(corpus, tmp_path):
    corpus.remove(["alpha", "beta", "gamma"])
    assert corpus.plans() == [] and corpus.vectors().shape == (0, DIMS)
    assert corpus.search_vectors(np.ones((1, DIMS), dtype=np.float32) / DIMS**0.5, k=5) == [[]]
    reopened = Corpus.open(tmp_path / "index", model_identity=fake_encoder().identity())
    assert Searcher(reopened, fake_encoder()).by_text("实施安吉游戏推广计划") == []
    reopened.close()


def test_a_reader_follows_a_writer(corpus, encoder, tmp_path):
    """An open reader sees each committed write: plans, clauses and FAISS follow the generation."""
    reader = Corpus.open(tmp_path / "index", model_identity=fake_encoder().identity())
    assert len(reader.plans()) == 3 and reader.faiss_index().ntotal == 8
    add(corpus, encoder, [document("delta", "建设智慧校园。推进教育数字化。")])
    assert "delta" in [plan.plan_id for plan in reader.plans()]
    assert reader.faiss_index().ntotal == 10
    assert Searcher(reader).by_clause("delta#1", k=1, plans=PlanFilter(only=["delta"]))[0].clause_id == "delta#2"
    reader.close()


def test_an_older_schema_is_migrated_on_open(corpus, tmp_path):
    """An index written before migration m002 (no bigram table) gets it, filled, when opened."""
    import sqlite3

    corpus.close()
    with sqlite3.connect(tmp_path / "index" / "corpus.sqlite") as conn:
        conn.execute("DROP TABLE clause_bigrams")
        conn.execute("PRAGMA user_version = 1")
    reopened = Corpus.open(tmp_path / "index", model_identity=fake_encoder().identity())
    assert reopened._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    hits = reopened.search_lexical("安吉游戏推广", 3)
    assert [reopened.clauses_by_row_id([row_id])[row_id].clause_id for row_id, _ in hits][:2] == ["alpha#1", "beta#1"]
    reopened.close()


def test_a_killed_creation_leaves_nothing_behind_for_long(tmp_path):
    """A creation killed before its rename left a hidden `.NAME.*.creating` folder forever."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    leftover = tmp_path / f".index.{dead_pid}.abc123.creating"
    (leftover / "sub").mkdir(parents=True)
    running = tmp_path / f".index.{os.getpid()}.def456.creating"  # a creation still under way: kept
    running.mkdir()
    Corpus.create(tmp_path / "index", fake_encoder().identity()).close()
    assert not leftover.exists() and running.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["index", running.name])


def test_index_lock_is_filelocks_lock(tmp_path):
    """The index lock is the primitive `filelock.FileLock` takes, so the two exclude each other."""
    import filelock

    from semplan._fs import exclusive_lock

    path = tmp_path / ".lock"
    with exclusive_lock(path, what="the index"):
        with pytest.raises(filelock.Timeout):
            filelock.FileLock(path).acquire(blocking=False)
    with filelock.FileLock(path):
        with pytest.raises(LockBusy, match="the index is being written by another process"):
            with exclusive_lock(path, wait=False, what="the index"):
                pass
    with exclusive_lock(path, wait=False):  # free again
        assert path.read_text(encoding="utf-8") == str(os.getpid())


def test_semplan_imports_without_fcntl():
    """Windows has no fcntl: no module may import it (the index and search must work there)."""
    code = (
        "import sys; sys.modules['fcntl'] = None\n"
        "import semplan, semplan.store, semplan.search, semplan.ingest, semplan.compare, semplan.report, semplan.cli\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
