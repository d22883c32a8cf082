"""`semplan trends`: each priority's clauses per year, level of government or issuer."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from semplan.cli._clustering import clustering_arguments, clustering_options
from semplan.cli._format import cut, echo_lines, terminal_width, width_option, wrapped
from semplan.cli._options import index_option
from semplan.cli._table import padded


@click.command(name="trends")
@index_option
@click.option("--by", "by", type=click.Choice(("year", "level", "issuer")), default="year", show_default=True,
              help="Group the plans by their year, administrative level or issuer (see `semplan plans`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {by, groups, priorities, changes}.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: one row per priority, one column per group.")
@clustering_options
@width_option
def command(directory: str, by: str, as_json: bool, as_csv: bool, width: int | None, **options: Any) -> None:
    """Count each priority's clauses per year (or level, or issuer) of the plans that hold them.

    The priorities are those of `semplan report` (same clustering options, same seed, same
    priorities). Per group: the clauses of the priority and their share of all the group's
    clauses. By year, each priority also gets a trend (new, rising, steady, falling, gone)
    with the first and last year it appears in, and each year its new and dropped priorities.
    Plans without the value (`semplan plans` shows it) are counted under "unknown".

    \b
    Example:
      semplan trends --index out/series
      semplan trends --index out/index --by level --json
      semplan trends --index out/series --csv > trends.csv
    """
    from semplan.cli._progress import command_progress, notice
    from semplan.cluster import find_priorities, with_verdicts
    from semplan.compare import plan_metadata
    from semplan.report.trends import priority_trends
    from semplan.store import Corpus

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    arguments = clustering_arguments(options, map_2d=False)
    with Corpus.open(directory) as corpus, command_progress("trends") as progress:
        notice(f"clustering {len(corpus)} clauses…")
        analysis = find_priorities(corpus.clauses(), corpus.vectors(), progress=progress,
                                   **with_verdicts(arguments, corpus.model_identity))
        trends = priority_trends(analysis, plan_metadata(corpus), by)
    notice(analysis.summary())
    try:
        if as_json:
            click.echo(json.dumps(trends.to_dict(), ensure_ascii=False, indent=1))
        elif as_csv:
            _print_csv(trends)
        else:
            _print_text(trends, analysis, terminal_width(width))
    except BrokenPipeError:
        sys.stdout = None


def _print_csv(trends) -> None:
    from semplan._csv import SafeWriter
    from semplan.report.tables import trends_table

    header, rows = trends_table(trends)
    writer = SafeWriter(sys.stdout)
    writer.writerow(header)
    writer.writerows(rows)


def _print_text(trends, analysis, width: int) -> None:
    column = max(6, *(len(group) for group in trends.groups))
    cells = {group: padded(group, column, ">") for group in trends.groups}
    click.echo(cut(["        " + " ".join(cells.values()) + "   trend"], width))
    click.echo(cut(["clauses " + " ".join(f"{trends.clauses[group]:>{column}}" for group in trends.groups)], width))
    for entry in trends.by_direction() if trends.has_trends else trends.priorities:
        counts = " ".join(f"{entry.counts[group] or '·':>{column}}" for group in trends.groups)
        trend = f"   {entry.direction} {entry.first}–{entry.last}" if entry.direction else ""
        click.echo(cut([f"{'P' + str(entry.priority_id):<8}{counts}{trend}  {entry.label}"], width))
    for change in trends.changes[1:]:
        new = ", ".join(f"P{p} {analysis.priority(p).label}" for p in change.new) or "none"
        dropped = ", ".join(f"P{p} {analysis.priority(p).label}" for p in change.dropped) or "none"
        click.echo()
        echo_lines(wrapped([f"{change.group}: new {new}"], width, indent=len(change.group) + 2, first_indent=0))
        echo_lines(wrapped([f"dropped {dropped}"], width, indent=len(change.group) + 2))
