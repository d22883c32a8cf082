"""Priorities over the years, and by level or issuer: counts, shares, trends, each year's new and dropped
priorities (on a hand-made analysis), and `semplan trends` on the sample plans with the real model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_runner import semplan

from semplan.cluster import Priority, PriorityAnalysis
from semplan.errors import InvalidArgument
from semplan.metadata import PlanMetadata
from semplan.report.trends import priority_trends
from semplan.segment import Clause

# plan → (year, level, issuer, clauses)
PLANS = {
    "p2020": (2020, "city", "甲市", 10),
    "p2021": (2021, "city", "甲市", 10),
    "p2022a": (2022, "county", "乙县", 10),
    "p2022b": (2022, None, None, 10),
}
# priority → clauses per plan; each was written for one direction.
COVERAGE = {
    "rising": {"p2020": 1, "p2021": 2, "p2022a": 5, "p2022b": 3},
    "new": {"p2021": 2, "p2022b": 2},
    "gone": {"p2020": 3, "p2021": 1},
    "steady": {"p2020": 2, "p2021": 2, "p2022a": 2, "p2022b": 2},
    "falling": {"p2020": 4, "p2021": 2, "p2022a": 1},
}


def hand_made_analysis() -> tuple[PriorityAnalysis, dict[str, PlanMetadata]]:
    clauses = [
        Clause(plan, n, "sentence", f"{plan} {n}", f"{plan} {n}", ((10 * n, 10 * n + 5),))
        for plan, (*_, size) in PLANS.items()
        for n in range(1, size + 1)
    ]
    taken = {plan: 0 for plan in PLANS}
    priorities = []
    for number, (label, coverage) in enumerate(COVERAGE.items(), start=1):
        ids = []
        for plan, count in coverage.items():
            ids += [f"{plan}#{taken[plan] + k + 1}" for k in range(count)]
            taken[plan] += count
        priorities.append(Priority(number, label, (label,), tuple(ids), ids[0], tuple(coverage.items()), "several", 0.9))
    analysis = PriorityAnalysis(list(PLANS), clauses, [], priorities, {}, np.zeros((4, 4)), None)
    metadata = {
        plan: PlanMetadata(plan, year=year, level=level, issuer=issuer) for plan, (year, level, issuer, _) in PLANS.items()
    }
    return analysis, metadata


def test_trends_by_year():
    analysis, metadata = hand_made_analysis()
    trends = priority_trends(analysis, metadata)
    assert trends.groups == ["2020", "2021", "2022"] and trends.clauses == {"2020": 10, "2021": 10, "2022": 20}
    assert trends.plans["2022"] == ["p2022a", "p2022b"] and trends.has_trends
    for entry in trends.priorities:
        assert entry.direction == entry.label, entry
        assert sum(entry.counts.values()) == analysis.priority(entry.priority_id).size
        assert entry.shares["2022"] == entry.counts["2022"] / 20
    rising = trends.priority(1)
    assert rising.trend() == {"direction": "rising", "first_year": 2020, "last_year": 2022}
    assert trends.priority(3).trend() == {"direction": "gone", "first_year": 2020, "last_year": 2021}
    assert [(c.group, c.new, c.dropped) for c in trends.changes] == [("2020", [], []), ("2021", [2], []), ("2022", [], [3])]
    assert [entry.direction for entry in trends.by_direction()] == ["new", "rising", "falling", "gone", "steady"]
    data = trends.to_dict()
    assert data["changes"][1] == {"year": 2021, "plans": ["p2021"], "clauses": 10, "new_priorities": [2], "dropped_priorities": []}


def test_trends_by_level_and_issuer_and_unknown():
    analysis, metadata = hand_made_analysis()
    by_level = priority_trends(analysis, metadata, "level")
    assert by_level.groups == ["city", "county", "unknown"] and not by_level.has_trends
    assert by_level.priority(1).counts == {"city": 3, "county": 5, "unknown": 3} and by_level.priority(1).direction is None
    assert priority_trends(analysis, metadata, "issuer").groups == ["甲市", "乙县", "unknown"]
    # A year only some plans have: the rest are "unknown", last; trends read the known years.
    del metadata["p2022b"]
    by_year = priority_trends(analysis, metadata)
    assert by_year.groups == ["2020", "2021", "2022", "unknown"] and by_year.priority(2).counts["unknown"] == 2
    # One year: counts but no trend, and no over-time section.
    one_year = priority_trends(analysis, {plan: PlanMetadata(plan, year=2021) for plan in PLANS})
    assert one_year.groups == ["2021"] and not one_year.has_trends and one_year.priority(1).trend() is None
    with pytest.raises(InvalidArgument, match="not 'colour'"):
        priority_trends(analysis, metadata, "colour")


@pytest.fixture(scope="module")
def sample_index(sample_index_dir):
    return sample_index_dir


def test_trends_cli_on_the_sample_plans(sample_index):
    code, out, err = semplan("trends", "--index", str(sample_index), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [group["group"] for group in data["groups"]] == ["2019", "2021", "2022"]
    assert [group["plans"] for group in data["groups"]][1] == ["daqing-2021", "hulunbuir-2021", "xx-county-2021"]
    directions = {entry["trend"]["direction"] for entry in data["priorities"] if entry["counts"]["2022"] == 0}
    assert directions <= {"gone"}
    code, out, err = semplan("trends", "--index", str(sample_index), "--by", "level", "--csv")
    assert code == 0 and out.lstrip("\ufeff").startswith("priority_id,label,city,county,share:city,share:county,trend")
    code, out, _ = semplan("trends", "--index", str(sample_index))
    assert "2019   2021   2022" in out and "\n2022: new " in out
    code, _, err = semplan("trends", "--index", str(sample_index), "--by", "colour")
    assert code == 1 and err.count("\n") == 1 and "'colour' is not one of" in err
