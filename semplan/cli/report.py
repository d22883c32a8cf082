"""`semplan report`: the HTML/Markdown/CSV/JSON report of an index's priorities."""

from __future__ import annotations

from typing import Any

import click

from semplan.cli._clustering import clustering_arguments, clustering_options
from semplan.cli._options import index_option


@click.command(name="report")
@index_option
@click.option(
    "--out",
    "-o",
    "out_dir",
    required=True,
    type=click.Path(path_type=str),
    help="Directory to write the report into.",
)
@click.option(
    "--title", default="semplan report", show_default=True, help="Title of report.html and report.md."
)
@clustering_options
def command(directory: str, out_dir: str, title: str, **options: Any) -> None:
    """Write the report of which priorities the plans share and which each holds alone.

    OUT gets report.html (one self-contained page that works offline: plans × priorities
    heatmap, a 2-D map of all clauses, the priorities with their clauses by plan and
    links into the source text, each plan's unique priorities and clauses, the plan ×
    plan matrix), report.md (the same findings as text), priorities.csv, clauses.csv
    (clause, plan, priority, score, …), report.json (everything) and report.xlsx (a sheet
    each: priorities, evidence, clauses, plan × plan, unique clauses, over time). The clustering
    options are those of `semplan cluster`.

    \b
    Example:
      semplan index semplan/data/sample_plans --out out/sample/index
      semplan report --index out/sample/index --out out/sample/report
      semplan report --index out/sample/index --out out/report-7 --seed 7 --assign-outliers
    """
    from semplan.cli._progress import command_progress, notice
    from semplan.report import report_corpus
    from semplan.store import Corpus

    arguments = clustering_arguments(options)
    with Corpus.open(directory) as corpus, command_progress("report") as progress:
        notice(f"clustering {len(corpus)} clauses…")
        analysis, files = report_corpus(corpus, out_dir, title=title, progress=progress, **arguments)
    click.echo(analysis.summary())
    for path in files.values():
        click.echo(f"wrote {path}")
