"""The lexical signal: character bigrams of each clause's matching text in an FTS5 table, ranked by BM25.

Bigrams because Chinese has no spaces and most words are two characters; a bigram index needs no
segmenter (jieba splits the same term differently in different contexts).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable

from semplan.store.records import PlanFilter

_NOT_A_WORD_CHARACTER = re.compile(r"[\W_]+")
# The SQL function that turns a matching text into its bigram document, registered on every connection.
SQL_FUNCTION = "semplan_bigrams"


def bigrams(text: str) -> list[str]:
    """Character bigrams of a matching text, punctuation and spaces dropped (a 1-character text: itself)."""
    chars = _NOT_A_WORD_CHARACTER.sub("", text.lower())
    if len(chars) < 2:
        return [chars] if chars else []
    return [chars[i : i + 2] for i in range(len(chars) - 1)]


def bigram_text(text: str) -> str:
    return " ".join(bigrams(text))


def register(conn: sqlite3.Connection) -> None:
    conn.create_function(SQL_FUNCTION, 1, bigram_text, deterministic=True)


def create_table(conn: sqlite3.Connection) -> None:
    """Migration m002: the bigram table, filled from the clauses already stored."""
    conn.execute("CREATE VIRTUAL TABLE clause_bigrams USING fts5(bigrams, tokenize = 'unicode61')")
    conn.execute(f"INSERT INTO clause_bigrams (rowid, bigrams) SELECT id, {SQL_FUNCTION}(match_text) FROM clauses")


def refill(conn: sqlite3.Connection) -> None:
    """The bigram table emptied and filled again from every stored clause (`semplan check --repair`)."""
    conn.execute("DELETE FROM clause_bigrams")
    conn.execute(f"INSERT INTO clause_bigrams (rowid, bigrams) SELECT id, {SQL_FUNCTION}(match_text) FROM clauses")


def add_plan(conn: sqlite3.Connection, plan_id: str) -> None:
    conn.execute(
        f"INSERT INTO clause_bigrams (rowid, bigrams) SELECT id, {SQL_FUNCTION}(match_text) FROM clauses WHERE plan_id = ?",
        (plan_id,),
    )


def delete_plan(conn: sqlite3.Connection, plan_id: str) -> None:
    conn.execute("DELETE FROM clause_bigrams WHERE rowid IN (SELECT id FROM clauses WHERE plan_id = ?)", (plan_id,))


def search(
    conn: sqlite3.Connection, query_text: str, limit: int, plans: PlanFilter, exclude_row_ids: Iterable[int] = ()
) -> list[tuple[int, float]]:
    """Up to `limit` (row id, BM25) pairs, best first, over the bigrams of the matching text."""
    terms = sorted(set(bigrams(query_text)))
    if not terms or limit < 1:
        return []
    match = " OR ".join(f'"{term}"' for term in terms)
    where, params = ["clause_bigrams MATCH ?"], [match]
    if plans.only is not None:
        where.append(f"c.plan_id IN ({','.join('?' * len(plans.only))})")
        params.extend(plans.only)
    if plans.exclude:
        where.append(f"c.plan_id NOT IN ({','.join('?' * len(plans.exclude))})")
        params.extend(plans.exclude)
    excluded = {int(row_id) for row_id in exclude_row_ids}
    # FTS5's bm25() is Okapi BM25 (k1 = 1.2, b = 0.75), negated so that smaller sorts first.
    rows = conn.execute(
        "SELECT c.id, -bm25(clause_bigrams) AS score FROM clause_bigrams JOIN clauses c ON c.id = clause_bigrams.rowid "
        f"WHERE {' AND '.join(where)} ORDER BY score DESC LIMIT ?",
        [*params, limit + len(excluded)],
    ).fetchall()
    return [(int(row_id), float(score)) for row_id, score in rows if row_id not in excluded][:limit]
