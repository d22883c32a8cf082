"""Quality on labelled data: sentence similarity (STS), clustering, retrieval and priority themes.

Three evaluations, each a pure function over already-loaded inputs plus a reader for its file format:

- `evaluate_sts(pairs, encoder)`: Spearman and Pearson correlation of cosine similarity with human
  scores (`sentence1<TAB>sentence2<TAB>score`, `read_sts_pairs`).
- `evaluate_clustering(texts, encoder)`: semplan's own clusterer (UMAP + HDBSCAN) and, as a yardstick,
  k-means told the true number of classes; V-measure, NMI, ARI and the share of outliers
  (`text<TAB>label`, `read_labelled_texts`).
- `evaluate_retrieval(corpus, gold)` and `evaluate_themes(corpus, gold)`: an index against a gold file
  in the format of tests/data/dev-gold.json (`load_gold`): recall@k and MRR of cross-plan clause search
  and of free-text queries, and how well the priority tiers reproduce the gold themes' plan sets.

Gold offsets are character offsets into the raw UTF-8 file; clause spans index the decoded text. For
a UTF-8 file without BOM or CRLF line ends the two are the same string, so the offsets agree. Each
snippet is checked against the index's stored source text; if it is not at its offset (a BOM or CR
dropped by the reader shifts everything after it) the nearest occurrence is used and counted in
`offset_shifts`, and a snippet found nowhere means the gold describes another version of the plan:
that is an `EvalError`, not a silent zero.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan.errors import SemplanError

if TYPE_CHECKING:
    from semplan.cluster import PriorityAnalysis
    from semplan.encode import Encoder
    from semplan.segment import Clause
    from semplan.store import Corpus

DEFAULT_KS = (5, 10)
DEFAULT_SEED = 42
QUERY_MODES = ("clause", "text")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")


class EvalError(SemplanError):
    """A labelled-data file is malformed or does not fit the index it is evaluated against."""


# ---------------------------------------------------------------- reading labelled files


@dataclass(frozen=True)
class SentencePair:
    sentence1: str
    sentence2: str
    score: float
    line: int  # 1-based line in the source file, for error messages


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: str
    line: int


def _tsv_rows(path: str | Path, n_fields: int, layout: str) -> Iterable[tuple[int, list[str]]]:
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EvalError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EvalError(f"{path}: is a directory, expected a {layout} file") from None
    except UnicodeDecodeError as error:
        raise EvalError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise EvalError(f"{path}: cannot read ({error.strerror or error})") from None
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != n_fields:
            raise EvalError(
                f"{path}:{number}: expected {n_fields} tab-separated fields ({layout}), got {len(fields)}"
            )
        fields = [value.strip() for value in fields]
        if not all(fields):
            raise EvalError(f"{path}:{number}: empty field ({layout})")
        yield number, fields


def read_sentence_pairs(path: str | Path) -> list[SentencePair]:
    """`sentence1<TAB>sentence2<TAB>score` lines, no header; blank lines and `#` comments are skipped."""
    pairs = []
    for number, (first, second, score_text) in _tsv_rows(path, 3, "sentence1<TAB>sentence2<TAB>score"):
        try:
            score = float(score_text)
        except ValueError:
            raise EvalError(f"{path}:{number}: score {score_text!r} is not a number") from None
        if not math.isfinite(score):
            raise EvalError(f"{path}:{number}: score {score_text!r} is not a finite number")
        pairs.append(SentencePair(first, second, score, number))
    if not pairs:
        raise EvalError(f"{path}: no sentence pairs")
    return pairs


def read_labelled_texts(path: str | Path) -> list[LabelledText]:
    """`text<TAB>label` lines, no header; blank lines and `#` comments are skipped."""
    texts = [
        LabelledText(text, label, number) for number, (text, label) in _tsv_rows(path, 2, "text<TAB>label")
    ]
    if not texts:
        raise EvalError(f"{path}: no labelled texts")
    return texts


# ---------------------------------------------------------------- STS


@dataclass
class StsResult:
    n_pairs: int
    spearman: float
    pearson: float
    model: str
    backend: str
    role: str = "passage"
    # (languages, e.g. "zh-zh" or "en-zh", n pairs, spearman, pearson) for each language pairing
    # with enough varied pairs to correlate: a multilingual model can rank well within a language
    # and still place every translation below every same-language pair.
    by_languages: list[tuple[str, int, float, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "sts",
            "model": self.model,
            "backend": self.backend,
            "role": self.role,
            "n_pairs": self.n_pairs,
            "spearman": round(self.spearman, 4),
            "pearson": round(self.pearson, 4),
            "by_languages": [
                {"languages": languages, "n_pairs": n, "spearman": round(rho, 4), "pearson": round(r, 4)}
                for languages, n, rho, r in self.by_languages
            ],
        }


def _correlations(cosines: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    from scipy.stats import pearsonr, spearmanr

    return float(spearmanr(cosines, scores).statistic), float(pearsonr(cosines, scores).statistic)


def evaluate_sts(pairs: Sequence[SentencePair], encoder: Encoder, role: str = "clause") -> StsResult:
    """Correlation of the cosine similarity of each pair with its human score, overall and by the
    languages of the two sentences (see `text_language`).

    Both sentences are encoded in the same `role`. Asymmetric prompts ("query: " on one side,
    "passage: " on the other) are for short questions against longer answers; a similarity pair is
    symmetric, and giving its two sides different prompts would make cos(a, b) differ from cos(b, a).
    The default is "clause" because that is how semplan encodes every stored clause, so the figure
    measures the similarity semplan computes when it matches clauses (for e5 that is its "query: "
    prompt on both sides, as its model card suggests for similarity tasks).
    """
    from semplan.encode import ROLES

    if role not in ROLES:
        raise EvalError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if len(pairs) < 3:
        raise EvalError(f"need at least 3 sentence pairs for a correlation, got {len(pairs)}")
    scores = np.array([pair.score for pair in pairs], dtype=np.float64)
    if np.ptp(scores) == 0:
        raise EvalError("every pair has the same score; a correlation needs varied scores")
    first = encoder.encode([pair.sentence1 for pair in pairs], role)
    second = encoder.encode([pair.sentence2 for pair in pairs], role)
    cosines = np.einsum("ij,ij->i", first.astype(np.float64), second.astype(np.float64))
    spearman, pearson = _correlations(cosines, scores)

    pairings = np.array(
        ["-".join(sorted((text_language(pair.sentence1), text_language(pair.sentence2)))) for pair in pairs]
    )
    by_languages = []
    for languages in sorted(set(pairings.tolist())):
        chosen = pairings == languages
        if chosen.sum() >= 3 and np.ptp(scores[chosen]) > 0:
            rho, r = _correlations(cosines[chosen], scores[chosen])
            by_languages.append((languages, int(chosen.sum()), rho, r))
    return StsResult(
        len(pairs), spearman, pearson, encoder.spec.name, encoder.backend_name, role, by_languages
    )


# ---------------------------------------------------------------- clustering


@dataclass
class ClusteringScores:
    """Scores of one method; over several seeded runs, their means and (in `sd`) standard deviations."""

    method: str
    n_clusters: float
    v_measure: float
    nmi: float
    ari: float
    outlier_share: float
    runs: int = 1
    sd: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "runs": self.runs,
            "n_clusters": round(self.n_clusters, 2),
            "v_measure": round(self.v_measure, 4),
            "nmi": round(self.nmi, 4),
            "ari": round(self.ari, 4),
            "outlier_share": round(self.outlier_share, 4),
            "sd": {metric: round(value, 4) for metric, value in self.sd.items()},
        }


_METRICS = ("n_clusters", "v_measure", "nmi", "ari", "outlier_share")


def mean_scores(runs: Sequence[ClusteringScores]) -> ClusteringScores:
    """Means and standard deviations of several runs of one method."""
    values = {
        metric: np.array([getattr(run, metric) for run in runs], dtype=np.float64) for metric in _METRICS
    }
    return ClusteringScores(
        method=runs[0].method,
        **{metric: float(column.mean()) for metric, column in values.items()},
        runs=len(runs),
        sd={metric: float(column.std()) for metric, column in values.items()},
    )


@dataclass
class ClusteringResult:
    n_texts: int
    n_classes: int
    model: str
    backend: str
    methods: list[ClusteringScores]
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "clustering",
            "model": self.model,
            "backend": self.backend,
            "n_texts": self.n_texts,
            "n_classes": self.n_classes,
            "parameters": self.parameters,
            "methods": [scores.to_dict() for scores in self.methods],
        }


def score_clustering(method: str, true_labels: Sequence[str], predicted: np.ndarray) -> ClusteringScores:
    """V-measure, NMI and ARI of `predicted` (-1 = outlier) against `true_labels`.

    Each outlier counts as a cluster of its own. Dropping outliers instead would let a clusterer
    score perfectly by declaring every hard text an outlier; as singletons they cost completeness,
    and `outlier_share` says how many there were.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

    predicted = np.asarray(predicted, dtype=np.int64).copy()
    outliers = predicted < 0
    next_label = int(predicted.max()) + 1 if predicted.size else 0
    predicted[outliers] = np.arange(next_label, next_label + int(outliers.sum()))
    truth = list(true_labels)
    return ClusteringScores(
        method=method,
        n_clusters=len(set(predicted[~outliers].tolist())),
        v_measure=float(v_measure_score(truth, predicted)),
        nmi=float(normalized_mutual_info_score(truth, predicted)),
        ari=float(adjusted_rand_score(truth, predicted)),
        outlier_share=float(outliers.mean()) if predicted.size else 0.0,
    )


