"""Formula: passages that recur nearly verbatim across many plans and so say nothing about any one.

Government plans open, close and frame their commitments in set phrases (各位代表！;
以习近平新时代中国特色社会主义思想为指导…; 现在，我代表国务院，向大会报告政府工作). TextPAIR calls
such text banality and reports it apart from real reuse. Here a clause is `formula` when most of
its wording (FORMULA_SHARE of its character 4-grams, matching text with names masked) occurs in at
least half of the plans (and in at least MIN_FORMULA_PLANS): its words are everyone's, so a
priority made of them would claim a commitment where there is only a template. Formula clauses
leave their priorities (they never make a tier) and are listed in their own section.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from semplan.segment import Clause

SHINGLE = 4
# Share of a clause's 4-grams that must be common to half the plans.
FORMULA_SHARE = 0.8
MIN_FORMULA_PLANS = 3
# Fewer plans than this and no clause is formula: in three or four plans a commitment repeated
# word for word is a shared commitment, not a set phrase of "many plans".
MIN_CORPUS_PLANS = 5
# Share of the plans a 4-gram must occur in to count as common wording.
FORMULA_PLAN_SHARE = 0.8


def _shingles(text: str) -> set[str]:
    compact = "".join(ch for ch in text if not ch.isspace())
    if len(compact) <= SHINGLE:
        return {compact} if compact else set()
    return {compact[i : i + SHINGLE] for i in range(len(compact) - SHINGLE + 1)}


def formula_clauses(clauses: Sequence[Clause], match_texts: Sequence[str] | None = None) -> np.ndarray:
    """Per clause: True when it is formula (see the module docstring). `match_texts` default to
    the clauses' own (callers pass them masked)."""
    texts = list(match_texts) if match_texts is not None else [c.match_text for c in clauses]
    plans = sorted({c.plan_id for c in clauses})
    needed = max(MIN_FORMULA_PLANS, math.ceil(len(plans) * FORMULA_PLAN_SHARE))
    shingles = [_shingles(text) for text in texts]
    if len(plans) < max(needed, MIN_CORPUS_PLANS):
        return np.zeros(len(clauses), dtype=bool)
    plans_of: dict[str, set[str]] = {}
    for clause, clause_shingles in zip(clauses, shingles, strict=True):
        for shingle in clause_shingles:
            plans_of.setdefault(shingle, set()).add(clause.plan_id)
    common = Counter({shingle: len(owners) for shingle, owners in plans_of.items()})
    flags = np.zeros(len(clauses), dtype=bool)
    for i, clause_shingles in enumerate(shingles):
        if clause_shingles:
            shared = sum(1 for shingle in clause_shingles if common[shingle] >= needed)
            flags[i] = shared / len(clause_shingles) >= FORMULA_SHARE
    return flags
