"""`semplan check`: what is wrong with an index directory, and rebuilding what its database still holds."""

from __future__ import annotations

import json
import shlex

import click

from semplan.errors import StoreError


@click.command(name="check")
@click.argument("directory", type=click.Path(path_type=str))
@click.option("--repair", is_flag=True,
              help="Rebuild what the database still holds (FAISS file, manifest), remove leftovers, check again.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: ok, counts, findings, repaired.")
def command(directory, repair, as_json):
    """Check an index directory and say what is wrong, one line per finding (exit status 1 if anything is).

    Checks the manifest (shape and values), the database (SQLite's integrity check, schema, the
    model and settings it records), the counts (each plan's clauses, the manifest's, the FAISS
    file's), the FAISS file's sha256 and the vectors it holds against the database's, and leftovers
    of interrupted writes. --repair takes the index's writer lock and rebuilds from the database
    what can be rebuilt. A damaged database cannot be repaired in place: its finding gives the
    command that re-creates the index from the plan files.

    \b
    Example:
      semplan check out/index
      semplan check out/index --repair
      semplan check out/index --json
    """
    from semplan.store import check_index, repair_index

    report = repair_index(directory) if repair else check_index(directory)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for action in report.repaired:
            click.echo(f"repaired: {action}")
        for finding in report.findings:
            click.echo(f"{finding.code}: {finding.message}")
    if report.ok:
        counts = report.counts or {"plans": 0, "clauses": 0}
        click.echo(f"{directory}: ok ({counts['plans']} plans, {counts['clauses']} clauses)", err=True)
        return
    repairable = sum(finding.repairable for finding in report.findings)
    hint = f"; {repairable} fixed by: semplan check {shlex.quote(directory)} --repair" if repairable and not repair else ""
    raise StoreError(f"{directory}: {len(report.findings)} problem{'s' * (len(report.findings) != 1)}{hint}")
