"""One-to-one alignment of two plans' clauses, and the status of each pair.

1. Identical clauses pair first: equal matching text with punctuation and spaces removed. Such a
   pair is `same`, and an anchor: the anchors that keep their order (a longest increasing chain)
   cut both plans into gaps, and a clause left over in one gap of A is expected in the same gap
   of B (plans of one issuer keep their structure from year to year).
2. The clauses left over are assigned one to one (scipy's `linear_sum_assignment`) by evidence
   that mixes the model's cosine, the share of character bigrams the two texts have in common,
   and whether they sit in the same gap.
3. An assigned pair is `reworded` only when it is mutually best (neither clause has a better
   candidate among the left-over clauses of the other plan) and its evidence clears the rule's
   thresholds; otherwise both clauses are unpaired, `removed` from A and `added` in B.

Why not a threshold on the best match alone: a new clause on a topic the plan already covers
scores as high against the old clause on that topic as a rewording does (0.92–0.96 cosine). Here
the old clause is taken first, by its identical or closer partner, and the new one has to stand on
what is left. The thresholds were chosen on a labelled synthetic pair (docs/compare.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semplan.segment import Clause

_NOT_CONTENT = re.compile(r"[\W_]+", re.U)


@dataclass(frozen=True)
class CompareRule:
    """When a left-over pair is the same commitment reworded; the defaults are calibrated (docs/compare.md).

    `evidence` = (cosine − cosine_floor) / (1 − cosine_floor) + shared bigrams (Dice) + position_weight
    × position agreement (1 in the same gap, decaying by `position_window` clauses outside it).
    """

    cosine_floor: float = 0.85
    min_cosine: float = 0.93
    min_evidence: float = 1.17
    min_shared: float = 0.10
    position_weight: float = 0.5
    position_window: float = 4.0


DEFAULT_RULE = CompareRule()


@dataclass(frozen=True)
class Alignment:
    """Index pairs (a, b) by status, with the evidence of each candidate pair."""

    same: list[tuple[int, int]]
    reworded: list[tuple[int, int]]
    removed: list[int]
    added: list[int]
    cosine: np.ndarray  # (len(a), len(b))
    shared: dict[tuple[int, int], float]  # Dice of character bigrams, for the pairs that got a status


def content_key(clause: Clause) -> str:
    """What two clauses must share to be the same clause: their matching text without punctuation or spaces."""
    return _NOT_CONTENT.sub("", clause.match_text)


def align(a: Sequence[Clause], a_vectors: np.ndarray, b: Sequence[Clause], b_vectors: np.ndarray,
          rule: CompareRule = DEFAULT_RULE) -> Alignment:  # fmt: skip
    from scipy.optimize import linear_sum_assignment

    cosine = np.asarray(a_vectors, dtype=np.float32) @ np.asarray(b_vectors, dtype=np.float32).T
    same = _identical_pairs(a, b)
    left_a = [i for i in range(len(a)) if i not in {i for i, _ in same}]
    left_b = [j for j in range(len(b)) if j not in {j for _, j in same}]
    reworded: list[tuple[int, int]] = []
    shared: dict[tuple[int, int], float] = {}
    if left_a and left_b:
        dice = bigram_dice([content_key(a[i]) for i in left_a], [content_key(b[j]) for j in left_b])
        position = _gap_agreement(left_a, left_b, same, len(a), len(b), rule.position_window)
        cos = cosine[np.ix_(left_a, left_b)]
        evidence = (cos - rule.cosine_floor) / (1 - rule.cosine_floor) + dice + rule.position_weight * position
        rows, columns = linear_sum_assignment(-evidence)
        best_for_a, best_for_b = evidence.argmax(axis=1), evidence.argmax(axis=0)
        for row, column in zip(rows, columns, strict=True):
            mutual = best_for_a[row] == column and best_for_b[column] == row
            if (
                mutual
                and cos[row, column] >= rule.min_cosine
                and evidence[row, column] >= rule.min_evidence
                and dice[row, column] >= rule.min_shared
            ):
                reworded.append((left_a[row], left_b[column]))
                shared[(left_a[row], left_b[column])] = float(dice[row, column])
    paired_a = {i for i, _ in same} | {i for i, _ in reworded}
    paired_b = {j for _, j in same} | {j for _, j in reworded}
    shared.update({pair: 1.0 for pair in same})
    return Alignment(
        same=same,
        reworded=sorted(reworded),
        removed=[i for i in range(len(a)) if i not in paired_a],
        added=[j for j in range(len(b)) if j not in paired_b],
        cosine=cosine,
        shared=shared,
    )


def _identical_pairs(a: Sequence[Clause], b: Sequence[Clause]) -> list[tuple[int, int]]:
    """Clauses with equal content keys, one to one; a text repeated in a plan pairs its copies in order."""
    b_by_key: dict[str, list[int]] = {}
    for j, clause in enumerate(b):
        b_by_key.setdefault(content_key(clause), []).append(j)
    taken: Counter[str] = Counter()
    pairs = []
    for i, clause in enumerate(a):
        key = content_key(clause)
        candidates = b_by_key.get(key, [])
        if taken[key] < len(candidates):
            pairs.append((i, candidates[taken[key]]))
            taken[key] += 1
    return pairs


def ordered_anchors(pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest chain of pairs increasing in both plans: identical clauses that did not move."""
    pairs = sorted(pairs)
    if not pairs:
        return []
    # Patience sorting over b indices: O(n log n), predecessors kept to read the chain back.
    import bisect

    tails: list[int] = []
    tail_index: list[int] = []
    previous = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        position = bisect.bisect_left(tails, j)
        if position == len(tails):
            tails.append(j)
            tail_index.append(index)
        else:
            tails[position] = j
            tail_index[position] = index
        previous[index] = tail_index[position - 1] if position else -1
    chain = []
    index = tail_index[-1]
    while index >= 0:
        chain.append(pairs[index])
        index = previous[index]
    return chain[::-1]