def evaluate_clustering(
    texts: Sequence[LabelledText],
    encoder: Encoder,
    *,
    min_cluster_size: int | None = None,
    n_neighbors: int | None = None,
    seed: int = DEFAULT_SEED,
    runs: int = 5,
) -> ClusteringResult:
    """Cluster the texts with semplan's PriorityClusterer and with k-means (k = true number of classes),
    `runs` times with seeds `seed`, `seed + 1`, ...; scores are means over the runs.

    Several seeds because on a few dozen texts one UMAP seed can move V-measure by 0.3 or more
    (measured on tests/data/clustering-sample.tsv), so a single run says little. k-means is told
    the answer's size, which semplan never is: a yardstick for the vectors, not a rival method.
    For a small sample the clusterer's neighbourhood is narrowed to about one class's size
    (n / classes, 5 to 15): with UMAP's 15 neighbours, 42 texts in 6 classes collapsed into two
    clusters for some seeds.
    """
    from sklearn.cluster import KMeans

    from semplan.cluster import PriorityClusterer

    if runs < 1:
        raise EvalError(f"runs must be at least 1, got {runs}")
    labels = [item.label for item in texts]
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise EvalError(f"need at least 2 classes to evaluate clustering, got {len(classes)}")
    vectors = encoder.encode_clauses([item.text for item in texts])
    if n_neighbors is None:
        n_neighbors = max(5, min(15, round(len(texts) / len(classes))))
    semplan_runs, kmeans_runs = [], []
    for run_seed in range(seed, seed + runs):
        clusterer = PriorityClusterer(
            min_cluster_size=min_cluster_size, n_neighbors=n_neighbors, random_state=run_seed
        )
        semplan_runs.append(score_clustering("semplan", labels, clusterer.fit(vectors).labels_))
        kmeans = KMeans(n_clusters=len(classes), n_init=10, random_state=run_seed)
        kmeans_runs.append(score_clustering("kmeans", labels, kmeans.fit_predict(vectors)))
    return ClusteringResult(
        n_texts=len(texts),
        n_classes=len(classes),
        model=encoder.spec.name,
        backend=encoder.backend_name,
        methods=[mean_scores(semplan_runs), mean_scores(kmeans_runs)],
        parameters={
            "min_cluster_size": int(clusterer.min_cluster_size_),
            "min_samples": int(clusterer.min_samples_),
            "n_neighbors": int(clusterer.n_neighbors_),
            "seeds": list(range(seed, seed + runs)),
        },
    )


