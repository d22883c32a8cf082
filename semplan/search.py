"""Similar clauses: by free text, by a stored clause, and plan against plan, all through `Searcher.by_vectors`.

Scores are cosine similarities of the model's vectors (the stored clause vectors are L2-normalised;
a free-text query is normalised like a clause's matching text and encoded with the query prompt),
so `min_score` means the same in every mode.

Ranking is by the model's cosine. A lexical signal (BM25 over character bigrams of the matching
text, fused by reciprocal rank) is opt-in (`lexical=True`, `semplan similar --lexical`): once
clauses were encoded with the right prompt it stopped paying for itself (docs/index-design.md has
the measurements). Displayed scores stay cosines, so `min_score` keeps its meaning; the order is
the fused one. Free-text queries are expanded by pseudo-relevance feedback (on by default;
`feedback=False` turns it off): the order is the expanded query's, the scores the query's own.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from semplan.encode import Encoder
from semplan.errors import InputError, InvalidArgument
from semplan.mask import mask_names
from semplan.normalize import matching_text
from semplan.segment import Clause
from semplan.shared_terms import shared_terms
from semplan.store import ALL_PLANS, Corpus, PlanFilter
from semplan.verdict import calibration_for

__all__ = ["ALL_PLANS", "AlignedClause", "Hit", "PlanFilter", "Searcher", "context", "reciprocal_rank_fusion"]

# Reciprocal-rank fusion constant: the value of Cormack et al. (2009), not tuned here.
RRF_K = 60
# Dense and lexical candidates considered per query before fusion.
FUSION_CANDIDATES = 100
# Pseudo-relevance feedback for free-text queries (Rocchio's query expansion): the query vector
# plus FEEDBACK_WEIGHT × the mean of its FEEDBACK_HITS best clauses' vectors ranks the clauses.
# A plain-words query lands between the plans' idiom and everyday speech; its best hits pull it
# into the plans' idiom. Textbook values, not tuned here (docs/quality.md has the measurements).
FEEDBACK_HITS = 3
FEEDBACK_WEIGHT = 0.5


@dataclass(frozen=True)
class Hit:
    """One matching clause. `spans` are half-open offsets into the plan's decoded source text."""

    plan_id: str
    clause_id: str
    kind: str
    section_title: str | None
    item_title: str | None
    text: str
    spans: tuple[tuple[int, int], ...]
    score: float
    path: str = ""
    n: int = 0
    lexical_score: float | None = None  # BM25, when the lexical signal was used
    verdict: str | None = None  # same / related / different (semplan.verdict); None: model not calibrated
    shared_terms: tuple[str, ...] = ()  # words and numbers shared with the query (semplan.shared_terms)
    term_spans: tuple[tuple[int, int], ...] = ()  # where they are in `text`
    query_term_spans: tuple[tuple[int, int], ...] = ()  # and in the query's text

    @property
    def paraphrase(self) -> bool:
        """A `same` verdict with no shared content word: the model's judgement alone."""
        return self.verdict == "same" and not any(any(ch.isalpha() for ch in term) for term in self.shared_terms)

    def explained_by(self, query_text: str) -> Hit:
        """This hit with the terms it shares with `query_text` (the text shown for the query)."""
        shared = shared_terms(query_text, self.text)
        return replace(self, shared_terms=shared.terms, term_spans=shared.spans_b, query_term_spans=shared.spans_a)

    @classmethod
    def of(cls, clause: Clause, score: float, lexical_score: float | None = None) -> Hit:
        return cls(
            plan_id=clause.plan_id,
            clause_id=clause.clause_id,
            kind=clause.kind,
            section_title=clause.section_title,
            item_title=clause.item_title,
            text=clause.text,
            spans=tuple(tuple(span) for span in clause.spans),
            score=float(score),
            path=clause.path or "",
            n=clause.n,
            lexical_score=lexical_score,
        )

    def to_dict(self) -> dict[str, Any]:
        """The keys scripts read from `semplan similar --json` and `--csv` (plan, section, item, …)."""
        data = {
            "plan": self.plan_id,
            "clause_id": self.clause_id,
            "kind": self.kind,
            "section": self.section_title,
            "item": self.item_title,
            "text": self.text,
            "spans": [list(span) for span in self.spans],
            "score": round(self.score, 4),
            "path": self.path,
            "n": self.n,
            "verdict": self.verdict,
            "shared_terms": list(self.shared_terms),
            "paraphrase": self.paraphrase,
        }
        if self.lexical_score is not None:
            data["lexical_score"] = self.lexical_score
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


