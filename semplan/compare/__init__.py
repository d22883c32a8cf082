"""What changed between two plans: a one-to-one alignment of A's clauses to B's, each pair with a status.

    same      the clause is in both plans (equal text, punctuation and spaces aside)
    reworded  the same commitment in other words, or with changed figures; carries a word diff
    added     only in B; carries B's closest clause in A and its score
    removed   only in A; carries A's closest clause in B and its score

`moved` flags a pair whose section changed (each A section matched to the B section where most of
its identical clauses went, or without any, its reworded ones).
Works on any two stored plans; the method is in `align`, the word diff in `diff`, and the
measurements that chose its thresholds in docs/compare.md.

>>> with Corpus.open("out/index") as corpus:
...     comparison = compare_plans(corpus, "hulunbuir-2021", "hulunbuir-2022")
>>> comparison.counts()
{'same': 104, 'reworded': 20, 'added': 6, 'removed': 6}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semplan.compare.align import DEFAULT_RULE, Alignment, CompareRule, align, ordered_anchors
from semplan.compare.diff import DiffPiece, FigureChange, figure_changes, inline_diff, word_diff
from semplan.errors import InvalidArgument
from semplan.metadata import PlanMetadata, plans_metadata
from semplan.segment import Clause

STATUSES = ("same", "reworded", "added", "removed")


def clause_record(clause: Clause) -> dict[str, Any]:
    """A clause as `compare --json` shows it."""
    return {"clause_id": clause.clause_id, "text": clause.text, "path": clause.path,
            "spans": [list(span) for span in clause.spans]}  # fmt: skip


def section_of(clause: Clause) -> str:
    """The section a clause stands in, as its path shows it (`一、…`), or "" before the first section."""
    if clause.section_number is None and not clause.section_title:
        return ""
    return clause.path.split(" › ")[0]


@dataclass(frozen=True)
class ComparedPair:
    """One row of the alignment. `score` is the cosine of a and b, or for an added or removed clause
    the cosine of its `closest` clause on the other side."""

    status: str
    a: Clause | None
    b: Clause | None
    score: float
    section: str  # B's section (A's for a removed clause whose section has no counterpart)
    diff: tuple[DiffPiece, ...] = ()
    figures: tuple[FigureChange, ...] = ()
    moved: bool = False
    closest: Clause | None = None
    shared: float | None = None  # Dice of character bigrams with the partner

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "a": clause_record(self.a) if self.a else None,
            "b": clause_record(self.b) if self.b else None,
            "score": round(self.score, 4),
            "diff": [piece.to_dict() for piece in self.diff],
            "moved": self.moved,
            "section": self.section,
            "figures": [change.to_dict() for change in self.figures],
        }
        if self.closest is not None:
            data["closest"] = clause_record(self.closest)
        if self.shared is not None:
            data["shared"] = round(self.shared, 4)
        return data


@dataclass
class Comparison:
    """Plan A against plan B: every clause of each in exactly one pair, in reading order."""

    a: PlanMetadata
    b: PlanMetadata
    n_a: int
    n_b: int
    pairs: list[ComparedPair]
    rule: CompareRule = field(default=DEFAULT_RULE)

    def counts(self) -> dict[str, int]:
        counts = Counter(pair.status for pair in self.pairs)
        return {status: counts.get(status, 0) for status in STATUSES}

    def by_section(self) -> list[tuple[str, list[ComparedPair]]]:
        """The pairs grouped by section: B's sections in B's order, then sections only A has, in A's order."""
        groups: dict[str, list[ComparedPair]] = {}
        rank: dict[str, tuple[int, int]] = {}
        for pair in self.pairs:
            groups.setdefault(pair.section, []).append(pair)
            here = (0, pair.b.n) if pair.b is not None else (1, pair.a.n if pair.a is not None else 0)
            rank[pair.section] = min(rank.get(pair.section, here), here)
        return [(section, groups[section]) for section in sorted(groups, key=rank.__getitem__)]

    def sections(self) -> list[dict[str, Any]]:
        """Per section (in `by_section` order): how many pairs of each status, and how many moved."""
        rows = []
        for section, pairs in self.by_section():
            counts = Counter(pair.status for pair in pairs)
            rows.append({"section": section, **{status: counts.get(status, 0) for status in STATUSES},
                         "moved": sum(pair.moved for pair in pairs)})  # fmt: skip
        return rows

    def summary(self) -> dict[str, Any]:
        return {"counts": self.counts(), "moved": sum(pair.moved for pair in self.pairs),
                "clauses": {"a": self.n_a, "b": self.n_b}, "sections": self.sections()}  # fmt: skip

    def summary_line(self) -> str:
        counts = self.counts()
        moved = sum(pair.moved for pair in self.pairs)
        return (f"{self.a.plan_id} → {self.b.plan_id}: {counts['same']} same, {counts['reworded']} reworded, "
                f"{counts['added']} added, {counts['removed']} removed; {moved} moved")  # fmt: skip

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per pair in reading order (needs semplan[frames])."""
        from semplan._frames import data_frame

        def side(clause: Clause | None, name: str) -> dict[str, Any]:
            return {f"{name}_clause_id": clause.clause_id if clause else None, f"{name}_text": clause.text if clause else None}

        rows = [{"status": pair.status, **side(pair.a, "a"), **side(pair.b, "b"), "score": pair.score,
                 "section": pair.section, "moved": pair.moved, "shared": pair.shared,
                 "closest_clause_id": pair.closest.clause_id if pair.closest else None,
                 "figures": "; ".join(str(change) for change in pair.figures)}  # fmt: skip
                for pair in self.pairs]
        return data_frame(rows, ["status", "a_clause_id", "a_text", "b_clause_id", "b_text", "score", "section",
                                 "moved", "shared", "closest_clause_id", "figures"])  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """What `semplan compare --json` prints: {"a", "b", "summary", "pairs"}."""
        return {
            "a": {**self.a.to_dict(), "n_clauses": self.n_a},
            "b": {**self.b.to_dict(), "n_clauses": self.n_b},
            "summary": self.summary(),
            "pairs": [pair.to_dict() for pair in self.pairs],
        }


def plan_metadata(corpus: Any) -> dict[str, PlanMetadata]:
    """The metadata of every plan of an open `semplan.store.Corpus`, by plan id (semplan.metadata)."""
    from semplan.store import stored_plan_metadata

    return plans_metadata(corpus.plans(), stored_plan_metadata(corpus), corpus.source_text)


def compare_plans(corpus: Any, plan_a: str, plan_b: str, *, rule: CompareRule = DEFAULT_RULE) -> Comparison:
    """Compare two plans of an open `semplan.store.Corpus` (A: the earlier or reference plan)."""
    if plan_a == plan_b:
        raise InvalidArgument(f"compare needs two different plans, got {plan_a!r} twice")
    corpus.check_plans([plan_a, plan_b])
    metadata = plan_metadata(corpus)
    a_clauses, b_clauses = corpus.clauses(plan_a), corpus.clauses(plan_b)
    a_vectors = corpus.plan_vectors([plan_a])[1]
    b_vectors = corpus.plan_vectors([plan_b])[1]
    pairs = compare_clauses(a_clauses, a_vectors, b_clauses, b_vectors, rule=rule)
    return Comparison(metadata[plan_a], metadata[plan_b], len(a_clauses), len(b_clauses), pairs, rule)


def compare_clauses(
    a: Sequence[Clause], a_vectors: np.ndarray, b: Sequence[Clause], b_vectors: np.ndarray,
    *, rule: CompareRule = DEFAULT_RULE,
) -> list[ComparedPair]:  # fmt: skip
    """The pairs of two plans' clauses (each with one L2-normalised vector per clause), in reading order."""
    if len(a) != len(a_vectors) or len(b) != len(b_vectors):
        raise InvalidArgument("compare needs one vector per clause")
    alignment = align(a, a_vectors, b, b_vectors, rule)
    section_map = _section_map(a, b, alignment.same, alignment.reworded)
    cosine = alignment.cosine
    pairs: list[tuple[tuple[float, ...], ComparedPair]] = []
    for status, matched in (("same", alignment.same), ("reworded", alignment.reworded)):
        for i, j in matched:
            moved = section_map.get(section_of(a[i]), section_of(a[i])) != section_of(b[j])
            diff = word_diff(a[i].text, b[j].text) if status == "reworded" else ()
            pair = ComparedPair(status, a[i], b[j], float(cosine[i, j]), section_of(b[j]), diff,
                                figure_changes(diff), moved, shared=alignment.shared[(i, j)])  # fmt: skip
            pairs.append(((j, 0, i), pair))
    partner_of_a = {i: j for i, j in (*alignment.same, *alignment.reworded)}
    for i in alignment.removed:
        j = int(cosine[i].argmax()) if len(b) else None
        section = section_map.get(section_of(a[i]), section_of(a[i]))
        pair = ComparedPair("removed", a[i], None, float(cosine[i, j]) if j is not None else 0.0, section,
                            closest=b[j] if j is not None else None)  # fmt: skip
        pairs.append((_after_partner_of_previous(i, partner_of_a), pair))
    for j in alignment.added:
        i = int(cosine[:, j].argmax()) if len(a) else None
        pair = ComparedPair("added", None, b[j], float(cosine[i, j]) if i is not None else 0.0, section_of(b[j]),
                            closest=a[i] if i is not None else None)  # fmt: skip
        pairs.append(((j, 0, -1), pair))
    return [pair for _, pair in sorted(pairs, key=lambda item: item[0])]


