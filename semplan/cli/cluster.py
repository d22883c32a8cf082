"""`semplan cluster`: the priorities of an index, as a table or JSON for scripts."""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import TYPE_CHECKING, Any

import click

from semplan.cli import shown
from semplan.cli._clustering import clustering_arguments, clustering_options
from semplan.cli._options import index_option

if TYPE_CHECKING:
    from semplan.cluster import PriorityAnalysis


@click.command(name="cluster")
@index_option
@clustering_options
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON: priorities, unique clauses, outliers, plan overlap."
)
def command(directory: str, as_json: bool, **options: Any) -> None:
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
            _print_table(analysis)
    except BrokenPipeError:
        sys.stdout = None  # `semplan cluster … | head`: the reader left; stop quietly


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int) -> str:
    """Cut and pad to `width` terminal columns (CJK characters take two); control characters escaped."""
    text = shown(" ".join(text.split()))
    if _width(text) > width:
        while _width(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - _width(text))


def _print_table(analysis: PriorityAnalysis) -> None:
    click.echo(analysis.summary())
    click.echo(f"{'id':>4}  {'tier':<8}{'plans':>5}{'size':>6}  {_fit('label', 34)}  central clause")
    for priority in analysis.priorities:
        central = analysis.clause(priority.central_clause_id).text
        click.echo(
            f"{'P' + str(priority.priority_id):>4}  {priority.tier:<8}{priority.n_plans:>5}{priority.size:>6}  "
            f"{_fit(priority.label, 34)}  {_fit(central, 50).rstrip()}"
        )
        _print_evidence(analysis, priority)


def _print_evidence(analysis: PriorityAnalysis, priority) -> None:
    """The weakest covering plan's best clause (verdict, score, shared terms in bold), then the weak members."""
    covering = [e for e in priority.evidence if e.covers and e.clause_id != priority.central_clause_id]
    if covering and covering[0].verdict:
        weakest = covering[0]
        terms = click.style(" ".join(weakest.shared_terms) or "no shared words", bold=True)
        click.echo(f"{'':>6}weakest: {shown(weakest.plan_id)} {weakest.verdict} {weakest.score:.3f} [{terms}] "
                   f"{_fit(analysis.clause(weakest.clause_id).text, 40).rstrip()}")
    if priority.weak_plans:
        click.echo(f"{'':>6}weak members (do not count): {', '.join(shown(p) for p in priority.weak_plans)}")