HIT_FRAME_COLUMNS = ("plan", "clause_id", "n", "kind", "section", "item", "path", "score", "verdict", "lexical_score",
                     "shared_terms", "paraphrase", "text")  # fmt: skip


def _hit_row(hit: Hit, prefix: str = "") -> dict[str, Any]:
    data = hit.to_dict()
    data["shared_terms"] = " ".join(hit.shared_terms)
    data["lexical_score"] = hit.lexical_score
    return {prefix + column: data[column] for column in HIT_FRAME_COLUMNS}


class Hits(list[Hit]):
    """A search's hits, best first: a list, with `to_frame()` for notebooks."""

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per hit (needs semplan[frames])."""
        from semplan._frames import data_frame

        return data_frame((_hit_row(hit) for hit in self), HIT_FRAME_COLUMNS)


class AlignedClauses(list[AlignedClause]):
    """`Searcher.align`'s rows: a list, with `to_frame()` in long form, as `similar --plan --csv` prints."""

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per (clause, other plan), columns of the match prefixed `match_`;
        a clause without a match in a plan has empty match columns (needs semplan[frames])."""
        from semplan._frames import data_frame

        empty = dict.fromkeys(f"match_{column}" for column in HIT_FRAME_COLUMNS)
        rows = []
        for row in self:
            own = {"clause_id": row.clause.clause_id, "plan": row.clause.plan_id, "n": row.clause.n,
                   "text": row.clause.text}  # fmt: skip
            for hit in row.matches.values():
                rows.append({**own, **(_hit_row(hit, "match_") if hit is not None else empty)})
        return data_frame(rows, ["clause_id", "plan", "n", "text", *empty])


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


@dataclass(frozen=True)
class Query:
    """One query of a batch: its id (given, or its line number) and its text."""

    query_id: str
    text: str


def read_queries(path: str | os.PathLike) -> list[Query]:
    """The queries of a file: one a line (its id is its line number; blank lines are skipped), or JSON Lines of
    `{"id": …, "text": …}` objects when the first non-blank line starts with `{` (an object without an id gets its
    line number). A missing, unreadable or empty file, a bad JSON line or a repeated id is an InputError naming the
    line."""
    name = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"{name}: cannot read the queries file ({error.strerror or error})") from error
    try:
        lines = raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise InputError(f"{name}: the queries file is not UTF-8 (byte {error.start})") from error
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise InputError(f"{name}: the queries file has no queries")
    if not numbered[0][1].lstrip().startswith("{"):
        queries = [Query(str(number), line.strip()) for number, line in numbered]
    else:
        queries = [_json_query(name, number, line) for number, line in numbered]
    seen: dict[str, int] = {}
    for (number, _), query in zip(numbered, queries, strict=True):
        if query.query_id in seen:
            raise InputError(f"{name} line {number}: query id {query.query_id!r} repeats line {seen[query.query_id]}")
        seen[query.query_id] = number
    return queries


def _json_query(name: str, number: int, line: str) -> Query:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"{name} line {number}: not valid JSON ({error.msg})") from error
    if not isinstance(record, dict):
        raise InputError(f"{name} line {number}: expected a JSON object with \"text\"")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{name} line {number}: \"text\" must be a non-empty string")
    query_id = record.get("id", number)
    if not isinstance(query_id, (str, int)) or isinstance(query_id, bool) or str(query_id) == "":
        raise InputError(f"{name} line {number}: \"id\" must be a non-empty string or a number")
    return Query(str(query_id), text)


def reciprocal_rank_fusion(*rankings: Sequence[int]) -> dict[int, float]:
    """Σ 1/(RRF_K + rank) over the rankings each id appears in (ranks from 1)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row_id in enumerate(ranking, start=1):
            fused[row_id] = fused.get(row_id, 0.0) + 1 / (RRF_K + rank)
    return fused


def _check_min_score(min_score: float | None) -> None:
    # A nan threshold passes every range check and keeps nothing: "no matches" would be a wrong answer.
    if min_score is not None and not -1 <= min_score <= 1:
        raise InvalidArgument(f"min_score must be a cosine score between -1 and 1, got {min_score}")


