"""Retrieval: recall@k and MRR of clause search against a gold file's expected clauses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan.errors import EvalError
from semplan.evaluation.clustering import DEFAULT_SEED
from semplan.evaluation.data import text_table
from semplan.evaluation.gold import GoldAnchors, contains_offset, gold_plans, query_language
from semplan.evaluation.themes import ThemeResult, evaluate_themes

if TYPE_CHECKING:
    from semplan.cluster import PriorityAnalysis
    from semplan.search import Searcher
    from semplan.store import Corpus

DEFAULT_KS = (5, 10)
QUERY_MODES = ("clause", "text")
_SEARCH_DEFAULTS = {None: "search defaults", True: "dense + BM25", False: "dense only"}


@dataclass
class QueryOutcome:
    """One gold query: where each expected clause ranked (None: not in the top k)."""

    query_id: str
    group: str  # "queries" or "paraphrase:<lang>"
    mode: str  # "clause" (searched with the stored clause) or "text" (encoded as a query)
    expected: list[tuple[str, str | None]]  # (plan, clause id holding the snippet, or None)
    ranks: list[int | None]  # 1-based rank of each expected clause among the hits
    top_score: float | None  # score of the best hit

    def recall_at(self, k: int) -> float:
        return sum(1 for rank in self.ranks if rank is not None and rank <= k) / len(self.ranks)

    @property
    def reciprocal_rank(self) -> float:
        found = [rank for rank in self.ranks if rank is not None]
        return 1.0 / min(found) if found else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.query_id,
            "group": self.group,
            "mode": self.mode,
            "expected": [{"plan": plan, "clause_id": clause_id} for plan, clause_id in self.expected],
            "ranks": self.ranks,
            "top_score": None if self.top_score is None else round(self.top_score, 4),
        }


@dataclass
class RetrievalScores:
    group: str
    n_queries: int
    n_expected: int
    recall: dict[int, float]  # k → mean recall@k over queries
    mrr: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "n_queries": self.n_queries,
            "n_expected": self.n_expected,
            **{f"recall@{k}": round(value, 4) for k, value in self.recall.items()},
            "mrr": round(self.mrr, 4),
        }


@dataclass
class RetrievalResult:
    model: str
    k: int
    ks: tuple[int, ...]
    lexical: bool | None  # None: each search function's default
    groups: list[RetrievalScores]  # "queries", then "paraphrase:<lang>" per language
    unique_queries: list[QueryOutcome]  # gold queries with no match in any other plan
    outcomes: list[QueryOutcome]
    offset_shifts: int
    themes: ThemeResult | None = None

    def group(self, name: str) -> RetrievalScores:
        for scores in self.groups:
            if scores.group == name:
                return scores
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "retrieval",
            "model": self.model,
            "k": self.k,
            "lexical": self.lexical,
            "groups": [scores.to_dict() for scores in self.groups],
            "unique_queries": [
                {
                    "id": outcome.query_id,
                    "top_score": None if outcome.top_score is None else round(outcome.top_score, 4),
                }
                for outcome in self.unique_queries
            ],
            "offset_shifts": self.offset_shifts,
            "themes": None if self.themes is None else self.themes.to_dict(),
            "queries": [outcome.to_dict() for outcome in self.outcomes],
        }

    def lines(self, gold: str, index: str) -> list[str]:
        """A heading naming the `gold` file and the `index`, the scores by query group, then notes."""
        how = _SEARCH_DEFAULTS[self.lexical]
        lines = [f"retrieval  {gold}  (index {index}; {self.model}, {how}; top {self.k})"]
        rows = [("set", "queries", "expected", *(f"recall@{cutoff}" for cutoff in self.ks), "MRR")]
        for scores in self.groups:
            recalls = (f"{scores.recall[cutoff]:.3f}" for cutoff in self.ks)
            counts = (str(scores.n_queries), str(scores.n_expected))
            rows.append((scores.group, *counts, *recalls, f"{scores.mrr:.3f}"))
        lines.append(text_table(rows))
        if self.unique_queries:
            scores_text = ", ".join(
                f"{outcome.query_id} {outcome.top_score:.3f}" if outcome.top_score is not None
                else outcome.query_id
                for outcome in self.unique_queries
            )
            lines.append(f"unique queries (no gold match; best score in other plans): {scores_text}")
        if self.offset_shifts:
            lines.append(
                f"note: {self.offset_shifts} gold offsets did not match the indexed text and were relocated"
            )
        if self.themes is not None:
            lines.append(self.themes.summary())
        return lines


def _summarise(group: str, outcomes: Sequence[QueryOutcome], ks: Sequence[int]) -> RetrievalScores:
    return RetrievalScores(
        group=group,
        n_queries=len(outcomes),
        n_expected=sum(len(outcome.ranks) for outcome in outcomes),
        recall={k: float(np.mean([outcome.recall_at(k) for outcome in outcomes])) for k in ks},
        mrr=float(np.mean([outcome.reciprocal_rank for outcome in outcomes])),
    )


def _ranks(hits: Sequence[Any], targets: Sequence[tuple[str, int]]) -> list[int | None]:
    """1-based rank of the first hit whose spans contain each (plan, offset) target."""
    ranks: list[int | None] = []
    for plan_id, offset in targets:
        rank = None
        for position, hit in enumerate(hits, start=1):
            if hit.plan_id == plan_id and contains_offset(hit, offset):
                rank = position
                break
        ranks.append(rank)
    return ranks


def _search(
    searcher: Searcher,
    text: str | None = None,
    *,
    clause_id: str | None = None,
    k: int,
    exclude_plans: list[str] | None = None,
    lexical: bool | None = None,
) -> list[Any]:
    """The index's hits for a free text or a stored clause, as `semplan similar` finds them.

    The one call into the search here. `lexical=None` passes no option at all, so the search
    keeps its own default.
    """
    from semplan.search import PlanFilter

    options: dict[str, Any] = {} if lexical is None else {"lexical": lexical}
    if exclude_plans is not None:
        options["plans"] = PlanFilter(exclude=tuple(exclude_plans))
    if clause_id is not None:
        return searcher.by_clause(clause_id, k=k, **options)
    return searcher.by_text(text, k=k, **options)


def _anchored_targets(
    anchors: GoldAnchors, items: Sequence[tuple[str, str, int]], what: str
) -> tuple[list[tuple[str, int]], list[tuple[str, str | None]]]:
    """(plan, snippet, offset) gold items → the (plan, offset) a hit must contain, and the expected
    (plan, clause id) for the JSON output."""
    targets: list[tuple[str, int]] = []
    expected: list[tuple[str, str | None]] = []
    for plan_id, snippet, offset in items:
        target, clause = anchors.anchor(plan_id, snippet, offset, what)
        targets.append((plan_id, target))
        expected.append((plan_id, clause.clause_id if clause is not None else None))
    return targets, expected


def evaluate_retrieval(
    corpus: Corpus,
    gold: dict[str, Any],
    *,
    k: int = 10,
    queries_as: str = "clause",
    themes: bool = True,
    seed: int = DEFAULT_SEED,
    analysis: PriorityAnalysis | None = None,
    lexical: bool | None = None,
    searcher: Searcher | None = None,
) -> RetrievalResult:
    """Recall@5/@k and MRR of the gold's `queries` and `paraphrase_queries`, and (with `themes`) the
    agreement of the priority tiers with its `themes` (see `evaluate_themes`).

    `queries`: each is a verbatim clause of `source_plan`. With `queries_as="clause"` (the default)
    the index is searched with the stored clause holding `query_offset` — what `semplan similar
    --clause` does, and how the report matches clauses, passage against passage; with "text" the
    query string is encoded as a query. Either way the source plan is excluded and a hit is a
    returned clause whose spans contain an expected snippet's offset in that plan. Queries with no
    expected match (unique to their plan) have no recall; their best score is reported instead.

    `paraphrase_queries`: free text, encoded as queries, over all plans; grouped by language.
    `lexical` turns BM25 over character bigrams on or off in every search (see `semplan.search`);
    None keeps each search function's own default, i.e. what `semplan similar` does.
    """
    if queries_as not in QUERY_MODES:
        raise EvalError(f"queries_as must be one of {', '.join(QUERY_MODES)}, got {queries_as!r}")
    if k < 1:
        raise EvalError(f"k must be at least 1, got {k}")
    ks = tuple(sorted({cutoff for cutoff in (*DEFAULT_KS, k) if cutoff <= k}))
    if searcher is None:
        from semplan.search import Searcher

        searcher = Searcher(corpus)
    anchors = GoldAnchors(corpus)
    anchors.check_plans(gold_plans(gold))

    outcomes: list[QueryOutcome] = []
    unique_queries: list[QueryOutcome] = []
    for query in gold.get("queries", []):
        what = f"query {query['id']}"
        targets, expected = _anchored_targets(
            anchors,
            [
                (match["plan"], snippet, int(offset))
                for match in query["matches"]
                for snippet, offset in zip(match["snippets"], match["offsets"], strict=True)
            ],
            what,
        )
        source = None
        if queries_as == "clause":
            _, source = anchors.anchor(query["source_plan"], query["query"], int(query["query_offset"]), what)
        exclude = [query["source_plan"]]
        if source is not None:
            hits = _search(searcher, clause_id=source.clause_id, k=k, exclude_plans=exclude, lexical=lexical)
        else:
            hits = _search(searcher, query["query"], k=k, exclude_plans=exclude, lexical=lexical)
        outcome = QueryOutcome(
            query_id=query["id"],
            group="queries",
            mode="clause" if source is not None else "text",
            expected=expected,
            ranks=_ranks(hits, targets),
            top_score=float(hits[0].score) if hits else None,
        )
        (outcomes if targets else unique_queries).append(outcome)

    for query in gold.get("paraphrase_queries", []):
        targets, expected = _anchored_targets(
            anchors,
            [(item["plan"], item["snippet"], int(item["offset"])) for item in query["expected_top5"]],
            f"paraphrase query {query['id']}",
        )
        if not targets:
            continue
        hits = _search(searcher, query["query"], k=k, lexical=lexical)
        outcomes.append(
            QueryOutcome(
                query_id=query["id"],
                group=f"paraphrase:{query_language(query)}",
                mode="text",
                expected=expected,
                ranks=_ranks(hits, targets),
                top_score=float(hits[0].score) if hits else None,
            )
        )

    group_names = list(dict.fromkeys(outcome.group for outcome in outcomes))
    groups = [
        _summarise(name, [outcome for outcome in outcomes if outcome.group == name], ks)
        for name in sorted(group_names, key=lambda name: (name != "queries", name))
    ]
    theme_result = None
    if themes and gold.get("themes"):
        theme_result = evaluate_themes(corpus, gold, seed=seed, analysis=analysis, anchors=anchors)
    return RetrievalResult(
        model=str(corpus.model_identity.get("model", "?")),
        k=k,
        ks=ks,
        lexical=lexical,
        groups=groups,
        unique_queries=unique_queries,
        outcomes=outcomes + unique_queries,
        offset_shifts=anchors.offset_shifts,
        themes=theme_result,
    )
