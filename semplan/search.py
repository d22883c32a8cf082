"""Similar clauses: by free text, by a stored clause, and plan-against-plan alignment.

Scores are cosine similarities of the model's vectors (the stored passages are L2-normalised;
a free-text query is normalised like a clause's matching text and encoded with the query prompt),
so `min_score` means the same in every mode.

A lexical signal (BM25 over character bigrams of the matching text, fused with the dense ranking
by reciprocal rank) is available with `lexical=True`; it is off by default because on the
development set it did not improve the dense ranking (figures in the module's tests and the
final report of issue 4).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan.errors import SemplanError

if TYPE_CHECKING:
    from semplan.segment import Clause
    from semplan.store import Corpus

# Reciprocal-rank fusion constant: the value of Cormack et al. (2009), not tuned here.
RRF_K = 60
# Dense and lexical candidates considered per query before fusion.
FUSION_CANDIDATES = 100


@dataclass(frozen=True)
class Hit:
    """One matching clause. `spans` are half-open offsets into the plan's decoded source text."""

    plan: str
    clause_id: str
    kind: str
    section: str | None
    item: str | None
    text: str
    spans: tuple[tuple[int, int], ...]
    score: float
    path: str = ""
    n: int = 0
    lexical_score: float | None = None  # BM25, when the lexical signal was used

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spans"] = [list(span) for span in self.spans]
        data["score"] = round(self.score, 4)
        if self.lexical_score is None:
            data.pop("lexical_score")
        return data


@dataclass(frozen=True)
class AlignedClause:
    """A clause of the aligned plan and, per other plan, its best match (None when below min_score)."""

    clause: Hit  # the clause itself; its score is 1.0
    matches: dict[str, Hit | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "clause": {key: value for key, value in self.clause.to_dict().items() if key != "score"},
            "matches": {plan: (hit.to_dict() if hit else None) for plan, hit in self.matches.items()},
        }


def hit_from_clause(clause: Clause, score: float, lexical_score: float | None = None) -> Hit:
    return Hit(
        plan=clause.plan_id,
        clause_id=clause.clause_id,
        kind=clause.kind,
        section=clause.section_title,
        item=clause.item_title,
        text=clause.text,
        spans=tuple(tuple(span) for span in clause.spans),
        score=float(score),
        path=clause.path or "",
        n=clause.n,
        lexical_score=lexical_score,
    )


def context(source_text: str, spans: Sequence[tuple[int, int]], width: int = 30) -> tuple[str, str]:
    """Up to `width` characters of source before and after a clause, on the clause's own lines."""
    if not spans:
        return "", ""
    start, end = spans[0][0], spans[-1][1]
    before = source_text[max(0, start - width) : start]
    after = source_text[end : end + width]
    before = before.rsplit("\n", 1)[-1]
    after = after.split("\n", 1)[0]
    return before, after


def _check_k(k: int) -> None:
    if k < 1:
        raise SemplanError(f"k must be at least 1, got {k}")


# ---------------------------------------------------------------- lexical signal


_BIGRAM_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def bigrams(text: str) -> list[str]:
    """Character bigrams of a matching text, punctuation and spaces dropped; one-character texts → itself."""
    chars = _BIGRAM_DROP.sub("", text.lower())
    if len(chars) < 2:
        return [chars] if chars else []
    return [chars[i : i + 2] for i in range(len(chars) - 1)]