def _after_partner_of_previous(i: int, partner_of_a: dict[int, int]) -> tuple[float, ...]:
    """Where a removed clause goes in reading order: after the B partner of the nearest paired clause before it."""
    for previous in range(i - 1, -1, -1):
        if previous in partner_of_a:
            return (partner_of_a[previous], 1, i)
    return (-1, 1, i)


def _section_map(
    a: Sequence[Clause], b: Sequence[Clause], same: Sequence[tuple[int, int]], reworded: Sequence[tuple[int, int]]
) -> dict[str, str]:
    """A's sections → B's, by where most of each A section's unmoved identical clauses went; a section
    with none, by where most of its reworded clauses went, else to a B section of the same title."""
    mapping: dict[str, str] = {}
    for pairs in (ordered_anchors(same), reworded):
        votes: dict[str, Counter[str]] = {}
        for i, j in pairs:
            votes.setdefault(section_of(a[i]), Counter())[section_of(b[j])] += 1
        for section, counter in votes.items():
            mapping.setdefault(section, counter.most_common(1)[0][0])
    b_sections = {section_of(clause) for clause in b}
    for clause in a:
        section = section_of(clause)
        if section not in mapping and section in b_sections:
            mapping[section] = section
    return mapping


__all__ = [
    "DEFAULT_RULE",
    "STATUSES",
    "Alignment",
    "CompareRule",
    "ComparedPair",
    "Comparison",
    "DiffPiece",
    "FigureChange",
    "align",
    "compare_clauses",
    "compare_plans",
    "inline_diff",
    "plan_metadata",
    "section_of",
]
