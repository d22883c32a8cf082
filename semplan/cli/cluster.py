"""`semplan cluster`: the priorities of an index, as a table or JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from semplan.cli._clustering import clustering_arguments, clustering_options
from semplan.cli._format import Piece, cut, echo_lines, terminal_width, width_option, wrapped
from semplan.cli._options import index_option
from semplan.cli._table import Column, Table

if TYPE_CHECKING:
    from semplan.cluster import PriorityAnalysis


@click.command(name="cluster")
@index_option
@clustering_options
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON: priorities, unique clauses, outliers, plan overlap."
)
@width_option
def command(directory: str, as_json: bool, width: int | None, **options: Any) -> None:
    """Group an index's clauses into priorities and print them, widest-shared first.

    Each priority is a cluster of clauses that say the same thing (UMAP + HDBSCAN over
    the clause vectors), labelled by its keywords, with its tier (all plans, several,
    or one), the plans holding it and its most central clause. Clauses in no priority
    are outliers; --assign-outliers places the close ones. The first run in a fresh
    environment compiles UMAP (about 30 s).

    \b
    Example:
      semplan cluster --index out/index
      semplan cluster --index out/index --min-cluster-size 5 --seed 7 --json > priorities.json
    """
    from semplan.cli._progress import command_progress, notice
    from semplan.cluster import find_priorities, with_verdicts
    from semplan.store import Corpus

    arguments = clustering_arguments(options, map_2d=False)
    with Corpus.open(directory) as corpus:
        clauses = corpus.clauses()
        notice(f"clustering {len(clauses)} clauses…")
        with command_progress("cluster") as progress:
            analysis = find_priorities(clauses, corpus.vectors(), progress=progress,
                                       **with_verdicts(arguments, corpus.model_identity))
    try:
        if as_json:
            click.echo(json.dumps(analysis.summary_dict(), ensure_ascii=False, indent=2))
        else:
            _print_table(analysis, terminal_width(width))
    except BrokenPipeError:
        sys.stdout = None  # `semplan cluster … | head`: the reader left; stop quietly


COLUMNS = (Column("id", 4, ">"), Column("tier", 7), Column("plans", 5, ">"), Column("size", 4, ">"),
           Column("label", minimum=12), Column("central clause", minimum=12))


def _print_table(analysis: PriorityAnalysis, width: int) -> None:
    echo_lines(wrapped([analysis.summary()], width))
    table = Table(COLUMNS, width)
    click.echo(table.heading())
    for priority in analysis.priorities:
        central = analysis.clause(priority.central_clause_id).text
        click.echo(table.line([f"P{priority.priority_id}", priority.tier, str(priority.n_plans), str(priority.size),
                               priority.label, central]))
        _print_evidence(analysis, priority, width)


def _print_evidence(analysis: PriorityAnalysis, priority, width: int) -> None:
    """The weakest covering plan's best clause (verdict, score, shared terms in bold), then the weak members."""
    covering = [e for e in priority.evidence if e.covers and e.clause_id != priority.central_clause_id]
    if covering and covering[0].verdict:
        weakest = covering[0]
        terms = Piece(" ".join(weakest.shared_terms) or "no shared words", {"bold": True})
        click.echo(cut([f"{'':>6}weakest: {weakest.plan_id} {weakest.verdict} {weakest.score:.3f} [", terms, "] ",
                        analysis.clause(weakest.clause_id).text], width))
    if priority.weak_plans:
        click.echo(cut([f"{'':>6}weak members (do not count): {', '.join(priority.weak_plans)}"], width))
