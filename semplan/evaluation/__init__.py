"""Quality on labelled data: sentence similarity (STS), clustering, retrieval and priority themes.

Each evaluation is a pure function over already-loaded inputs plus a reader for its file format,
and returns a result record with `to_dict()` (the JSON figures) and `lines()` (the text table):

- `evaluate_sts(pairs, encoder)` (`sts`): Spearman and Pearson correlation of cosine similarity
  with human scores (`sentence1<TAB>sentence2<TAB>score`, `read_sentence_pairs`).
- `evaluate_clustering(texts, encoder)` (`clustering`): semplan's own clusterer (UMAP + HDBSCAN)
  and, as a yardstick, k-means told the true number of classes; V-measure, NMI, ARI and the share
  of outliers (`text<TAB>label`, `read_labelled_texts`).
- `evaluate_retrieval(corpus, gold)` (`retrieval`) and `evaluate_themes(corpus, gold)` (`themes`):
  an index against a gold file in the format of tests/data/dev-gold.json (`load_gold`, `gold`):
  recall@k and MRR of cross-plan clause search and of free-text queries, and how well the priority
  tiers reproduce the gold themes' plan sets.

Malformed files, and gold files that do not fit the index, raise `semplan.errors.EvalError`.
"""

from __future__ import annotations

from semplan.evaluation.clustering import (
    DEFAULT_SEED,
    ClusteringResult,
    ClusteringScores,
    evaluate_clustering,
    mean_scores,
    score_clustering,
)
from semplan.evaluation.data import (
    LabelledText,
    SentencePair,
    read_labelled_texts,
    read_sentence_pairs,
    text_language,
)
from semplan.evaluation.gold import GoldAnchors, gold_plans, load_gold, query_language
from semplan.evaluation.retrieval import (
    DEFAULT_KS,
    QUERY_MODES,
    QueryOutcome,
    RetrievalResult,
    RetrievalScores,
    evaluate_retrieval,
)
from semplan.evaluation.sts import StsResult, evaluate_sts
from semplan.evaluation.themes import ThemeOutcome, ThemeResult, evaluate_themes, place_bound_priorities
from semplan.evaluation.verdicts import (
    LabelledPair,
    VerdictCalibration,
    calibrate_verdicts,
    read_clause_pairs,
    save_calibration,
)

__all__ = [
    "LabelledPair",
    "VerdictCalibration",
    "calibrate_verdicts",
    "read_clause_pairs",
    "save_calibration",
    "DEFAULT_KS",
    "DEFAULT_SEED",
    "QUERY_MODES",
    "ClusteringResult",
    "ClusteringScores",
    "GoldAnchors",
    "LabelledText",
    "QueryOutcome",
    "RetrievalResult",
    "RetrievalScores",
    "SentencePair",
    "StsResult",
    "ThemeOutcome",
    "ThemeResult",
    "evaluate_clustering",
    "evaluate_retrieval",
    "evaluate_sts",
    "evaluate_themes",
    "gold_plans",
    "load_gold",
    "mean_scores",
    "place_bound_priorities",
    "query_language",
    "read_labelled_texts",
    "read_sentence_pairs",
    "score_clustering",
    "text_language",
]
