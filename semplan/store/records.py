"""The store's records: a stored plan, and which plans a search may return."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PlanRecord:
    plan_id: str
    path: str | None
    sha256: str
    n_clauses: int
    encoding: str | None = None
    added_at: str | None = None


def _plan_tuple(plan_ids: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if plan_ids is None:
        return None
    return (plan_ids,) if isinstance(plan_ids, str) else tuple(plan_ids)


@dataclass(frozen=True)
class PlanFilter:
    """Which plans a search looks in: only these (None: every plan), never these.

    `include_own_plan` is for searches by a stored clause: by default they leave the clause's own
    plan out (the question is what the *other* plans say), unless this is set or `only` names it.
    A plan id or any iterable of them is accepted and kept as a tuple.
    """

    only: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    include_own_plan: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "only", _plan_tuple(self.only))
        object.__setattr__(self, "exclude", _plan_tuple(self.exclude) or ())

    def named(self) -> list[str]:
        """Every plan id the filter names, to check that each exists."""
        return [*(self.only or ()), *self.exclude]

    def admits(self, plan_id: str) -> bool:
        return (self.only is None or plan_id in self.only) and plan_id not in self.exclude

    def allowed(self) -> list[str] | None:
        """The plans of `only` that are not excluded, in order and once each (None: no `only`)."""
        if self.only is None:
            return None
        return [plan_id for plan_id in dict.fromkeys(self.only) if plan_id not in self.exclude]

    def for_clause_of(self, plan_id: str) -> PlanFilter:
        """This filter for a query by a clause of `plan_id`: its own plan left out unless asked for."""
        if self.include_own_plan or (self.only is not None and plan_id in self.only) or plan_id in self.exclude:
            return self
        return PlanFilter(self.only, (*self.exclude, plan_id), self.include_own_plan)


# The default filter: every plan.
ALL_PLANS = PlanFilter()
