"""Cross-plan matching: every clause's best match in every other plan, judged against a null
model calibrated on the clause itself.

Beside the clusters, these matches give each plan's unique clauses (a match in no other plan)
and the plan × plan similarity matrix. Exact: the whole n × n score matrix is computed, in
tiles; docs/clustering-design.md has its cost and the approximate index that was measured and
dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semplan.cluster.defaults import DEFAULT_SEED
from semplan.errors import ClusteringError

# Chance rate of a spurious "match": see cross_plan_matches.
DEFAULT_MATCH_ALPHA = 0.05


def match_z_thresholds(plan_sizes: np.ndarray, alpha: float = DEFAULT_MATCH_ALPHA) -> np.ndarray:
    """Per plan B, the standard score a clause's best match in B must reach to count.

    The best match in B is the maximum of |B| scores. If none of B's clauses were
    related, and the clause's scores were normal with the clause's own centre and
    spread, that maximum would exceed z with probability 1 − Φ(z)^|B|. Solving
    1 − Φ(z)^|B| = α gives the threshold: a bigger plan needs a higher score, since it
    offers more chances of a look-alike.
    """
    if not 0 < alpha < 1:
        raise ClusteringError(f"match_alpha must be between 0 and 1, got {alpha}")
    from scipy.stats import norm

    per_pair_tail = -np.expm1(np.log1p(-alpha) / np.maximum(np.asarray(plan_sizes, dtype=np.float64), 1))
    return norm.isf(per_pair_tail)


def match_rule(
    plans: Sequence[str],
    plan_sizes: np.ndarray,
    alpha: float = DEFAULT_MATCH_ALPHA,
    cosine_threshold: float | None = None,
) -> dict[str, Any]:
    """How a cross-plan match was decided, for the report: the fixed cosine threshold, or
    the null model's α and the standard score each plan's matches had to reach."""
    if cosine_threshold is not None:
        return {"kind": "cosine", "threshold": float(cosine_threshold)}
    z_thresholds = match_z_thresholds(plan_sizes, alpha)
    return {
        "kind": "per-clause null model",
        "alpha": alpha,
        "z_thresholds": {plan: round(float(z), 3) for plan, z in zip(plans, z_thresholds, strict=True)},
    }


@dataclass
class CrossPlanMatches:
    best_index: np.ndarray  # per clause: index of its best match in another plan (-1: none)
    best_score: np.ndarray  # cosine similarity of that match
    best_z: np.ndarray  # the same as a standard score against the clause's background
    n_plans_matched: np.ndarray  # per clause: other plans with a match above their threshold
    plan_similarity: np.ndarray  # (P, P): share of a's clauses with a match in b


def cross_plan_matches(
    X: np.ndarray,
    plan_of: np.ndarray,
    *,
    alpha: float = DEFAULT_MATCH_ALPHA,
    cosine_threshold: float | None = None,
    background_size: int = 2000,
    seed: int | None = DEFAULT_SEED,
    block_rows: int = 2000,
) -> CrossPlanMatches:
    """Every clause's best match in every other plan, and whether it counts as a match.

    Calibration (a null model per clause): a clause's scores against other plans'
    clauses are, nearly all, scores of unrelated clauses; the few true matches sit in
    the far tail. Their median μ and MAD-based spread σ (over a seeded sample of
    `background_size` clauses) describe what "unrelated" scores for *this* clause with
    *this* model: e5 puts any two education sentences near 0.9, other models near 0.2,
    and generic clauses (加强党的建设) score high against everything, so neither one
    fixed number nor one corpus-wide number would do. The best match in plan B counts
    when (score − μ)/σ reaches `match_z_thresholds(|B|, alpha)`: at α = 0.05 an
    unrelated plan of B's size would offer such a look-alike one time in twenty (how
    well the sample corpus fits this model: docs/clustering-design.md). A clause
    with a match in no other plan is unique to its plan; plan_similarity[a, b] is the
    share of a's clauses with a match in b (asymmetric). `cosine_threshold` replaces
    the calibration by one fixed cosine similarity.

    Exact, and the cost is the n × n score matrix (2·n²·d FLOP). It is computed once
    per pair of tiles of `block_rows` clauses (sorted by plan) and used in both
    directions, since scores are symmetric: half the FLOP of a row-by-row pass, each
    tile one float32 BLAS product on all cores, memory a few tiles plus one boolean
    per clause and plan.
    """
    n = len(X)
    X = np.ascontiguousarray(X, dtype=np.float32)
    n_plans = int(plan_of.max() + 1) if n else 0
    plan_sizes = np.bincount(plan_of, minlength=n_plans)
    z_thresholds = match_z_thresholds(plan_sizes, alpha)
    order = np.argsort(plan_of, kind="stable")
    sorted_X = np.ascontiguousarray(X[order])
    sorted_plan = plan_of[order]
    rng = np.random.default_rng(seed)
    background = (
        np.sort(rng.choice(n, size=min(background_size, n), replace=False)) if n else np.zeros(0, int)
    )
    background_X = np.ascontiguousarray(X[background])
    background_plan = plan_of[background]

    # Each clause's background (in sorted order): centre μ and spread σ.
    centre = np.zeros(n, dtype=np.float64)
    spread = np.ones(n, dtype=np.float64)
    for first in range(0, n, block_rows):
        rows = slice(first, first + block_rows)
        background_scores = (sorted_X[rows] @ background_X.T).astype(np.float64)
        background_scores[sorted_plan[rows][:, None] == background_plan[None, :]] = np.nan
        centre[rows] = _row_nanmedian(background_scores)
        spread[rows] = 1.4826 * _row_nanmedian(np.abs(background_scores - centre[rows][:, None]))
    spread = np.where(np.isfinite(spread) & (spread > 1e-6), spread, 1e-6)

    matched = np.zeros((n, n_plans), dtype=bool)
    best_score = np.full(n, -np.inf, dtype=np.float32)
    best_plan = np.full(n, -1, dtype=np.int64)
    tiles = [(first, min(first + block_rows, n)) for first in range(0, n, block_rows)]

    def take(rows: tuple[int, int], columns: tuple[int, int], scores: np.ndarray, flip: bool) -> None:
        """Fold one tile (sorted order, same-plan pairs at -inf) into the results of
        `rows`: scores is rows × columns, or columns × rows when `flip` (read along
        axis 0 plan by plan: a transpose or an axis-0 argmax of a tile costs a good
        share of its product)."""
        r0, r1 = rows
        c0, c1 = columns
        column_plans = sorted_plan[c0:c1]
        bounds = np.flatnonzero(np.r_[True, column_plans[1:] != column_plans[:-1]])
        tile_plans = column_plans[bounds]
        if flip:
            limits = np.r_[bounds[1:], c1 - c0]
            per_plan = np.stack(
                [scores[a:b].max(axis=0) for a, b in zip(bounds, limits, strict=True)], axis=1
            )
        else:
            per_plan = np.maximum.reduceat(scores, bounds, axis=1)
        if cosine_threshold is None:
            z = (per_plan - centre[r0:r1, None]) / spread[r0:r1, None]
            hit = z >= z_thresholds[tile_plans][None, :]
        else:
            hit = per_plan >= cosine_threshold
        matched[r0:r1, tile_plans] |= hit & np.isfinite(per_plan)
        # The best plan so far; the clause within it is found once at the end. Strict >:
        # a tie goes to the earlier plan, as one row-wise argmax would.
        winner = per_plan.argmax(axis=1)
        score = per_plan[np.arange(r1 - r0), winner]
        better = score > best_score[r0:r1]
        best_score[r0:r1] = np.where(better, score, best_score[r0:r1])
        best_plan[r0:r1] = np.where(better, tile_plans[winner], best_plan[r0:r1])

    for a, rows in enumerate(tiles):
        for columns in tiles[a:]:
            scores = sorted_X[rows[0] : rows[1]] @ sorted_X[columns[0] : columns[1]].T
            row_plans = sorted_plan[rows[0] : rows[1]]
            column_plans = sorted_plan[columns[0] : columns[1]]
            if row_plans[-1] >= column_plans[0]:  # the tiles share a plan
                scores[row_plans[:, None] == column_plans[None, :]] = -np.inf
            take(rows, columns, scores, flip=False)
            if columns != rows:
                take(columns, rows, scores, flip=True)

    starts = np.searchsorted(sorted_plan, np.arange(n_plans + 1))
    best_sorted = np.full(n, -1, dtype=np.int64)
    final_score = np.full(n, np.nan, dtype=np.float64)
    found = np.isfinite(best_score)
    for p in np.unique(best_plan[found]):
        who = np.flatnonzero(found & (best_plan == p))
        within = sorted_X[who] @ sorted_X[starts[p] : starts[p + 1]].T
        pick = within.argmax(axis=1)
        best_sorted[who] = starts[p] + pick
        final_score[who] = within[np.arange(len(who)), pick]
    best_index = np.full(n, -1, dtype=np.int64)
    best_index[order] = np.where(found, order[np.maximum(best_sorted, 0)], -1)
    best = np.full(n, np.nan, dtype=np.float64)
    best[order] = final_score
    best_z = np.full(n, np.nan, dtype=np.float64)
    best_z[order] = (final_score - centre) / spread
    n_plans_matched = np.zeros(n, dtype=np.int64)
    n_plans_matched[order] = matched.sum(axis=1)
    # matched_counts[a, b]: clauses of plan a with a match in plan b.
    matched_counts = np.zeros((n_plans, n_plans), dtype=np.int64)
    for p in range(n_plans):
        matched_counts[p] = matched[starts[p] : starts[p + 1]].sum(axis=0)
    plan_similarity = matched_counts / np.maximum(plan_sizes, 1).astype(np.float64)[:, None]
    np.fill_diagonal(plan_similarity, 1.0)
    return CrossPlanMatches(best_index, best, best_z, n_plans_matched, plan_similarity)


def _row_nanmedian(a: np.ndarray) -> np.ndarray:
    """np.nanmedian(a, axis=1), vectorised (numpy loops over the rows in Python, which
    made it a large share of the matching's time at scale). NaNs sort last; the median
    sits among each row's finite values."""
    if a.shape[1] == 0:
        return np.full(a.shape[0], np.nan)
    ordered = np.sort(a, axis=1)
    counts = np.count_nonzero(~np.isnan(a), axis=1)
    rows = np.arange(a.shape[0])
    low = ordered[rows, np.maximum((counts - 1) // 2, 0)]
    high = ordered[rows, np.minimum(counts // 2, a.shape[1] - 1)]
    return np.where(counts > 0, (low + high) / 2, np.nan)
