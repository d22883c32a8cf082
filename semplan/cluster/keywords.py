"""Priority labels: jieba terms of each clause, the shipped stop words, and class-based TF-IDF
keywords per cluster."""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

STOP_WORDS_PATH = Path(__file__).resolve().parent.parent / "data" / "stopwords-zh.txt"

_CJK_OR_LETTER = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z]")
_PLACEHOLDER = re.compile(r"^[Xx×]+$|^\d")


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """The shipped Chinese stop-word list (semplan/data/stopwords-zh.txt)."""
    text = STOP_WORDS_PATH.read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def clause_terms(match_text: str) -> list[str]:
    """Label candidates of one clause: jieba words of ≥ 2 characters that are not stop
    words, plus each pair of such words adjacent in the text (课后+服务 → 课后服务), so
    labels can be the compounds plans actually use."""
    stops = stop_words()
    words = _jieba().lcut(match_text)
    terms: list[str] = []
    previous: str | None = None
    for word in words:
        keep = (
            len(word) >= 2
            and word not in stops
            and _CJK_OR_LETTER.search(word)
            and not _PLACEHOLDER.match(word)
        )
        if keep:
            terms.append(word)
            if previous is not None and len(previous) + len(word) <= 8:
                terms.append(previous + word)
            previous = word
        else:
            previous = None
    return terms


def terms_per_text(texts: Iterable[str]) -> list[list[str]]:
    """`clause_terms` of each text; plans repeat template sentences word for word, so each
    distinct text is segmented once."""
    segmented: dict[str, list[str]] = {}
    terms = []
    for text in texts:
        if text not in segmented:
            segmented[text] = clause_terms(text)
        terms.append(segmented[text])
    return terms


def class_keywords(
    clause_terms_list: Sequence[Sequence[str]], labels: np.ndarray, n_keywords: int = 5
) -> dict[int, list[str]]:
    """Class-based TF-IDF (as in BERTopic), counted in clauses rather than tokens.

    tf(t, c) = share of cluster c's clauses that use t (one long clause repeating a
    word does not make it the label); idf(t) = log(1 + A / f(t)) with A the average
    clauses per class and f(t) the clauses of the whole corpus using t, outliers
    included, so words every plan repeats everywhere sink. Keywords that are part of
    a better-ranked keyword (or contain one) are skipped, so labels do not stutter.
    """
    document_frequency: Counter[str] = Counter()
    per_class: dict[int, Counter[str]] = {}
    class_sizes: Counter[int] = Counter()
    for terms, label in zip(clause_terms_list, labels.tolist(), strict=True):
        unique_terms = set(terms)
        document_frequency.update(unique_terms)
        per_class.setdefault(label, Counter()).update(unique_terms)
        class_sizes[label] += 1
    average_class = len(labels) / max(len(class_sizes), 1)
    keywords: dict[int, list[str]] = {}
    for label, counts in per_class.items():
        if label < 0:
            continue
        size = class_sizes[label]
        score = {
            term: (count / size) * math.log(1 + average_class / document_frequency[term])
            for term, count in counts.items()
        }
        # A word one clause uses says little about a priority several clauses share.
        shared = [term for term, count in counts.items() if count >= 2 or size == 1]
        ranked = sorted(shared, key=lambda t: (-score[t], -len(t), t))
        ranked += sorted(set(counts) - set(shared), key=lambda t: (-score[t], -len(t), t))
        top = ranked[: 8 * n_keywords]
        chosen: list[str] = []
        for term in top:
            # Prefer the compound plans write (课后服务) to its halves when it is nearly as strong.
            if any(
                term in longer and longer != term and score[longer] >= 0.7 * score[term] for longer in top
            ):
                continue
            if any(term in kept or kept in term for kept in chosen):
                continue
            chosen.append(term)
            if len(chosen) == n_keywords:
                break
        keywords[label] = chosen
    return keywords
