"""Similar clauses: by free text, by a stored clause, and plan-against-plan alignment.

Scores are cosine similarities of the model's vectors (the stored clause vectors are L2-normalised;
a free-text query is normalised like a clause's matching text and encoded with the query prompt),
so `min_score` means the same in every mode.

Ranking is by the model's cosine. A lexical signal (BM25 over character bigrams of the matching
text, from the index's FTS5 table, fused by reciprocal rank, RRF_K = 60 as published, not tuned) is
available with `lexical=True` (`semplan similar --lexical`), and off by default because it no longer
helps. Measured on tests/data/dev-gold.json over the sample corpus (10 query/plan pairs: is the
labelled clause the best hit within its plan?), multilingual-e5-small on onnx-int8:
- clauses encoded with e5's "passage: " prompt: dense 5/10, fused 8/10 (torch fp32: 6/10 → 8/10);
- clauses encoded with its "query: " prompt (the "clause" role, as e5's card says for symmetric
  tasks, semplan's default since): dense 8/10, fused 6/10; recall@5/@10 and MRR of
  `semplan eval retrieval` equal with and without fusion (0.833 / 0.833 / 1.000).
Once the prompt was right the lexical signal stopped paying for itself, so it is opt-in.
Displayed scores stay cosines, so `min_score` keeps its meaning; the order is the fused one.
"""

from __future__ import annotations

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


def reciprocal_rank_fusion(*rankings: Sequence[int]) -> dict[int, float]:
    """Σ 1/(RRF_K + rank) over the rankings each id appears in (ranks from 1)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row_id in enumerate(ranking, start=1):
            fused[row_id] = fused.get(row_id, 0.0) + 1 / (RRF_K + rank)
    return fused


def _fuse(
    corpus: Corpus,
    query_vector: np.ndarray,
    query_text: str,
    dense: list[tuple[int, float]],
    only_plans: list[str] | None,
    exclude_plans: list[str],
    exclude_row_ids: set[int],
) -> list[tuple[int, float, float | None]]:
    """All candidates, fused order: reciprocal-rank fusion of the dense and the BM25 candidates.

    Scores stay cosines (computed from stored vectors for lexical-only candidates).
    """
    lexical = corpus.search_lexical(
        query_text, FUSION_CANDIDATES, only_plans=only_plans, exclude_plans=exclude_plans, exclude_row_ids=exclude_row_ids
    )
    fused = reciprocal_rank_fusion([row_id for row_id, _ in dense], [row_id for row_id, _ in lexical])
    dense_scores = dict(dense)
    lexical_scores = dict(lexical)
    missing = [row_id for row_id in fused if row_id not in dense_scores]
    if missing:
        vectors = corpus._vectors_by_row_id(missing)
        for row_id in missing:
            dense_scores[row_id] = float(np.frombuffer(vectors[row_id], dtype=np.float32) @ query_vector)
    best = sorted(fused, key=lambda row_id: (-fused[row_id], -dense_scores[row_id]))
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
        ranked = _fuse(corpus, query_vector, query_text, dense, only_plans, exclude_plans, excluded_rows)
    else:
        ranked = [(row_id, score, None) for row_id, score in dense]
    if min_score is not None:
        ranked = [entry for entry in ranked if entry[1] >= min_score]
    ranked = ranked[:k]
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
    lexical: bool = False,
) -> list[AlignedClause]:
    """For every clause of `plan_id`, its best match in each other plan.

    Exact rather than through FAISS: each other plan is a few hundred vectors, so one matrix
    product per plan is both exact and faster than k-NN with a per-plan filter. With `lexical`,
    the best match is the top of the reciprocal-rank fusion of the dense and the BM25 ranking
    within that plan; the score shown is always the cosine.
    """
    only, exclude = _plans(only_plans), _plans(exclude_plans) or []
    corpus.check_plans([plan_id, *(only or []), *exclude])
    targets = [
        record.plan_id
        for record in corpus.plans()
        if record.plan_id != plan_id and (only is None or record.plan_id in only) and record.plan_id not in exclude
    ]
    clauses = corpus.clauses(plan_id)
    _, source_vectors = corpus.plan_vectors([plan_id])
    rows: list[AlignedClause] = [AlignedClause(hit_from_clause(clause, 1.0), {}) for clause in clauses]
    by_target = {target: corpus.plan_vectors([target]) for target in targets}
    # BM25 ranking of each target plan's clauses (as column numbers) for each clause of the plan.
    lexical_rankings: list[dict[str, list[int]]] = [{} for _ in clauses]
    if lexical and targets:
        column_of = {
            int(row_id): (target, column) for target, (ids, _) in by_target.items() for column, row_id in enumerate(ids)
        }
        for ranking, clause in zip(lexical_rankings, clauses, strict=True):
            limit = min(FUSION_CANDIDATES * len(targets), 5_000)  # ranks deeper than this add ~nothing
            for row_id, _ in corpus.search_lexical(clause.match_text, limit, only_plans=targets):
                target, column = column_of[row_id]
                ranking.setdefault(target, []).append(column)
    for target, (ids, vectors) in by_target.items():
        if len(ids) == 0:
            for row in rows:
                row.matches[target] = None
            continue
        similarity = source_vectors @ vectors.T
        choices = []
        for i, ranking in enumerate(lexical_rankings):
            if lexical:
                dense_ranking = np.argsort(-similarity[i], kind="stable").tolist()
                fused = reciprocal_rank_fusion(dense_ranking, ranking.get(target, []))
                column = max(fused, key=lambda j, fused=fused, i=i: (fused[j], similarity[i, j]))
            else:
                column = int(similarity[i].argmax())
            choices.append((int(ids[column]), float(similarity[i, column])))
        target_clauses = corpus.clauses_by_row_id(row_id for row_id, _ in choices)
        for row, (row_id, score) in zip(rows, choices, strict=True):
            keep = min_score is None or score >= min_score
            row.matches[target] = hit_from_clause(target_clauses[row_id], score) if keep else None
    return rows
