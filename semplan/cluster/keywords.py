"""Priority labels an analyst would write: content words of each clause, the shipped and the
user's stop words, and class-based TF-IDF keywords per cluster.

A label candidate is a content word (jieba's nouns, verbs, idioms and abbreviations; no
adverbs, time words, numerals, function words or place names) of two characters or more, or
a known term of the user's; or two or three such words adjacent in the text that end in a noun
(课后+服务 → 课后服务, 教育领域+综合+改革), the compounds plans actually write. A candidate must be used by at least
two clauses of at least two plans in the corpus: one plan's OCR typo (学前教育普豕普惠) or
one-off phrase cannot name a priority.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from semplan.errors import ClusteringError
from semplan.mask import MASK_TOKEN, mask_names

STOP_WORDS_PATH = Path(__file__).resolve().parent.parent / "data" / "stopwords-zh.txt"
TERMS_PATH = Path(__file__).resolve().parent.parent / "data" / "terms-zh.txt"

_CJK_OR_LETTER = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z]")
_PLACEHOLDER = re.compile(r"^[Xx×]+$|^\d")
# jieba's tags of words that can label a priority on their own: nouns (its person-name tags
# included: it tags 师德师 and 从严治党 as names), verbs and verbal nouns, idioms,
# abbreviations, English words.
_CONTENT_TAGS = ("n", "nz", "nt", "nl", "ng", "nr", "nrt", "nrfg", "vn", "v", "an", "l", "i", "j", "eng")
# Tags that may start a compound without labelling alone: 课后/t 服务/vn, 优质/a 均衡.
_MODIFIER_TAGS = ("t", "a", "b")
# Tags a compound may end in: a noun-like word (引导/v 广大/a is no label).
_HEAD_TAGS = ("n", "nz", "nt", "nl", "ng", "nr", "nrt", "nrfg", "vn", "an", "l", "j", "eng")
MIN_PLANS_PER_TERM = 2
MIN_CLAUSES_PER_TERM = 2
# A lone verb (查处, 招聘) labels a priority less well than a noun of the same weight.
VERB_WEIGHT = 0.6


@dataclass(frozen=True)
class LabelWords:
    """A user's additions to the labels' vocabulary: words never to use, and terms to keep
    whole (a term may be one character long)."""

    stop_words: frozenset[str] = frozenset()
    terms: frozenset[str] = frozenset()
    source: str | None = field(default=None, compare=False)


def read_label_words(path: str | Path) -> LabelWords:
    """A label-words file: one word a line; a line `+term` adds a term to keep whole (and to use
    even if one character long), any other line a stop word; `#` starts a comment."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ClusteringError(f"{path}: cannot read the label-words file ({error})") from None
    stops, terms = set(), set()
    for line in text.splitlines():
        word = line.split("#", 1)[0].strip()
        if word.startswith("+") and word[1:].strip():
            terms.add(word[1:].strip())
        elif word:
            stops.add(word)
    return LabelWords(frozenset(stops), frozenset(terms), source=str(path))


def _word_list(path: Path) -> frozenset[str]:
    text = path.read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """The shipped Chinese stop-word list (semplan/data/stopwords-zh.txt)."""
    return _word_list(STOP_WORDS_PATH)


@lru_cache(maxsize=1)
def known_terms() -> frozenset[str]:
    """The shipped terms kept whole in labels (semplan/data/terms-zh.txt)."""
    return _word_list(TERMS_PATH)


@lru_cache(maxsize=8)
def _tagger(terms: frozenset[str]) -> Any:
    """A private jieba part-of-speech tagger that knows `terms` (jieba's default dictionary
    is shared by everything else in the process, so it is not changed)."""
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    for term in sorted(terms):
        tokenizer.add_word(term, freq=max(tokenizer.suggest_freq(term), 1000), tag="nz")
    return jieba.posseg.POSTokenizer(tokenizer)


def clause_terms(match_text: str, words: LabelWords | None = None) -> list[str]:
    """Label candidates of one clause (see the module docstring), in text order."""
    words = words or LabelWords()
    stops = stop_words() | words.stop_words
    known = known_terms() | words.terms
    text = mask_names(match_text)
    terms: list[str] = []
    # The joinable words just before this one (at most two), each with whether a compound may
    # start at it: not right after a one-character word it is glued to (新+时代: no 时代教育督导).
    run: list[tuple[str, bool]] = []
    glued = False
    for token in _tagger(known).lcut(text):
        word, tag = token.word, token.flag
        usable = (
            word != MASK_TOKEN
            and word not in stops
            and (len(word) >= 2 or word in known)
            and _CJK_OR_LETTER.search(word) is not None
            and not _PLACEHOLDER.match(word)
        )
        if usable and (tag in _CONTENT_TAGS or word in known):
            terms.append(word)
        if usable and (tag in _HEAD_TAGS or word in known):
            # Two or three words (学生+综合+素质, 教育领域+综合+改革): else the label gets the
            # fragment the text cut in two (学生综合 / 综合素质).
            for first in range(len(run)):
                compound = "".join(previous for previous, _ in run[first:]) + word
                if run[first][1] and len(compound) <= 8:
                    terms.append(compound)
        joinable = usable and (tag in _CONTENT_TAGS or tag in _MODIFIER_TAGS or word in known)
        run = [*run[-1:], (word, not glued)] if joinable else []
        glued = len(word) == 1 and (tag in _CONTENT_TAGS or tag in _MODIFIER_TAGS) and _CJK_OR_LETTER.match(word) is not None
    return terms