class Bm25:
    """Okapi BM25 over character bigrams (k1=1.2, b=0.75, the textbook defaults)."""

    def __init__(self, texts: Iterable[str], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = {}
        lengths = []
        for row, text in enumerate(texts):
            grams = Counter(bigrams(text))
            lengths.append(sum(grams.values()))
            for gram, count in grams.items():
                self.postings.setdefault(gram, []).append((row, count))
        self.lengths = np.array(lengths, dtype=np.float32)
        self.average_length = float(self.lengths.mean()) if len(lengths) else 0.0

    def __len__(self) -> int:
        return len(self.lengths)

    def scores(self, query: str) -> np.ndarray:
        scores = np.zeros(len(self), dtype=np.float32)
        n = len(self)
        for gram in set(bigrams(query)):
            postings = self.postings.get(gram)
            if not postings:
                continue
            idf = math.log(1 + (n - len(postings) + 0.5) / (len(postings) + 0.5))
            rows = np.fromiter((row for row, _ in postings), dtype=np.int64, count=len(postings))
            counts = np.fromiter((count for _, count in postings), dtype=np.float32, count=len(postings))
            norm = self.k1 * (1 - self.b + self.b * self.lengths[rows] / max(self.average_length, 1e-9))
            scores[rows] += idf * counts * (self.k1 + 1) / (counts + norm)
        return scores


def _lexical_index(corpus: Corpus) -> tuple[Bm25, list[int], list[str]]:
    """BM25 over every clause, with row ids and plan ids aligned to its rows (kept per generation)."""
    cached = getattr(corpus, "_bm25_cache", None)
    generation = corpus.generation()
    if cached is not None and cached[0] == generation:
        return cached[1]
    rows = corpus._conn.execute("SELECT id, plan_id, match_text FROM clauses ORDER BY id").fetchall()
    built = (Bm25(row[2] for row in rows), [row[0] for row in rows], [row[1] for row in rows])
    corpus._bm25_cache = (generation, built)
    return built


def _fuse(
    corpus: Corpus,
    query_vector: np.ndarray,
    query_text: str,
    dense: list[tuple[int, float]],
    k: int,
    only_plans: list[str] | None,
    exclude_plans: list[str],
    exclude_row_ids: set[int],
) -> list[tuple[int, float, float | None]]:
    """Reciprocal-rank fusion of the dense candidates with the BM25 top candidates."""
    bm25, row_ids, plan_ids = _lexical_index(corpus)
    lexical = bm25.scores(query_text)
    allowed = np.ones(len(row_ids), dtype=bool)
    if only_plans is not None:
        allowed &= np.isin(plan_ids, only_plans)
    if exclude_plans:
        allowed &= ~np.isin(plan_ids, exclude_plans)
    if exclude_row_ids:
        allowed &= ~np.isin(row_ids, list(exclude_row_ids))
    lexical = np.where(allowed, lexical, 0.0)
    order = np.argsort(-lexical, kind="stable")[:FUSION_CANDIDATES]
    lexical_ranked = [(row_ids[i], float(lexical[i])) for i in order if lexical[i] > 0]
    fused: dict[int, float] = {}
    for rank, (row_id, _) in enumerate(dense):
        fused[row_id] = fused.get(row_id, 0.0) + 1 / (RRF_K + rank + 1)
    for rank, (row_id, _) in enumerate(lexical_ranked):
        fused[row_id] = fused.get(row_id, 0.0) + 1 / (RRF_K + rank + 1)
    dense_scores = dict(dense)
    lexical_scores = dict(lexical_ranked)
    missing = [row_id for row_id in fused if row_id not in dense_scores]
    if missing:
        vectors = corpus._vectors_by_row_id(missing)
        for row_id in missing:
            dense_scores[row_id] = float(np.frombuffer(vectors[row_id], dtype=np.float32) @ query_vector)
    best = sorted(fused, key=lambda row_id: (-fused[row_id], -dense_scores[row_id]))[:k]
    return [(row_id, dense_scores[row_id], lexical_scores.get(row_id, 0.0)) for row_id in best]


# ---------------------------------------------------------------- searching


def _plans(value: Iterable[str] | str | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _search(
    corpus: Corpus,
    query_vector: np.ndarray,
    query_text: str,
    *,
    k: int,
    only_plans: list[str] | None,
    exclude_plans: list[str],
    min_score: float | None,
    exclude_row_ids: Iterable[int] = (),
    lexical: bool = False,
) -> list[Hit]:
    _check_k(k)
    excluded_rows = set(exclude_row_ids)
    wanted = max(k, FUSION_CANDIDATES) if lexical else k
    dense = corpus.search_vectors(
        query_vector[None, :], wanted, only_plans=only_plans, exclude_plans=exclude_plans, exclude_row_ids=excluded_rows
    )[0]
    if lexical:
        ranked = _fuse(corpus, query_vector, query_text, dense, k, only_plans, exclude_plans, excluded_rows)
    else:
        ranked = [(row_id, score, None) for row_id, score in dense]
    if min_score is not None:
        ranked = [entry for entry in ranked if entry[1] >= min_score]
    clauses = corpus.clauses_by_row_id(row_id for row_id, _, _ in ranked)
    return [
        hit_from_clause(clauses[row_id], score, lexical_score)
        for row_id, score, lexical_score in ranked
        if row_id in clauses
    ]


def similar_to_text(
    corpus: Corpus,
    text: str,
    k: int = 10,
    *,
    only_plans: Iterable[str] | str | None = None,
    exclude_plans: Iterable[str] | str | None = None,
    min_score: float | None = None,
    lexical: bool = False,
) -> list[Hit]:
    """The k clauses closest to a free-text query (any language), best first."""
    from semplan.normalize import matching_text

    if not text or not text.strip():
        raise SemplanError("the query text is empty")
    only, exclude = _plans(only_plans), _plans(exclude_plans) or []
    corpus.check_plans((only or []) + exclude)
    query_text = matching_text(text)
    query_vector = np.asarray(corpus.encoder.encode_queries([query_text]), dtype=np.float32)[0]
    return _search(
        corpus, query_vector, query_text, k=k, only_plans=only, exclude_plans=exclude, min_score=min_score, lexical=lexical
    )


def similar_to_clause(
    corpus: Corpus,
    clause_id: str,
    k: int = 10,
    *,
    only_plans: Iterable[str] | str | None = None,
    exclude_plans: Iterable[str] | str | None = None,
    min_score: float | None = None,
    include_own_plan: bool = False,
    lexical: bool = False,
) -> list[Hit]:
    """The k clauses closest to a stored clause (`plan#n`), itself left out.

    Other plans only, unless `include_own_plan` (or the own plan is named in `only_plans`): the
    question is what the *other* plans say about the same thing.
    """
    clause = corpus.clause(clause_id)
    only, exclude = _plans(only_plans), _plans(exclude_plans) or []
    corpus.check_plans((only or []) + exclude)
    if not include_own_plan and (only is None or clause.plan_id not in only) and clause.plan_id not in exclude:
        exclude = [*exclude, clause.plan_id]
    [row_id] = corpus.row_ids([clause_id])
    query_vector = corpus.vectors([clause_id])[0]
    return _search(
        corpus,
        query_vector,
        clause.match_text,
        k=k,
        only_plans=only,
        exclude_plans=exclude,
        min_score=min_score,
        exclude_row_ids=[row_id],
        lexical=lexical,
    )


def align_plan(
    corpus: Corpus,
    plan_id: str,
    *,
    only_plans: Iterable[str] | str | None = None,
    exclude_plans: Iterable[str] | str | None = None,
    min_score: float | None = None,
) -> list[AlignedClause]:
    """For every clause of `plan_id`, its best match in each other plan (exact, by cosine).

    Exact rather than through FAISS: each other plan is a few hundred vectors, so one matrix
    product per plan is both exact and faster than k-NN with a per-plan filter.
    """
    only, exclude = _plans(only_plans), _plans(exclude_plans) or []
    corpus.check_plans([plan_id, *(only or []), *exclude])
    targets = [
        record.plan_id
        for record in corpus.plans()
        if record.plan_id != plan_id and (only is None or record.plan_id in only) and record.plan_id not in exclude
    ]
    clauses = corpus.clauses(plan_id)
    source_ids, source_vectors = corpus.plan_vectors([plan_id])
    rows: list[AlignedClause] = [AlignedClause(hit_from_clause(clause, 1.0), {}) for clause in clauses]
    for target in targets:
        target_ids, target_vectors = corpus.plan_vectors([target])
        if len(target_ids) == 0:
            for row in rows:
                row.matches[target] = None
            continue
        similarity = source_vectors @ target_vectors.T
        best = similarity.argmax(axis=1)
        best_scores = similarity[np.arange(len(best)), best]
        wanted = [int(target_ids[i]) for i in best]
        target_clauses = corpus.clauses_by_row_id(wanted)
        for row, row_id, score in zip(rows, wanted, best_scores, strict=True):
            keep = min_score is None or score >= min_score
            row.matches[target] = hit_from_clause(target_clauses[row_id], float(score)) if keep else None
    return rows
