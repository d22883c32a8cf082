"""Search over the sample corpus with the real default model, real FAISS and SQLite (Python API)."""

from __future__ import annotations

import shutil

import pytest

from semplan.errors import InvalidArgument
from semplan.ingest import index_paths, mask_clauses
from semplan.search import PlanFilter, Searcher
from semplan.store import Corpus


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory, e5_encoder, sample_dir):
    directory = tmp_path_factory.mktemp("search") / "index"
    corpus = Corpus.create(directory, e5_encoder.identity())
    report = index_paths(corpus, [sample_dir], encoder=e5_encoder)
    assert sorted(report.added) == ["city-2019", "daqing-2021", "hulunbuir-2021", "qingyuan-2022", "xx-county-2021"]
    yield corpus
    corpus.close()


def clause_at(corpus: Corpus, plan_id: str, offset: int):
    """The stored clause whose spans cover a character offset of the plan's source."""
    for clause in corpus.clauses(plan_id):
        if any(start <= offset < end for start, end in clause.spans):
            return clause
    raise AssertionError(f"no clause of {plan_id} covers offset {offset}")


def test_clauses_point_into_their_source(sample_index):
    for clause in sample_index.clauses():
        source = sample_index.source_text(clause.plan_id)
        assert "".join(source[start:end] for start, end in clause.spans) == clause.text
    assert len(sample_index.vectors()) == len(sample_index.clauses())


@pytest.fixture(scope="module")
def searcher(sample_index, e5_encoder):
    return Searcher(sample_index, e5_encoder)


def test_q01_cross_script_match_is_rank_1(sample_index, searcher, dev_gold):
    q01 = next(query for query in dev_gold["queries"] if query["id"] == "Q01")
    source = clause_at(sample_index, q01["source_plan"], q01["query_offset"])
    expected = clause_at(sample_index, "daqing-2021", q01["matches"][0]["offsets"][0])
    assert "實施『安吉游戲』推廣計劃" in expected.text
    by_clause = searcher.by_clause(source.clause_id, k=5)
    assert by_clause[0].clause_id == expected.clause_id
    by_text = searcher.by_text(q01["query"], k=5, plans=PlanFilter(exclude=[q01["source_plan"]]))
    assert by_text[0].clause_id == expected.clause_id
    assert by_text[0].spans == expected.spans and by_text[0].text == expected.text


def test_english_query_finds_the_chinese_clauses(sample_index, searcher, dev_gold):
    p06 = next(query for query in dev_gold["paraphrase_queries"] if query["lang"] == "en")
    hits = searcher.by_text(p06["query"], k=10)
    ranked = [hit.clause_id for hit in hits]
    expected = [clause_at(sample_index, e["plan"], e["offset"]).clause_id for e in p06["expected_top5"]]
    # Measured: ranks 5, 3, 9, 47, 1 with torch fp32 and 9, 4, -, 30, 1 with onnx-int8; the
    # misses sit in long sentences about several things at once.
    assert sum(clause_id in ranked[:5] for clause_id in expected) >= 2, ranked
    assert sum(clause_id in ranked for clause_id in expected) >= 3, ranked
    assert all(hit.score > 0.7 for hit in hits)


def _best_in_plan_accuracy(searcher: Searcher, gold: dict, lexical: bool) -> tuple[int, int]:
    right = total = 0
    corpus = searcher.corpus
    for query in gold["queries"]:
        source = clause_at(corpus, query["source_plan"], query["query_offset"])
        hits = searcher.by_clause(source.clause_id, k=50, lexical=lexical)
        for match in query["matches"]:
            wanted = {clause_at(corpus, match["plan"], offset).clause_id for offset in match["offsets"]}
            first_in_plan = next((hit for hit in hits if hit.plan_id == match["plan"]), None)
            right += first_in_plan is not None and first_in_plan.clause_id in wanted
            total += 1
    return right, total


def test_default_ranking_puts_the_labelled_clause_first_in_its_plan(searcher, dev_gold):
    dense, total = _best_in_plan_accuracy(searcher, dev_gold, lexical=False)
    fused, _ = _best_in_plan_accuracy(searcher, dev_gold, lexical=True)
    print(f"best match within the labelled plan: dense {dense}/{total}, dense+BM25 {fused}/{total}")
    # Dense ranking is the default because fusion does not beat it (see semplan.search).
    assert dense >= total * 0.7


