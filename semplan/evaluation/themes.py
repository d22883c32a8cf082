"""Priority themes: how well semplan's priorities reproduce the plan sets of a gold file's themes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan.evaluation.clustering import DEFAULT_SEED
from semplan.evaluation.gold import GoldAnchors, gold_plans

if TYPE_CHECKING:
    from semplan.cluster import PriorityAnalysis
    from semplan.store import Corpus


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

    def summary(self) -> str:
        """The figures in one line."""
        return (
            f"themes: mean Jaccard {self.mean_jaccard:.3f} over {self.n_themes} "
            f"({self.mean_jaccard_shared:.3f} over shared ones); "
            f"tier agreement {self.tier_agreement}/{self.n_themes}; "
            f"unique flagged {self.n_unique_flagged}/{self.n_unique}; "
            f"shared-theme clauses flagged unique {self.n_shared_flagged_unique}; "
            f"{self.n_priorities} priorities, {self.outlier_share:.1%} outliers"
        )


def _find_priorities(corpus: Corpus, seed: int) -> PriorityAnalysis:
    """semplan's priorities over every clause of the index, as `semplan cluster` finds them (no 2-D map).

    The one call into semplan.cluster's analysis here.
    """
    from semplan.cluster import find_priorities, with_verdicts

    arguments = with_verdicts({"seed": seed, "map_2d": False}, corpus.model_identity)
    return find_priorities(corpus.clauses(), corpus.vectors(), **arguments)


def _tier_for(n_plans_covered: int, n_plans: int) -> str:
    # The gold names tiers by plan count ("all5", "four", ..., "unique"); cluster's own rule maps a
    # plan count onto semplan's tiers, so gold and prediction are named alike.
    from semplan.cluster import tier_for

    return tier_for(n_plans_covered, n_plans)


def evaluate_themes(
    corpus: Corpus,
    gold: dict[str, Any],
    *,
    seed: int = DEFAULT_SEED,
    analysis: PriorityAnalysis | None = None,
    anchors: GoldAnchors | None = None,
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
        anchors = GoldAnchors(corpus)
        anchors.check_plans(gold_plans(gold))
    if analysis is None:
        analysis = _find_priorities(corpus, seed)
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
        gold_tier = _tier_for(len(plans_addressing), n_plans_total)
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


def place_bound_priorities(
    analysis: PriorityAnalysis, *, min_share: float = 0.5, min_size: int = 4
) -> list[tuple[int, str, float]]:
    """Priorities held together by a place name: (priority id, name, share of its clauses that
    write the name) for every priority of `min_size` clauses or more in which one place name
    (the gazetteer's, or a plan's own, see `semplan.mask`) is written by at least `min_share`
    of the clauses. A priority about a place's programme may legitimately qualify; twelve
    unrelated clauses of one plan naming their city (the issue's P80) should not."""
    from semplan.mask import gazetteer, plan_names
    from semplan.normalize import matching_text

    gaz = gazetteer()
    # The displayed text, normalised: an analysis of masked vectors has no names in match_text.
    texts = {clause.clause_id: matching_text(clause.text) for clause in analysis.clauses}
    names_of_plan = {
        plan: plan_names([texts[clause.clause_id] for clause in analysis.plan_clauses(plan)])
        for plan in analysis.plans
    }
    bound = []
    for priority in analysis.priorities:
        if priority.size < min_size:
            continue
        counts: Counter[str] = Counter()
        for clause_id in priority.clause_ids:
            clause = analysis.clause(clause_id)
            names = gaz.names | gaz.words | names_of_plan[clause.plan_id]
            text = texts[clause_id]
            counts.update({name for name in names if len(name) >= 2 and name in text})
        for name, count in counts.most_common(1):
            if count / priority.size >= min_share:
                bound.append((priority.priority_id, name, count / priority.size))
    return bound
