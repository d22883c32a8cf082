"""Gold files (the format of tests/data/dev-gold.json) and their snippets anchored in an index.

Gold offsets are character offsets into the raw UTF-8 file; clause spans index the decoded text. For
a UTF-8 file without BOM or CRLF line ends the two are the same string, so the offsets agree. Each
snippet is checked against the index's stored source text; if it is not at its offset (a BOM or CR
dropped by the reader shifts everything after it) the nearest occurrence is used and counted in
`offset_shifts`, and a snippet found nowhere means the gold describes another version of the plan:
that is an `EvalError`, not a silent zero.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semplan.errors import EvalError
from semplan.evaluation.data import text_language

if TYPE_CHECKING:
    from semplan.segment import Clause
    from semplan.store import Corpus

logger = logging.getLogger(__name__)


def load_gold(path: str | Path) -> dict[str, Any]:
    """A gold file in the format of tests/data/dev-gold.json, checked enough to give one-line errors."""
    path = Path(path)
    try:
        gold = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EvalError(f"{path}: is a directory, expected a gold JSON file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EvalError(f"{path}: not a JSON file ({error})") from None
    if not isinstance(gold, dict) or not any(
        key in gold for key in ("queries", "paraphrase_queries", "themes")
    ):
        raise EvalError(f"{path}: not a gold file (no queries, paraphrase_queries or themes)")
    if _is_plain_queries(gold):
        gold = _plain_queries_as_gold(gold)
    try:
        for query in gold.get("queries", []):
            _ = (query["id"], query["source_plan"], query["query"], int(query["query_offset"]))
            for match in query["matches"]:
                if len(match["snippets"]) != len(match["offsets"]):
                    raise EvalError(f"{path}: query {query['id']}: snippets and offsets differ in number")
        for query in gold.get("paraphrase_queries", []):
            _ = (query["id"], query["query"])
            for expected in query["expected_top5"]:
                _ = (expected["plan"], expected["snippet"], int(expected["offset"]))
        for theme in gold.get("themes", []):
            _ = (theme["id"], theme["tier"])
            for plan_entry in theme["plans"].values():
                if plan_entry.get("addresses"):
                    _ = (plan_entry["snippet"], int(plan_entry["offset"]))
    except (KeyError, TypeError, ValueError) as error:
        raise EvalError(f"{path}: malformed gold entry (missing or bad field {error})") from None
    return gold


def _is_plain_queries(gold: dict[str, Any]) -> bool:
    """The format of tests/data/queries/plain-queries.json: free-text queries, each with its
    `relevant` clauses, and nothing else."""
    queries = gold.get("queries")
    return (
        isinstance(queries, list)
        and bool(queries)
        and all(isinstance(query, dict) and "relevant" in query for query in queries)
    )


def _plain_queries_as_gold(gold: dict[str, Any]) -> dict[str, Any]:
    """Plain-language queries are free text over all plans: dev-gold's `paraphrase_queries`."""
    try:
        paraphrases = [
            {
                "id": query["id"],
                "query": query["query"],
                "lang": query.get("language") or query.get("lang"),
                "expected_top5": list(query["relevant"]),
            }
            for query in gold["queries"]
        ]
    except (KeyError, TypeError) as error:
        raise EvalError(f"malformed plain-query entry (missing or bad field {error})") from None
    return {"about": gold.get("about", ""), "paraphrase_queries": paraphrases}


def gold_plans(gold: dict[str, Any]) -> set[str]:
    """Every plan id the gold file refers to."""
    plans = set(gold.get("files", {}))
    for query in gold.get("queries", []):
        plans.add(query["source_plan"])
        plans.update(match["plan"] for match in query["matches"])
    for query in gold.get("paraphrase_queries", []):
        plans.update(expected["plan"] for expected in query["expected_top5"])
    for theme in gold.get("themes", []):
        plans.update(theme["plans"])
    return plans


def query_language(query: dict[str, Any]) -> str:
    """The gold query's `lang` field, else its `text_language`."""
    return str(query["lang"]) if query.get("lang") else text_language(query["query"])


def contains_offset(spanned: Any, offset: int) -> bool:
    """Whether a Clause's or a Hit's half-open spans contain `offset`."""
    return any(start <= offset < end for start, end in spanned.spans)


class GoldAnchors:
    """Gold snippets → offsets in the index's decoded texts → the clauses holding them.

    The only reader of the index here (`plans`, `source_text`, `clauses`); clauses are read once per plan.
    """

    def __init__(self, corpus: Corpus):
        self.corpus = corpus
        self.offset_shifts = 0
        self._clauses: dict[str, list[Clause]] = {}
        self._plan_ids = {record.plan_id for record in corpus.plans()}

    def check_plans(self, plans: Iterable[str]) -> None:
        missing = sorted(set(plans) - self._plan_ids)
        if missing:
            raise EvalError(
                f"the index lacks plan(s) the gold file refers to: {', '.join(missing)} "
                f"(indexed: {', '.join(sorted(self._plan_ids)) or 'none'})"
            )

    def offset(self, plan_id: str, snippet: str, offset: int, what: str) -> int:
        """Where `snippet` starts in the decoded text: at `offset`, or at its nearest occurrence."""
        text = self.corpus.source_text(plan_id)
        if text[offset : offset + len(snippet)] == snippet:
            return offset
        starts = [match.start() for match in re.finditer(re.escape(snippet), text)]
        if not starts:
            raise EvalError(
                f"{what}: snippet {snippet!r} is not in plan {plan_id} as indexed "
                "(was the index built from another version of the file?)"
            )
        self.offset_shifts += 1
        nearest = min(starts, key=lambda start: abs(start - offset))
        logger.debug("%s: snippet %r of plan %s moved from %d to %d", what, snippet, plan_id, offset, nearest)
        return nearest

    def anchor(self, plan_id: str, snippet: str, offset: int, what: str) -> tuple[int, Clause | None]:
        """The clause holding a gold snippet, and an offset inside it that a hit's spans must contain
        (the snippet's own start, or the clause's when the snippet begins outside every clause)."""
        start = self.offset(plan_id, snippet, offset, what)
        clause = self.clause_at(plan_id, start, len(snippet))
        outside = clause is not None and not contains_offset(clause, start)
        return (clause.extent[0] if outside else start), clause

    def clauses(self, plan_id: str) -> list[Clause]:
        if plan_id not in self._clauses:
            self._clauses[plan_id] = self.corpus.clauses(plan_id)
        return self._clauses[plan_id]

    def clause_at(self, plan_id: str, start: int, length: int) -> Clause | None:
        """The clause whose spans contain `start`; failing that (the snippet begins in text the
        segmenter left out, such as a list marker), the first clause overlapping the snippet."""
        end = start + max(length, 1)
        overlapping = None
        for clause in self.clauses(plan_id):
            if contains_offset(clause, start):
                return clause
            for span_start, span_end in clause.spans:
                if overlapping is None and span_start < end and start < span_end:
                    overlapping = clause
        return overlapping