# ---------------------------------------------------------------- gold files


def load_gold(path: str | Path) -> dict[str, Any]:
    """A gold file in the format of tests/data/dev-gold.json, checked enough to give one-line errors."""
    path = Path(path)
    try:
        gold = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EvalError(f"{path}: is a directory, expected a gold JSON file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EvalError(f"{path}: not a JSON file ({error})") from None
    if not isinstance(gold, dict) or not any(
        key in gold for key in ("queries", "paraphrase_queries", "themes")
    ):
        raise EvalError(f"{path}: not a gold file (no queries, paraphrase_queries or themes)")
    try:
        for query in gold.get("queries", []):
            _ = (query["id"], query["source_plan"], query["query"], int(query["query_offset"]))
            for match in query["matches"]:
                if len(match["snippets"]) != len(match["offsets"]):
                    raise EvalError(f"{path}: query {query['id']}: snippets and offsets differ in number")
        for query in gold.get("paraphrase_queries", []):
            _ = (query["id"], query["query"])
            for expected in query["expected_top5"]:
                _ = (expected["plan"], expected["snippet"], int(expected["offset"]))
        for theme in gold.get("themes", []):
            _ = (theme["id"], theme["tier"])
            for plan_entry in theme["plans"].values():
                if plan_entry.get("addresses"):
                    _ = (plan_entry["snippet"], int(plan_entry["offset"]))
    except (KeyError, TypeError, ValueError) as error:
        raise EvalError(f"{path}: malformed gold entry (missing or bad field {error})") from None
    return gold


def gold_plans(gold: dict[str, Any]) -> set[str]:
    """Every plan id the gold file refers to."""
    plans = set(gold.get("files", {}))
    for query in gold.get("queries", []):
        plans.add(query["source_plan"])
        plans.update(match["plan"] for match in query["matches"])
    for query in gold.get("paraphrase_queries", []):
        plans.update(expected["plan"] for expected in query["expected_top5"])
    for theme in gold.get("themes", []):
        plans.update(theme["plans"])
    return plans


def text_language(text: str) -> str:
    """Language of a text: "zh" when it has more CJK ideographs than Latin-script words, else "en".

    Words, not letters, on the Latin side: one ideograph carries about as much as one English word,
    so "落实双减 (double reduction)" is Chinese with a gloss, not English.
    """
    ideographs = len(_CJK.findall(text))
    latin_words = len(_LATIN_WORD.findall(text))
    return "zh" if ideographs > latin_words else "en"


def query_language(query: dict[str, Any]) -> str:
    """The gold query's `lang` field, else its `text_language`."""
    return str(query["lang"]) if query.get("lang") else text_language(query["query"])


class _Anchors:
    """Gold snippets → offsets in the index's decoded texts → the clauses holding them."""

    def __init__(self, corpus: Corpus):
        self.corpus = corpus
        self.offset_shifts = 0
        self._clauses: dict[str, list[Clause]] = {}
        self._plan_ids = {record.plan_id for record in corpus.plans()}

    def check_plans(self, plans: Iterable[str]) -> None:
        missing = sorted(set(plans) - self._plan_ids)
        if missing:
            raise EvalError(
                f"the index lacks plan(s) the gold file refers to: {', '.join(missing)} "
                f"(indexed: {', '.join(sorted(self._plan_ids)) or 'none'})"
            )

    def offset(self, plan_id: str, snippet: str, offset: int, what: str) -> int:
        """Where `snippet` starts in the decoded text: at `offset`, or at its nearest occurrence."""
        text = self.corpus.source_text(plan_id)
        if text[offset : offset + len(snippet)] == snippet:
            return offset
        starts = [match.start() for match in re.finditer(re.escape(snippet), text)]
        if not starts:
            raise EvalError(
                f"{what}: snippet {snippet!r} is not in plan {plan_id} as indexed "
                "(was the index built from another version of the file?)"
            )
        self.offset_shifts += 1
        return min(starts, key=lambda start: abs(start - offset))

    def anchor(self, plan_id: str, snippet: str, offset: int, what: str) -> tuple[int, Clause | None]:
        """The clause holding a gold snippet, and an offset inside it that a hit's spans must contain
        (the snippet's own start, or the clause's when the snippet begins outside every clause)."""
        start = self.offset(plan_id, snippet, offset, what)
        clause = self.clause_at(plan_id, start, len(snippet))
        return (clause.spans[0][0] if clause is not None and not _contains(clause, start) else start), clause

    def clauses(self, plan_id: str) -> list[Clause]:
        if plan_id not in self._clauses:
            self._clauses[plan_id] = self.corpus.clauses(plan_id)
        return self._clauses[plan_id]

    def clause_at(self, plan_id: str, start: int, length: int) -> Clause | None:
        """The clause whose spans contain `start`; failing that (the snippet begins in text the
        segmenter left out, such as a list marker), the first clause overlapping the snippet."""
        end = start + max(length, 1)
        overlapping = None
        for clause in self.clauses(plan_id):
            if _contains(clause, start):
                return clause
            for span_start, span_end in clause.spans:
                if overlapping is None and span_start < end and start < span_end:
                    overlapping = clause
        return overlapping


# ---------------------------------------------------------------- retrieval


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


def _summarise(group: str, outcomes: Sequence[QueryOutcome], ks: Sequence[int]) -> RetrievalScores:
    return RetrievalScores(
        group=group,
        n_queries=len(outcomes),
        n_expected=sum(len(outcome.ranks) for outcome in outcomes),
        recall={k: float(np.mean([outcome.recall_at(k) for outcome in outcomes])) for k in ks},
        mrr=float(np.mean([outcome.reciprocal_rank for outcome in outcomes])),
    )


def _contains(spanned: Any, offset: int) -> bool:
    """Whether a Clause's or a Hit's half-open spans contain `offset`."""
    return any(start <= offset < end for start, end in spanned.spans)


def _ranks(hits: Sequence[Any], targets: Sequence[tuple[str, int]]) -> list[int | None]:
    """1-based rank of the first hit whose spans contain each (plan, offset) target."""
    ranks: list[int | None] = []
    for plan_id, offset in targets:
        rank = None
        for position, hit in enumerate(hits, start=1):
            if hit.plan == plan_id and _contains(hit, offset):
                rank = position
                break
        ranks.append(rank)
    return ranks


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
    options = {} if lexical is None else {"lexical": lexical}
    if queries_as not in QUERY_MODES:
        raise EvalError(f"queries_as must be one of {', '.join(QUERY_MODES)}, got {queries_as!r}")
    if k < 1:
        raise EvalError(f"k must be at least 1, got {k}")
    ks = tuple(sorted({cutoff for cutoff in (*DEFAULT_KS, k) if cutoff <= k}))
    anchors = _Anchors(corpus)
    anchors.check_plans(gold_plans(gold))

    outcomes: list[QueryOutcome] = []
    unique_queries: list[QueryOutcome] = []
    for query in gold.get("queries", []):
        what = f"query {query['id']}"
        targets: list[tuple[str, int]] = []
        expected: list[tuple[str, str | None]] = []
        for match in query["matches"]:
            for snippet, offset in zip(match["snippets"], match["offsets"], strict=True):
                target, clause = anchors.anchor(match["plan"], snippet, int(offset), what)
                targets.append((match["plan"], target))
                expected.append((match["plan"], clause.clause_id if clause is not None else None))
        source = None
        if queries_as == "clause":
            _, source = anchors.anchor(query["source_plan"], query["query"], int(query["query_offset"]), what)
        if source is not None:
            hits = corpus.similar(
                clause=source.clause_id, k=k, exclude_plans=[query["source_plan"]], **options
            )
            mode = "clause"
        else:
            hits = corpus.similar(query["query"], k=k, exclude_plans=[query["source_plan"]], **options)
            mode = "text"
        outcome = QueryOutcome(
            query_id=query["id"],
            group="queries",
            mode=mode,
            expected=expected,
            ranks=_ranks(hits, targets),
            top_score=float(hits[0].score) if hits else None,
        )
        (outcomes if targets else unique_queries).append(outcome)

    for query in gold.get("paraphrase_queries", []):
        what = f"paraphrase query {query['id']}"
        targets, expected = [], []
        for item in query["expected_top5"]:
            target, clause = anchors.anchor(item["plan"], item["snippet"], int(item["offset"]), what)
            targets.append((item["plan"], target))
            expected.append((item["plan"], clause.clause_id if clause is not None else None))
        if not targets:
            continue
        hits = corpus.similar(query["query"], k=k, **options)
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


# ---------------------------------------------------------------- themes


@dataclass
class ThemeOutcome:
    theme_id: str
    label: str
    gold_plans: tuple[str, ...]
    supporting: tuple[str, ...]  # clause ids holding the gold snippets
    priority_id: int | None  # the priority holding most supporting clauses (None: all outliers)
    predicted_plans: tuple[str, ...]
    jaccard: float
    gold_tier: str  # mapped onto semplan's tiers
    predicted_tier: str | None  # "unique" also when every supporting clause is an outlier
    flagged_unique: bool  # a gold-unique theme: its clause is flagged unique, or its priority is

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.theme_id,
            "label": self.label,
            "gold_plans": list(self.gold_plans),
            "supporting": list(self.supporting),
            "priority_id": self.priority_id,
            "predicted_plans": list(self.predicted_plans),
            "jaccard": round(self.jaccard, 4),
            "gold_tier": self.gold_tier,
            "predicted_tier": self.predicted_tier,
            "flagged_unique": self.flagged_unique,
        }