def test_alignment(sample_index, searcher, dev_gold):
    rows = searcher.align("hulunbuir-2021")
    assert [row.clause.clause_id for row in rows] == [c.clause_id for c in sample_index.clauses("hulunbuir-2021")]
    assert all(set(row.matches) == {"city-2019", "daqing-2021", "qingyuan-2022", "xx-county-2021"} for row in rows)
    q01 = next(query for query in dev_gold["queries"] if query["id"] == "Q01")
    source = clause_at(sample_index, "hulunbuir-2021", q01["query_offset"])
    row = next(row for row in rows if row.clause.clause_id == source.clause_id)
    assert row.matches["daqing-2021"].clause_id == clause_at(sample_index, "daqing-2021", 519).clause_id
    strict = searcher.align("hulunbuir-2021", plans=PlanFilter(only=["daqing-2021"]), min_score=0.9)
    assert all(set(row.matches) == {"daqing-2021"} for row in strict)
    assert any(row.matches["daqing-2021"] is None for row in strict)
    assert all(hit.score >= 0.9 for row in strict for hit in row.matches.values() if hit)


def test_filters_and_min_score(searcher):
    hits = searcher.by_text("课后服务", k=10, plans=PlanFilter(only=["qingyuan-2022", "daqing-2021"]))
    assert {hit.plan_id for hit in hits} <= {"qingyuan-2022", "daqing-2021"} and len(hits) == 10
    hits = searcher.by_text("课后服务", k=10, plans=PlanFilter(exclude=["qingyuan-2022"]), min_score=0.85)
    assert all(hit.plan_id != "qingyuan-2022" and hit.score >= 0.85 for hit in hits)
    scores = [hit.score for hit in searcher.by_text("课后服务", k=10, lexical=False, feedback=False)]
    assert scores == sorted(scores, reverse=True)


def test_feedback_reorders_but_scores_stay_the_querys_cosines(searcher):
    """Pseudo-relevance feedback ranks by the query expanded with its best hits; the score shown
    (and the verdict and min_score) stays the query's own cosine with the clause."""
    query = "kids' eyesight"
    plain = {hit.clause_id: hit.score for hit in searcher.by_text(query, k=len(searcher.corpus), feedback=False)}
    expanded = searcher.by_text(query, k=10)
    assert len(expanded) == 10
    assert all(abs(hit.score - plain[hit.clause_id]) < 1e-5 for hit in expanded)
    assert [hit.clause_id for hit in expanded] != sorted(plain, key=lambda clause_id: -plain[clause_id])[:10]
    floor = sorted(hit.score for hit in expanded)[5]
    assert all(hit.score >= floor for hit in searcher.by_text(query, k=10, min_score=floor))


