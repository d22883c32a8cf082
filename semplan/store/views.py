"""Read-only views of an index beside `Corpus` (which is at its size limit): its stored plan
metadata, and its clauses as a pandas DataFrame for notebooks (a mixin of `Corpus`). Nothing here writes.
"""

from __future__ import annotations

from typing import Any

from semplan.store import schema

CLAUSE_COLUMNS = ("clause_id", "plan", "n", "kind", "path", "section_number", "section_title", "subsection_number",
                  "subsection_title", "item_number", "item_title", "start", "end", "text", "match_text")  # fmt: skip
PLAN_COLUMNS = ("year", "level", "issuer", "doc_type", "title")


class CorpusFrames:
    def clauses_frame(self, plan_id: str | None = None) -> Any:
        """A pandas DataFrame, one row per clause (all plans, or `plan_id`'s) in plan then reading
        order, with each plan's year, level, issuer, document type and title (needs semplan[frames])."""
        from semplan._frames import data_frame

        metadata = stored_plan_metadata(self)
        rows = []
        for clause in self.clauses(plan_id):  # type: ignore[attr-defined]
            start, end = clause.extent
            plan = metadata.get(clause.plan_id, {})
            rows.append({"clause_id": clause.clause_id, "plan": clause.plan_id, "n": clause.n, "kind": clause.kind,
                         "path": clause.path, "section_number": clause.section_number,
                         "section_title": clause.section_title, "subsection_number": clause.subsection_number,
                         "subsection_title": clause.subsection_title, "item_number": clause.item_number,
                         "item_title": clause.item_title, "start": start, "end": end, "text": clause.text,
                         "match_text": clause.match_text, **{column: plan.get(column) for column in PLAN_COLUMNS}})  # fmt: skip
        return data_frame(rows, [*CLAUSE_COLUMNS, *PLAN_COLUMNS])


def stored_plan_metadata(corpus: Any) -> dict[str, dict[str, Any]]:
    """The stored metadata of every plan of an open `Corpus` that has some: plan id → {field: value, "sources": {...}}."""
    rows = corpus._conn.execute(f"{schema.SELECT_PLAN_METADATA} ORDER BY plan_id").fetchall()
    return {row[0]: schema.plan_metadata_from_row(row) for row in rows}
