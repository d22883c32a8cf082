"""Sentence similarity (STS): how well cosine similarity ranks sentence pairs as people scored them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan.errors import EvalError
from semplan.evaluation.data import SentencePair, text_language, text_table

if TYPE_CHECKING:
    from semplan.encode import Encoder

ROLE_PLURALS = {"clause": "clauses", "passage": "passages", "query": "queries"}


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

    def lines(self, file: str) -> list[str]:
        """A heading naming `file` (the pairs' source), then the correlations overall and by languages."""
        rows = [
            ("pairs", "n", "spearman", "pearson"),
            ("all", str(self.n_pairs), f"{self.spearman:.3f}", f"{self.pearson:.3f}"),
        ]
        for languages, n_pairs, spearman, pearson in self.by_languages:
            rows.append((languages, str(n_pairs), f"{spearman:.3f}", f"{pearson:.3f}"))
        role = ROLE_PLURALS.get(self.role, self.role)
        heading = f"STS  {file}  ({self.n_pairs} pairs; {self.model} on {self.backend}, both as {role})"
        return [heading, text_table(rows)]


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