def test_incremental_sixth_plan_replace_and_remove(sample_index, sample_dir, tmp_path, e5_encoder):
    """A copy of a sample plan with three changed sentences encodes only those; replace and remove."""
    from semplan.read import read_document
    from semplan.segment import segment_document

    directory = tmp_path / "index"
    shutil.copytree(sample_index.directory, directory)
    corpus = Corpus.open(directory, model_identity=e5_encoder.identity())
    text = (sample_dir / "daqing-2021.txt").read_text(encoding="utf-8")
    changed = (
        text.replace("提高公辦園在園幼兒佔比。", "提高公辦園在園幼兒佔比到六成。")
        .replace("打造良好的教育發展環境。", "打造風清氣正的教育發展環境。")
        .replace("豐富老年人精神生活。", "豐富老年人的精神文化生活。")
    )
    sixth = tmp_path / "daqing-2022.txt"
    sixth.write_text(changed, encoding="utf-8")
    known = {clause.match_text for clause in corpus.clauses()}
    new_texts = {clause.match_text for clause in mask_clauses(segment_document(read_document(sixth)))} - known
    assert 1 <= len(new_texts) <= 3

    calls = e5_encoder.texts_encoded
    report = index_paths(corpus, [sixth], encoder=e5_encoder)
    assert report.added == ["daqing-2022"] and report.texts_encoded == len(new_texts)
    assert e5_encoder.texts_encoded - calls == len(new_texts)
    assert len(corpus.plans()) == 6 and corpus.faiss_index().ntotal == len(corpus.clauses())

    # Adding the same files again changes nothing and encodes nothing.
    calls = e5_encoder.texts_encoded
    report = index_paths(corpus, [sample_dir, sixth], encoder=e5_encoder)
    assert len(report.unchanged) == 6 and not report.added and e5_encoder.texts_encoded == calls

    # Replacing the file: its plan's clauses follow the new text.
    sixth.write_text(changed.replace("實施『安吉游戲』推廣計劃", "實施『游戲活動』推廣計劃"), encoding="utf-8")
    report = index_paths(corpus, [sixth], encoder=e5_encoder)
    assert report.replaced == ["daqing-2022"]
    texts = " ".join(clause.text for clause in corpus.clauses("daqing-2022"))
    assert "『游戲活動』" in texts and "『安吉游戲』" not in texts
    anji = clause_at(corpus, "hulunbuir-2021", 2692)  # 实施“安吉游戏"推广计划 (dev-gold Q01)
    hits = Searcher(corpus).by_clause(anji.clause_id, k=3, plans=PlanFilter(only=["daqing-2022"]))
    assert all("安吉" not in hit.text for hit in hits)

    corpus.remove("daqing-2022")
    assert [plan.plan_id for plan in corpus.plans()] == [plan.plan_id for plan in sample_index.plans()]
    reopened = Corpus.open(directory)
    assert len(reopened.clauses()) == len(sample_index.clauses()) == reopened.faiss_index().ntotal
    corpus.close()
    reopened.close()


@pytest.mark.parametrize("min_score", [float("nan"), 1.5, -2.0])
def test_min_score_outside_the_cosine_range_is_refused(searcher, min_score):
    """A nan threshold passes click's FloatRange and keeps nothing: `--min-score nan` said "no matching clauses"."""
    with pytest.raises(InvalidArgument, match="min_score must be a cosine score between -1 and 1"):
        searcher.by_text("课后服务", k=3, min_score=min_score)
    with pytest.raises(InvalidArgument, match="min_score"):
        searcher.align("city-2019", min_score=min_score)


@pytest.mark.parametrize("query", ["\u200b", "\x01\x02", "\ufeff\u200b ", "。，、"])
def test_query_without_letters_or_digits_is_refused(searcher, query):
    """Zero-width spaces normalise to nothing; the "nearest" clauses to an empty query were noise."""
    with pytest.raises(InvalidArgument, match="the query text has no letters or digits"):
        searcher.by_text(query, k=3)


def test_every_hit_carries_a_calibrated_verdict_and_its_shared_terms(sample_index, searcher, dev_gold):
    q01 = next(query for query in dev_gold["queries"] if query["id"] == "Q01")
    source = clause_at(sample_index, q01["source_plan"], q01["query_offset"])
    hits = searcher.by_clause(source.clause_id, k=20)
    top = hits[0]
    assert top.verdict == "same"
    # 安吉游戏 (traditional 安吉游戲 in daqing) is found through the script folding
    assert "安吉游戏" in top.shared_terms
    start, end = top.term_spans[0]
    assert top.text[start:end] == "安吉游戲"
    assert top.to_dict()["verdict"] == "same" and "安吉游戏" in top.to_dict()["shared_terms"]
    # the verdicts follow the score: a long list runs down through the three
    assert [hit.verdict for hit in hits] == sorted((hit.verdict for hit in hits), key=("same", "related", "different").index)
    assert hits[-1].verdict in ("related", "different")


def test_alignment_drops_different_best_matches_unless_asked(searcher):
    everything = searcher.align("hulunbuir-2021", plans=PlanFilter(only=["city-2019"]))
    kept = searcher.align("hulunbuir-2021", plans=PlanFilter(only=["city-2019"]), keep_different=False)
    verdicts = [row.matches["city-2019"].verdict for row in everything]
    assert "same" in verdicts and len(set(verdicts)) >= 2
    for before, after in zip(everything, kept, strict=True):
        hit = before.matches["city-2019"]
        assert (after.matches["city-2019"] is None) == (hit.verdict == "different")