@dataclass
class ThemeResult:
    n_themes: int
    mean_jaccard: float
    mean_jaccard_shared: float  # over themes held by two plans or more
    tier_agreement: int  # themes whose priority has the gold tier
    n_unique: int  # gold themes held by one plan
    n_unique_flagged: int
    n_shared_flagged_unique: int  # supporting clauses of shared themes wrongly flagged unique
    n_priorities: int
    outlier_share: float
    outcomes: list[ThemeOutcome]
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_themes": self.n_themes,
            "mean_jaccard": round(self.mean_jaccard, 4),
            "mean_jaccard_shared": round(self.mean_jaccard_shared, 4),
            "tier_agreement": self.tier_agreement,
            "n_unique": self.n_unique,
            "n_unique_flagged": self.n_unique_flagged,
            "n_shared_flagged_unique": self.n_shared_flagged_unique,
            "n_priorities": self.n_priorities,
            "outlier_share": round(self.outlier_share, 4),
            "parameters": self.parameters,
            "themes": [outcome.to_dict() for outcome in self.outcomes],
        }


def evaluate_themes(
    corpus: Corpus,
    gold: dict[str, Any],
    *,
    seed: int = DEFAULT_SEED,
    analysis: PriorityAnalysis | None = None,
    anchors: _Anchors | None = None,
) -> ThemeResult:
    """How well semplan's priorities reproduce the gold themes' plan sets.

    Priorities come from `semplan.cluster.find_priorities` on the index's clauses and vectors (or a
    given `analysis` of them). For each theme, the supporting clauses are those holding its per-plan
    snippets; the priority holding most of them stands for the theme (ties: the widest one), and
    its plans are compared with the plans that address the theme (Jaccard). When every supporting
    clause is an outlier, the report shows the theme as said by one plan alone, so it stands as a
    one-plan "unique" set (as outliers count as singletons in `score_clustering`): right for a
    unique theme, 1/n for a theme n plans share. A gold-unique theme counts as flagged when its
    clause is reported as a unique clause (no match in any other plan) or sits in a unique-tier
    priority.
    """
    if anchors is None:
        anchors = _Anchors(corpus)
        anchors.check_plans(gold_plans(gold))
    # The gold names tiers by plan count ("all5", "four", ..., "unique"); cluster's own rule maps a
    # plan count onto semplan's tiers, so gold and prediction are named alike.
    from semplan.cluster import find_priorities, tier_for

    if analysis is None:
        analysis = find_priorities(corpus.clauses(), corpus.vectors(), seed=seed, map_2d=False)
    n_plans_total = len(analysis.plans)

    outcomes: list[ThemeOutcome] = []
    for theme in gold.get("themes", []):
        what = f"theme {theme['id']}"
        plans_addressing = tuple(plan for plan, entry in theme["plans"].items() if entry.get("addresses"))
        supporting: list[str] = []
        for plan_id in plans_addressing:
            entry = theme["plans"][plan_id]
            _, clause = anchors.anchor(plan_id, entry["snippet"], int(entry["offset"]), what)
            if clause is not None:
                supporting.append(clause.clause_id)
        votes = Counter(
            analysis.result(clause_id).priority_id
            for clause_id in supporting
            if analysis.result(clause_id).priority_id is not None
        )
        priority = None
        if votes:
            priority = min(
                (analysis.priority(priority_id) for priority_id in votes),
                key=lambda candidate: (-votes[candidate.priority_id], candidate.priority_id),
            )
        if priority is not None:
            predicted, predicted_tier = priority.plans, priority.tier
        elif supporting:
            predicted, predicted_tier = (analysis.result(supporting[0]).plan_id,), "unique"
        else:
            predicted, predicted_tier = (), None
        union = set(predicted) | set(plans_addressing)
        jaccard = len(set(predicted) & set(plans_addressing)) / len(union) if union else 1.0
        gold_tier = tier_for(len(plans_addressing), n_plans_total)
        flagged = gold_tier == "unique" and (
            any(analysis.result(clause_id).unique for clause_id in supporting)
            or (priority is not None and priority.tier == "unique")
        )
        outcomes.append(
            ThemeOutcome(
                theme_id=theme["id"],
                label=theme.get("label_zh") or theme.get("label") or theme["id"],
                gold_plans=plans_addressing,
                supporting=tuple(supporting),
                priority_id=None if priority is None else priority.priority_id,
                predicted_plans=predicted,
                jaccard=jaccard,
                gold_tier=gold_tier,
                predicted_tier=predicted_tier,
                flagged_unique=flagged,
            )
        )

    shared_jaccards = [outcome.jaccard for outcome in outcomes if outcome.gold_tier != "unique"]
    shared_supporting = [
        clause_id for outcome in outcomes if outcome.gold_tier != "unique" for clause_id in outcome.supporting
    ]
    return ThemeResult(
        n_themes=len(outcomes),
        mean_jaccard=float(np.mean([outcome.jaccard for outcome in outcomes])) if outcomes else 0.0,
        mean_jaccard_shared=float(np.mean(shared_jaccards)) if shared_jaccards else 0.0,
        tier_agreement=sum(1 for outcome in outcomes if outcome.predicted_tier == outcome.gold_tier),
        n_unique=sum(1 for outcome in outcomes if outcome.gold_tier == "unique"),
        n_unique_flagged=sum(1 for outcome in outcomes if outcome.flagged_unique),
        n_shared_flagged_unique=sum(
            1 for clause_id in shared_supporting if analysis.result(clause_id).unique
        ),
        n_priorities=len(analysis.priorities),
        outlier_share=len(analysis.outliers) / len(analysis.clauses) if analysis.clauses else 0.0,
        outcomes=outcomes,
        parameters=dict(analysis.parameters),
    )
