"""`semplan cluster`: the priorities of an index, as a table or JSON for scripts."""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable
from typing import Any

import click

from semplan.cli._options import index_option
from semplan.cluster import DEFAULT_SEED, DEFAULT_UMAP_DIMS


def clustering_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The clustering parameters shared by `semplan cluster` and `semplan report`."""
    options = [
        click.option(
            "--min-cluster-size",
            type=click.IntRange(min=2),
            default=None,
            help="Fewest clauses in a priority [default: max(3, √clauses / 8)].",
        ),
        click.option(
            "--min-samples",
            type=click.IntRange(min=1),
            default=None,
            help="HDBSCAN density smoothing; higher → more outliers [default: min cluster size // 2].",
        ),
        click.option(
            "--umap-dims",
            type=click.IntRange(min=2),
            default=DEFAULT_UMAP_DIMS,
            show_default=True,
            help="Dimensions UMAP reduces the vectors to before clustering.",
        ),
        click.option(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            show_default=True,
            help="Random seed: same seed, same priorities.",
        ),
        click.option(
            "--assign-outliers",
            is_flag=True,
            help="Put each outlier in its nearest priority when it is as close as that priority's loosest members.",
        ),
        click.option(
            "--assign-threshold",
            type=click.FloatRange(-1, 1),
            default=None,
            help="With --assign-outliers: a fixed cosine similarity to the priority centroid instead.",
        ),
        click.option(
            "--match-threshold",
            type=click.FloatRange(-1, 1),
            default=None,
            help="Count a cross-plan match at this cosine score instead of the calibrated per-clause rule.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def cluster_keywords(options: dict[str, Any]) -> dict[str, Any]:
    """CLI option values → `find_priorities` keyword arguments."""
    if options.get("assign_threshold") is not None and not options.get("assign_outliers"):
        raise click.UsageError("--assign-threshold goes with --assign-outliers")
    return {
        "min_cluster_size": options.get("min_cluster_size"),
        "min_samples": options.get("min_samples"),
        "umap_dims": options.get("umap_dims", DEFAULT_UMAP_DIMS),
        "seed": options.get("seed", DEFAULT_SEED),
        "assign_outliers": bool(options.get("assign_outliers")),
        "assign_threshold": options.get("assign_threshold"),
        "match_threshold": options.get("match_threshold"),
    }


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
    from semplan.cluster import find_priorities
    from semplan.store import Corpus

    keywords = cluster_keywords(options)
    with Corpus.open(directory) as corpus:
        clauses = corpus.clauses()
        click.echo(f"clustering {len(clauses)} clauses…", err=True)
        analysis = find_priorities(clauses, corpus.vectors(), map_2d=False, **keywords)
    try:
        if as_json:
            data = analysis.to_dict()
            data.pop("clauses")
            for priority in data["priorities"]:
                priority["central_clause"] = analysis.clause(priority["central_clause_id"]).text
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            _print_table(analysis)
    except BrokenPipeError:
        sys.stdout = None  # `semplan cluster … | head`: the reader left; stop quietly


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int) -> str:
    """Cut and pad to `width` terminal columns (CJK characters take two)."""
    text = " ".join(text.split())
    if _width(text) > width:
        while _width(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - _width(text))


def _print_table(analysis: Any) -> None:
    counts = analysis.tier_counts()
    click.echo(
        f"{len(analysis.priorities)} priorities over {len(analysis.plans)} plans "
        f"({counts['all']} all, {counts['several']} several, {counts['unique']} unique); "
        f"{len(analysis.outliers)} outliers; {sum(r.unique for r in analysis.results)} unique clauses"
    )
    click.echo(f"{'id':>4}  {'tier':<8}{'plans':>5}{'size':>6}  {_fit('label', 34)}  central clause")
    for priority in analysis.priorities:
        central = analysis.clause(priority.central_clause_id).text
        click.echo(
            f"{'P' + str(priority.priority_id):>4}  {priority.tier:<8}{priority.n_plans:>5}{priority.size:>6}  "
            f"{_fit(priority.label, 34)}  {_fit(central, 50).rstrip()}"
        )