def terms_per_text(texts: Iterable[str], words: LabelWords | None = None) -> list[list[str]]:
    """`clause_terms` of each text; plans repeat template sentences word for word, so each
    distinct text is segmented once."""
    segmented: dict[str, list[str]] = {}
    terms = []
    for text in texts:
        if text not in segmented:
            segmented[text] = clause_terms(text, words)
        terms.append(segmented[text])
    return terms


def _verbs(texts_terms: Iterable[str], words: LabelWords | None = None) -> frozenset[str]:
    """Which of these terms jieba takes for a lone verb."""
    tagger = _tagger(known_terms() | (words.terms if words else frozenset()))
    verbs = set()
    for term in texts_terms:
        tokens = tagger.lcut(term)
        if len(tokens) == 1 and tokens[0].flag == "v":
            verbs.add(term)
    return frozenset(verbs)


def _supported_terms(
    clause_terms_list: Sequence[Sequence[str]], plan_of: Sequence[Any] | None
) -> set[str]:
    """Terms used by at least MIN_CLAUSES_PER_TERM clauses of at least MIN_PLANS_PER_TERM
    plans (the plan condition only when the corpus has that many plans)."""
    clauses_using: Counter[str] = Counter()
    plans_using: dict[str, set[Any]] = {}
    for i, terms in enumerate(clause_terms_list):
        for term in set(terms):
            clauses_using[term] += 1
            if plan_of is not None:
                plans_using.setdefault(term, set()).add(plan_of[i])
    n_plans = len(set(plan_of)) if plan_of is not None else 1
    need_plans = MIN_PLANS_PER_TERM if n_plans >= MIN_PLANS_PER_TERM else 1
    return {
        term
        for term, count in clauses_using.items()
        if count >= MIN_CLAUSES_PER_TERM and (plan_of is None or len(plans_using[term]) >= need_plans)
    }


def class_keywords(
    clause_terms_list: Sequence[Sequence[str]],
    labels: np.ndarray,
    n_keywords: int = 5,
    plan_of: Sequence[Any] | None = None,
) -> dict[int, list[str]]:
    """Class-based TF-IDF (as in BERTopic), counted in clauses rather than tokens.

    tf(t, c) = share of cluster c's clauses that use t (one long clause repeating a
    word does not make it the label); idf(t) = log(1 + A / f(t)) with A the average
    clauses per class and f(t) the clauses of the whole corpus using t, outliers
    included, so words every plan repeats everywhere sink. Only terms used by two
    clauses or more (of two plans or more, given `plan_of`, each clause's plan) are
    candidates. A term contained in a better-ranked one, or containing one, is merged
    into it: labels do not stutter (课后 / 课后服务).
    """
    supported = _supported_terms(clause_terms_list, plan_of)
    document_frequency: Counter[str] = Counter()
    per_class: dict[int, Counter[str]] = {}
    class_sizes: Counter[int] = Counter()
    for terms, label in zip(clause_terms_list, labels.tolist(), strict=True):
        unique_terms = set(terms) & supported
        document_frequency.update(unique_terms)
        per_class.setdefault(label, Counter()).update(unique_terms)
        class_sizes[label] += 1
    average_class = len(labels) / max(len(class_sizes), 1)
    verbs = _verbs(document_frequency)
    keywords: dict[int, list[str]] = {}
    for label, counts in per_class.items():
        if label < 0:
            continue
        size = class_sizes[label]
        score = {
            term: (count / size)
            * math.log(1 + average_class / document_frequency[term])
            * (VERB_WEIGHT if term in verbs else 1.0)
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
            if any(term in kept or kept in term or _overlap(term, kept) for kept in chosen):
                continue
            chosen.append(term)
            if len(chosen) == n_keywords:
                break
        keywords[label] = chosen
    return keywords


def _overlap(a: str, b: str) -> bool:
    """Whether one term ends with three or more characters the other starts with: halves of one
    longer term (中小学教育惩戒 / 教育惩戒规则) stutter in a label as much as a term and its part;
    two (基础教育 / 教育共同体) are two words."""
    return any(a.endswith(b[:n]) or b.endswith(a[:n]) for n in range(3, min(len(a), len(b))))