def _gap_agreement(
    left_a: list[int], left_b: list[int], same: list[tuple[int, int]], n_a: int, n_b: int, window: float
) -> np.ndarray:
    """1 where a left-over b clause lies in the gap between the anchors around a left-over a clause,
    decaying with its distance (in clauses) outside that gap."""
    anchors = [(-1, -1), *ordered_anchors(same), (n_a, n_b)]
    anchor_a = np.array([i for i, _ in anchors])
    anchor_b = np.array([j for _, j in anchors])
    after = np.searchsorted(anchor_a, np.array(left_a), side="right")
    low, high = anchor_b[after - 1], anchor_b[after]
    columns = np.array(left_b)[None, :]
    outside = np.maximum(low[:, None] - columns, 0) + np.maximum(columns - high[:, None], 0)
    return np.exp(-outside / window)


def bigram_dice(a_texts: Sequence[str], b_texts: Sequence[str]) -> np.ndarray:
    """Dice coefficient of the character-bigram sets of every (a, b) text pair, as a dense matrix."""
    from scipy.sparse import csr_matrix

    vocabulary: dict[str, int] = {}

    def rows(texts: Sequence[str]) -> tuple[csr_matrix, np.ndarray]:
        indptr, indices = [0], []
        for text in texts:
            grams = {text[k : k + 2] for k in range(len(text) - 1)} or {text}
            indices.extend(vocabulary.setdefault(gram, len(vocabulary)) for gram in grams)
            indptr.append(len(indices))
        sizes = np.diff(indptr)
        return (indptr, indices), sizes

    (a_ptr, a_idx), a_sizes = rows(a_texts)
    (b_ptr, b_idx), b_sizes = rows(b_texts)
    shape = len(vocabulary)
    a_matrix = csr_matrix((np.ones(len(a_idx), dtype=np.float32), a_idx, a_ptr), shape=(len(a_texts), shape))
    b_matrix = csr_matrix((np.ones(len(b_idx), dtype=np.float32), b_idx, b_ptr), shape=(len(b_texts), shape))
    common = (a_matrix @ b_matrix.T).toarray()
    return 2 * common / (a_sizes[:, None] + b_sizes[None, :])
