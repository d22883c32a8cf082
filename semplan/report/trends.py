"""Priorities over the years (or by level, or by issuer): how many clauses each priority has in each group.

BERTopic's `topics_over_time` / `topics_per_class`, on semplan's priorities: the clauses of each
priority are counted per group of plans (a year, a level of government, an issuer), and as a share
of all that group's clauses, so that a year with longer plans does not look busier.

Over years a priority also gets a trend, read in year order over the years the plans have:

    gone     absent in the last year (it was there before)
    new      absent in the first year, present in the last
    rising   present in the first and last year, its share growing: the least-squares line through
             its shares rises by at least RISE × its mean share from the first year to the last
    falling  the same, falling by at least RISE × its mean share
    steady   otherwise

and each year lists its new priorities (present that year, absent the year before) and its
dropped ones (present the year before, absent that year). A priority is present in a year when at
least one clause of that year's plans is in it: with a few clauses per year, one clause more or
less moves it, so read the counts beside the direction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from semplan.errors import InvalidArgument

if TYPE_CHECKING:
    from semplan.cluster import PriorityAnalysis
    from semplan.metadata import PlanMetadata

GROUPINGS = ("year", "level", "issuer")
DIRECTIONS = ("new", "rising", "steady", "falling", "gone")
UNKNOWN = "unknown"
# Rise (or fall) of a priority's fitted share from the first year to the last, relative to its mean share.
RISE = 0.5


@dataclass(frozen=True)
class PriorityGroups:
    """One priority's clauses per group, and over years its trend."""

    priority_id: int
    label: str
    counts: dict[str, int]  # group → clauses of the priority in that group's plans (every group, in order)
    shares: dict[str, float]  # group → counts / all clauses of that group's plans
    direction: str | None = None  # one of DIRECTIONS; None unless grouped by at least two years
    first: str | None = None  # first and last group (year) it is present in
    last: str | None = None

    def trend(self) -> dict[str, Any] | None:
        if self.direction is None:
            return None
        return {"direction": self.direction, "first_year": _year(self.first), "last_year": _year(self.last)}

    def to_dict(self) -> dict[str, Any]:
        return {"priority_id": self.priority_id, "label": self.label, "counts": self.counts,
                "shares": {group: round(share, 4) for group, share in self.shares.items()}, "trend": self.trend()}  # fmt: skip


@dataclass(frozen=True)
class GroupChanges:
    """A year: its plans and clauses, the priorities that appear in it and those that drop out."""

    group: str
    plans: list[str]
    n_clauses: int
    new: list[int]
    dropped: list[int]

    def to_dict(self, by: str) -> dict[str, Any]:
        return {by: _year(self.group) if by == "year" else self.group, "plans": self.plans,
                "clauses": self.n_clauses, "new_priorities": self.new, "dropped_priorities": self.dropped}  # fmt: skip


@dataclass(frozen=True)
class PriorityTrends:
    """Every priority's clauses per group of plans (`by`: year, level or issuer)."""

    by: str
    groups: list[str]  # in order: years ascending, else by first plan; "unknown" last
    plans: dict[str, list[str]]  # group → its plans
    clauses: dict[str, int]  # group → all clauses of its plans
    priorities: list[PriorityGroups]  # report order
    changes: list[GroupChanges]  # per group (years only), the first year included

    @property
    def has_trends(self) -> bool:
        return self.by == "year" and len([group for group in self.groups if group != UNKNOWN]) >= 2

    def by_direction(self) -> list[PriorityGroups]:
        """The priorities for reading a trend: new, rising, falling, gone, then steady; report order within each."""
        order = {direction: rank for rank, direction in enumerate(("new", "rising", "falling", "gone", "steady"))}
        return sorted(self.priorities, key=lambda entry: order.get(entry.direction or "steady", len(order)))

    def priority(self, priority_id: int) -> PriorityGroups:
        return next(entry for entry in self.priorities if entry.priority_id == priority_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "groups": [{"group": group, "plans": self.plans[group], "clauses": self.clauses[group]} for group in self.groups],
            "priorities": [entry.to_dict() for entry in self.priorities],
            "changes": [change.to_dict(self.by) for change in self.changes],
        }


def group_of(metadata: PlanMetadata | None, by: str) -> str:
    value = getattr(metadata, by, None) if metadata is not None else None
    return UNKNOWN if value in (None, "") else str(value)


def priority_trends(analysis: PriorityAnalysis, metadata: Mapping[str, PlanMetadata], by: str = "year") -> PriorityTrends:
    """The priorities of `analysis` counted per group of plans; `metadata` is plan id → PlanMetadata."""
    if by not in GROUPINGS:
        raise InvalidArgument(f"group priorities by one of {', '.join(GROUPINGS)}, not {by!r}")
    plan_group = {plan: group_of(metadata.get(plan), by) for plan in analysis.plans}
    groups = list(dict.fromkeys(plan_group[plan] for plan in analysis.plans))
    if by == "year":
        groups = sorted((group for group in groups if group != UNKNOWN), key=int) + [g for g in groups if g == UNKNOWN]
    elif UNKNOWN in groups:
        groups = [group for group in groups if group != UNKNOWN] + [UNKNOWN]
    plans = {group: [plan for plan in analysis.plans if plan_group[plan] == group] for group in groups}
    clauses = {group: sum(len(analysis.plan_clauses(plan)) for plan in plans[group]) for group in groups}
    years = [group for group in groups if group != UNKNOWN] if by == "year" else []
    entries = []
    for priority in analysis.priorities:
        counts = dict.fromkeys(groups, 0)
        for plan, count in priority.coverage:
            counts[plan_group[plan]] += count
        shares = {group: counts[group] / clauses[group] if clauses[group] else 0.0 for group in groups}
        direction, first, last = _trend(years, counts, shares) if len(years) >= 2 else (None, None, None)
        entries.append(PriorityGroups(priority.priority_id, priority.label, counts, shares, direction, first, last))
    changes = []
    for index, year in enumerate(years):
        previous = years[index - 1] if index else None
        present = {entry.priority_id for entry in entries if entry.counts[year]}
        before = {entry.priority_id for entry in entries if previous and entry.counts[previous]}
        changes.append(GroupChanges(year, plans[year], clauses[year],
                                    sorted(present - before) if previous else [], sorted(before - present)))  # fmt: skip
    return PriorityTrends(by, groups, plans, clauses, entries, changes)


def _trend(years: list[str], counts: dict[str, int], shares: dict[str, float]) -> tuple[str | None, str | None, str | None]:
    present = [year for year in years if counts[year]]
    if not present:
        return None, None, None
    first, last = present[0], present[-1]
    if last != years[-1]:
        return "gone", first, last
    if first != years[0]:
        return "new", first, last
    values = np.array([shares[year] for year in years])
    slope = np.polyfit(np.arange(len(years)), values, 1)[0]
    change = slope * (len(years) - 1) / values.mean()
    direction = "rising" if change >= RISE else "falling" if change <= -RISE else "steady"
    return direction, first, last


def _year(group: str | None) -> int | str | None:
    return int(group) if group is not None and group.isdigit() else group
