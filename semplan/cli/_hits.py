"""How `semplan similar` prints hits, batches of hits and alignments: text fitted to the width, JSON, CSV."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click

from semplan._csv import SafeWriter
from semplan.cli._format import Piece, cut, echo_lines, first_columns, last_columns, wrapped

HIT_CSV_FIELDS = ("rank", "score", "verdict", "plan", "clause_id", "kind", "section", "item", "path", "text", "spans",
                  "shared_terms")
ALIGN_CSV_FIELDS = ("clause_id", "path", "text", "plan", "match_clause_id", "match_path", "match_text", "score",
                    "verdict", "shared_terms")
INDENT = 5


def _csv_row(hit, rank: int) -> list:
    row = hit.to_dict()
    row.update(rank=rank, spans=json.dumps(row["spans"]), shared_terms=" ".join(row["shared_terms"]))
    return [row[field] for field in HIT_CSV_FIELDS]


def _print_data(style: str, records: Callable[[], Any], fields: Sequence[str], rows: Callable[[], Iterable]) -> bool:
    """Print `records()` as JSON or `rows()` under `fields` as CSV, as `style` says; False for text output."""
    if style == "json":
        click.echo(json.dumps(records(), ensure_ascii=False, indent=2))
    elif style == "csv":
        writer = SafeWriter(sys.stdout)
        writer.writerow(fields)
        writer.writerows(rows())
    return style in ("json", "csv")


def print_hits(corpus, hits, style: str, context_width: int, width: int, query=None) -> None:
    """One query's hits; `query` (a Hit for the stored clause searched with) is echoed first in text output."""
    if _print_data(style, lambda: [hit.to_dict() for hit in hits], HIT_CSV_FIELDS,
                   lambda: (_csv_row(hit, rank) for rank, hit in enumerate(hits, start=1))):
        return
    if query is not None:
        click.echo(cut([Piece("query", {"bold": True}), "  ", Piece(query.clause_id, {"bold": True}), "  ",
                        query.path], width))
        echo_lines(wrapped([Piece(query.text, {"fg": "cyan"})], width, indent=INDENT))
        click.echo()
    if not hits:
        click.echo("no matching clauses", err=True)
        return
    for rank, hit in enumerate(hits, start=1):
        _print_hit(corpus, rank, hit, context_width, width)


def _print_hit(corpus, rank: int, hit, context_width: int, width: int) -> None:
    click.echo(cut([f"{rank:>3}. {hit.score:.3f} {_verdict(hit)}  ", Piece(hit.clause_id, {"bold": True}),
                    f"  {hit.path}"], width))
    echo_lines(wrapped(_in_context(corpus, hit, context_width), width, indent=INDENT))


def print_batch(corpus, queries, answers, style: str, context_width: int, width: int) -> None:
    """Many free-text queries' hits, keyed by query id: a JSON object, a long CSV, or a section per query."""
    pairs = list(zip(queries, answers, strict=True))
    if _print_data(style, lambda: {query.query_id: {"text": query.text, "hits": [hit.to_dict() for hit in hits]}
                                   for query, hits in pairs},
                   ("query_id", "query", *HIT_CSV_FIELDS),
                   lambda: ([query.query_id, query.text, *_csv_row(hit, rank)]
                            for query, hits in pairs for rank, hit in enumerate(hits, start=1))):
        return
    for number, (query, hits) in enumerate(zip(queries, answers, strict=True)):
        if number:
            click.echo()
        click.echo(cut([Piece(f"query {query.query_id}", {"bold": True}), f"  {query.text}"], width))
        for rank, hit in enumerate(hits, start=1):
            _print_hit(corpus, rank, hit, context_width, width)
        if not hits:
            click.echo(" " * INDENT + "no matching clauses")


def _in_context(corpus, hit, columns: int) -> list[str | Piece]:
    """The clause (shared terms in bold) inside up to `columns` display columns of its source on each side."""
    from semplan.search import context

    # A CJK character takes two columns: ask for `columns` characters, keep `columns` columns.
    before, after = context(corpus.source_text(hit.plan_id), hit.spans, columns)
    before, after = last_columns(before.lstrip(), columns), first_columns(after.rstrip(), columns)
    # « » mark the clause when there is no colour (a pipe, NO_COLOR); the plans never use them.
    return [Piece("…" + before if before else "", {"dim": True}), "«", *_marked(hit.text, hit.term_spans, "cyan"),
            "»", Piece(after + "…" if after else "", {"dim": True})]


def _verdict(hit) -> str:
    return f"{hit.verdict or '':<9}" + (" (paraphrase)" if hit.paraphrase else "")


def _marked(text: str, spans: Sequence[tuple[int, int]], colour: str) -> list[Piece]:
    """`text` in `colour`, its shared terms in bold."""
    marked, position = [], 0
    for start, end in spans:
        marked += [Piece(text[position:start], {"fg": colour}), Piece(text[start:end], {"fg": colour, "bold": True})]
        position = end
    return [*marked, Piece(text[position:], {"fg": colour})]


def print_alignment(rows, style: str, width: int) -> None:
    if _print_data(style, lambda: [row.to_dict() for row in rows], ALIGN_CSV_FIELDS,
                   lambda: ([row.clause.clause_id, row.clause.path, row.clause.text, plan,
                             hit.clause_id if hit else "", hit.path if hit else "", hit.text if hit else "",
                             round(hit.score, 4) if hit else "", (hit.verdict or "") if hit else "",
                             " ".join(hit.shared_terms) if hit else ""]
                            for row in rows for plan, hit in row.matches.items())):
        return
    for row in rows:
        click.echo(cut([Piece(row.clause.clause_id, {"bold": True}), f"  {row.clause.path}"], width))
        echo_lines(wrapped([Piece(row.clause.text, {"fg": "cyan"})], width, indent=2))
        for plan, hit in row.matches.items():
            if hit is None:
                click.echo(cut([f"    {'—':>5}  {plan}  (no match, or only a `different` one)"], width))
            else:
                click.echo(cut([f"    {hit.score:.3f} {_verdict(hit)} {hit.clause_id}  ",
                                *_marked(hit.text, hit.term_spans, "white")], width))
        click.echo()
