"""`semplan plans`: the plans of an index and their metadata; the metadata options `semplan index` takes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from semplan.cli._format import Piece, cut, echo_lines, terminal_width, width_option, wrapped
from semplan.cli._options import index_option
from semplan.metadata import FIELDS, LEVELS

PLANS_CSV_FIELDS = ("plan_id", *FIELDS, "n_clauses", "path")


def metadata_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--meta FILE and one option per field: what `semplan index` sets by hand."""
    options = [
        click.option("--meta", "meta_file", type=click.Path(path_type=str, dir_okay=False), default=None,
                     help="CSV of plan metadata, columns by name: plan (or file), title, issuer, region, body, "
                          "level, year, doc_type. Overrides what the text and file name say."),
        click.option("--year", "meta_year", type=click.IntRange(1900, 2100), default=None,
                     help="Year of every plan indexed in this run."),
        click.option("--level", "meta_level", type=click.Choice(LEVELS), default=None,
                     help="Administrative level of every plan indexed in this run."),
        click.option("--issuer", "meta_issuer", default=None, help="Issuer of every plan indexed in this run."),
        click.option("--doc-type", "meta_doc_type", default=None,
                     help="Document type (工作要点, 政府工作报告, …) of every plan indexed in this run."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def metadata_overrides(options: dict[str, Any], listed: dict[str, dict[str, Any]] | None = None) -> Any:
    """The `MetadataOverrides` of `metadata_options`' values (popped from `options`); `listed`: the
    metadata a manifest file gave, which a --meta file's values override."""
    from semplan.metadata import overrides_from

    sidecar = options.pop("meta_file")
    values = {name: options.pop(f"meta_{name}") for name in ("year", "level", "issuer", "doc_type")}
    overrides = overrides_from(sidecar, **values)
    if not listed:
        return overrides
    by_plan = {plan: {**listed.get(plan, {}), **overrides.by_plan.get(plan, {})} for plan in {*listed, *overrides.by_plan}}
    return type(overrides)(by_plan, overrides.for_all)


@click.command(name="plans")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array: one object per plan.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header row.")
@width_option
def command(directory: str, as_json: bool, as_csv: bool, width: int | None) -> None:
    """List the plans of an index with their metadata: title, issuer, level, year, document type.

    The metadata is read from the head of each plan and its file name when it is indexed;
    `semplan index … --meta plans.csv` (or --year, --level, --issuer, --doc-type)
    overrides it. `sources` in the JSON says where each value came from.

    \b
    Example:
      semplan plans --index out/index
      semplan plans --index out/index --json
      semplan index plans/ --out out/index --meta plans.csv && semplan plans --index out/index
    """
    import sys

    from semplan._csv import SafeWriter
    from semplan.compare import plan_metadata
    from semplan.store import Corpus

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    with Corpus.open(directory) as corpus:
        records = {record.plan_id: record for record in corpus.plans()}
        metadata = plan_metadata(corpus)
    rows = [
        {**metadata[plan_id].to_dict(), "n_clauses": record.n_clauses, "path": record.path}
        for plan_id, record in records.items()
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif as_csv:
        writer = SafeWriter(sys.stdout)
        writer.writerow(PLANS_CSV_FIELDS)
        writer.writerows([["" if row[name] is None else row[name] for name in PLANS_CSV_FIELDS] for row in rows])
    else:
        width = terminal_width(width)
        for row in rows:
            click.echo(cut([Piece(row["plan_id"], {"bold": True}),
                            f"  {metadata[row['plan_id']].describe()}  ({row['n_clauses']} clauses)"], width))
            echo_lines(wrapped([row["title"]], width, indent=2) if row["title"] else [])