class Searcher:
    """Searches one open Corpus. `encoder` (needed for free-text queries only) defaults to the index's model.

    >>> searcher = Searcher(corpus)
    >>> searcher.by_text("课后服务", k=5, plans=PlanFilter(exclude=["city-2019"]))
    >>> searcher.by_clause("daqing-2021#12", k=5)
    >>> searcher.align("daqing-2021", min_score=0.85)
    """

    def __init__(self, corpus: Corpus, encoder: Encoder | None = None):
        self.corpus = corpus
        self._encoder = encoder

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = Encoder.for_index(self.corpus.model_identity, index=self.corpus.directory)
        return self._encoder

    def by_vectors(
        self,
        vectors: np.ndarray,
        k: int = 10,
        *,
        plans: PlanFilter = ALL_PLANS,
        min_score: float | None = None,
        lexical_texts: Sequence[str] | None = None,
        exclude_clauses: Iterable[str] = (),
    ) -> list[Hits]:
        """The one search path: for each query vector (one per row), its k nearest clauses within `plans`.

        `lexical_texts` (one matching text per query) turns on the lexical signal; `exclude_clauses`
        (clause ids) are never returned.
        """
        if k < 1:
            raise InvalidArgument(f"k must be at least 1, got {k}")
        _check_min_score(min_score)
        # FAISS allocates k results per query up front: k = 2**31 ended in std::bad_alloc. More hits
        # than clauses cannot exist anyway.
        k = min(k, max(1, len(self.corpus)))
        queries = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        excluded = set(self.corpus.row_ids(list(exclude_clauses)))
        wanted = max(k, FUSION_CANDIDATES) if lexical_texts is not None else k
        nearest = self.corpus.search_vectors(queries, wanted, plans=plans, exclude_row_ids=excluded)
        ranked_per_query = []
        for position, dense in enumerate(nearest):
            if lexical_texts is not None:
                ranked = self._fuse(queries[position], lexical_texts[position], dense, plans, excluded)
            else:
                ranked = [(row_id, score, None) for row_id, score in dense]
            if min_score is not None:
                ranked = [entry for entry in ranked if entry[1] >= min_score]
            ranked_per_query.append(ranked[:k])
        clauses = self.corpus.clauses_by_row_id(row_id for ranked in ranked_per_query for row_id, _, _ in ranked)
        calibration = calibration_for(self.corpus.model_identity)
        return [
            Hits(
                replace(Hit.of(clauses[row_id], score, lexical), verdict=calibration.verdict(score) if calibration else None)
                for row_id, score, lexical in ranked
                if row_id in clauses
            )
            for ranked in ranked_per_query
        ]

    def by_vector(self, vector: np.ndarray, k: int = 10, **options: Any) -> Hits:
        """`by_vectors` for one query vector."""
        return self.by_vectors(np.asarray(vector)[None, :], k, **options)[0]

    def by_text(
        self, text: str, k: int = 10, *, plans: PlanFilter = ALL_PLANS, min_score: float | None = None,
        lexical: bool = False, feedback: bool = True,
    ) -> Hits:
        """The k clauses closest to a free-text query (any language), best first.

        With `feedback` (pseudo-relevance feedback, see FEEDBACK_HITS) the order is that of the
        query expanded by its best hits; scores, verdicts and `min_score` stay the query's own cosines.
        """
        return self.by_texts([text], k, plans=plans, min_score=min_score, lexical=lexical, feedback=feedback)[0]

    def by_texts(
        self, texts: Sequence[str], k: int = 10, *, plans: PlanFilter = ALL_PLANS, min_score: float | None = None,
        lexical: bool = False, feedback: bool = True, query_ids: Sequence[str] | None = None,
    ) -> list[Hits]:
        """`by_text` for many queries at once: one encoder batch for all of them, so a script's
        hundred questions cost one model load. The answers are in the order of `texts`; `query_ids`
        name the queries in errors (default: their 1-based positions)."""
        if not texts:
            return []
        _check_min_score(min_score)
        self.corpus.check_plans(plans.named())
        query_texts = []
        names = [str(n) for n in range(1, len(texts) + 1)] if query_ids is None else list(query_ids)
        for name, text in zip(names, texts, strict=True):
            where = f"query {name}: " if len(texts) > 1 or query_ids is not None else ""
            if not text or not text.strip():
                raise InvalidArgument(f"{where}the query text is empty")
            query_text = mask_names(matching_text(text))  # as the clauses were encoded
            # A query of zero-width spaces or control characters normalises to (next to) nothing; its
            # "nearest" clauses would be noise presented as an answer.
            if not any(unicodedata.category(ch)[0] in "LN" for ch in query_text):
                raise InvalidArgument(f"{where}the query text has no letters or digits")
            query_texts.append(query_text)
        vectors = np.asarray(self.encoder.encode_queries(query_texts), dtype=np.float32)
        if feedback:
            answers = [
                self._with_feedback(vector, k, plans=plans, min_score=min_score,
                                    lexical_texts=[query_text] if lexical else None)
                for vector, query_text in zip(vectors, query_texts, strict=True)
            ]
        else:
            answers = self.by_vectors(vectors, k, plans=plans, min_score=min_score,
                                      lexical_texts=query_texts if lexical else None)
        return [Hits(hit.explained_by(text) for hit in hits) for text, hits in zip(texts, answers, strict=True)]

    def _with_feedback(
        self, vector: np.ndarray, k: int, *, plans: PlanFilter, min_score: float | None,
        lexical_texts: Sequence[str] | None,
    ) -> list[Hit]:
        """Hits ranked by `vector` expanded with its FEEDBACK_HITS best clauses, scored by `vector`."""
        best = self.by_vector(vector, FEEDBACK_HITS, plans=plans)
        if not best:
            return []
        expanded = vector + FEEDBACK_WEIGHT * self.corpus.vectors([hit.clause_id for hit in best]).mean(axis=0)
        expanded /= np.linalg.norm(expanded)
        hits = self.by_vector(expanded, k, plans=plans, lexical_texts=lexical_texts)
        cosines = self.corpus.vectors([hit.clause_id for hit in hits]) @ vector if hits else []
        calibration = calibration_for(self.corpus.model_identity)
        rescored = [
            replace(hit, score=float(score), verdict=calibration.verdict(float(score)) if calibration else None)
            for hit, score in zip(hits, cosines, strict=True)
        ]
        return [hit for hit in rescored if min_score is None or hit.score >= min_score]

    def by_clause(
        self, clause_id: str, k: int = 10, *, plans: PlanFilter = ALL_PLANS, min_score: float | None = None,
        lexical: bool = False,
    ) -> Hits:
        """The k clauses closest to a stored clause (`plan#n`), itself left out; other plans only
        unless `plans.include_own_plan` or `plans.only` names the clause's plan."""
        clause = self.corpus.clause(clause_id)
        self.corpus.check_plans(plans.named())
        vector = self.corpus.vectors([clause_id])[0]
        hits = self.by_vector(
            vector, k, plans=plans.for_clause_of(clause.plan_id), min_score=min_score,
            lexical_texts=[clause.match_text] if lexical else None, exclude_clauses=[clause_id],
        )
        return Hits(hit.explained_by(clause.text) for hit in hits)

    def align(
        self, plan_id: str, *, plans: PlanFilter = ALL_PLANS, min_score: float | None = None, lexical: bool = False,
        keep_different: bool = True,
    ) -> AlignedClauses:
        """For every clause of `plan_id`, its best match in each other plan within `plans`; with
        `keep_different=False` a best match whose verdict is `different` counts as none.

        One search per other plan, restricted to it, with all of the plan's clauses as queries: a
        plan is a few hundred vectors, so the store searches it exactly. The score shown is always
        the cosine, with `lexical` too.
        """
        self.corpus.check_plans([plan_id, *plans.named()])
        targets = [record.plan_id for record in self.corpus.plans() if record.plan_id != plan_id and plans.admits(record.plan_id)]
        clauses = self.corpus.clauses(plan_id)
        rows = AlignedClauses(AlignedClause(Hit.of(clause, 1.0), {}) for clause in clauses)
        if not clauses:
            return rows
        vectors = self.corpus.plan_vectors([plan_id])[1]
        lexical_texts = [clause.match_text for clause in clauses] if lexical else None
        for target in targets:
            best = self.by_vectors(vectors, 1, plans=PlanFilter(only=(target,)), min_score=min_score, lexical_texts=lexical_texts)
            for row, hits in zip(rows, best, strict=True):
                if hits and not keep_different and hits[0].verdict == "different":
                    hits = []
                row.matches[target] = replace(hits[0], lexical_score=None).explained_by(row.clause.text) if hits else None
        return rows

    def _fuse(
        self, query_vector: np.ndarray, query_text: str, dense: list[tuple[int, float]], plans: PlanFilter,
        excluded: set[int],
    ) -> list[tuple[int, float, float | None]]:
        """All candidates in fused order: reciprocal-rank fusion of the dense and the BM25 candidates.

        Scores stay cosines (computed from stored vectors for lexical-only candidates).
        """
        lexical = self.corpus.search_lexical(query_text, FUSION_CANDIDATES, plans=plans, exclude_row_ids=excluded)
        fused = reciprocal_rank_fusion([row_id for row_id, _ in dense], [row_id for row_id, _ in lexical])
        dense_scores = dict(dense)
        lexical_scores = dict(lexical)
        missing = [row_id for row_id in fused if row_id not in dense_scores]
        for row_id, vector in self.corpus.vectors_by_row_id(missing).items():
            dense_scores[row_id] = float(vector @ query_vector)
        best = sorted(fused, key=lambda row_id: (-fused[row_id], -dense_scores[row_id]))
        return [(row_id, dense_scores[row_id], lexical_scores.get(row_id, 0.0)) for row_id in best]
