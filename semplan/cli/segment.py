"""`semplan segment`: print the clauses (or their statistics) of plan files."""

from __future__ import annotations

import io
import json
import sys

import click

from semplan._csv import SafeWriter
from semplan.cli import error_line
from semplan.errors import InputError
from semplan.segment import format_spans

CSV_FIELDS = ("clause_id", "plan_id", "n", "kind", "section_number", "section_title", "subsection_number",
              "subsection_title", "item_number", "item_title", "spans", "text", "match_text")


@click.command(name="segment")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of clause records.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header row.")
@click.option("--plan-id", "plan_ids", multiple=True,
              help="Plan id for each PATH in order (default: the file stem). Repeat once per file.")
@click.option("--stats", is_flag=True, help="Print per-plan counts and clause lengths instead of clauses.")
@click.option("--keep-going", is_flag=True,
              help="Report unreadable files and go on with the rest (exit status is still 1).")
def command(paths, as_json, as_csv, plan_ids, stats, keep_going):
    """Cut plans into clauses (lead, headings, item titles, sentences, notes, table rows) with exact source offsets.

    PATH is a .txt (UTF-8, UTF-16, GB18030/GBK or Big5), .docx, .html or .pdf file, or a
    directory of them (other files in it are skipped and named). With no PATH the bundled sample
    plans are used. Lines recurring across the plans given are boilerplate. The plain output has
    one clause per line: clause id, kind, section › item, source spans, text.

    \b
    Example:
      semplan segment --stats
      semplan segment plans/2021.docx --plan-id city-2021 --json > clauses.json
      semplan segment plans/ --csv --keep-going > clauses.csv
    """
    from semplan.read import iter_documents
    from semplan.segment import plan_stats, segment_documents

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    if not paths:
        from semplan.data import sample_plan_paths

        paths = tuple(str(path) for path in sample_plan_paths())
    if plan_ids and len(plan_ids) != len(paths):
        raise click.UsageError(f"{len(plan_ids)} --plan-id values for {len(paths)} paths: give one per PATH")

    failures: list[str] = []

    def report(path, error: InputError) -> None:
        failures.append(str(path))
        click.echo(error_line(str(error)), err=True)

    documents = iter_documents(paths, keep_going=keep_going, on_error=report, plan_ids=plan_ids or None)
    writer = _ClauseWriter("json" if as_json else "csv" if as_csv else "text")
    segmentations = segment_documents(documents)
    try:
        if stats:
            _print_stats(plan_stats(segmentations), as_json)
        else:
            for segmentation in segmentations:
                writer.write(segmentation.clauses)
            writer.close()
    except BrokenPipeError:
        # `semplan segment | head`: the reader is gone; stop quietly like other Unix tools.
        sys.stdout = None
        return
    if failures:
        raise InputError(f"{len(failures)} input(s) could not be read: {', '.join(failures)}")


class _ClauseWriter:
    def __init__(self, style: str) -> None:
        self.style = style
        self.count = 0
        if style == "csv":
            self.buffer = io.StringIO()
            self.csv = SafeWriter(self.buffer)
            self._csv_row(CSV_FIELDS)

    def write(self, clauses) -> None:
        for clause in clauses:
            if self.style == "json":
                prefix = "[" if self.count == 0 else ","
                click.echo(prefix + json.dumps(clause.to_dict(), ensure_ascii=False))
            elif self.style == "csv":
                record = clause.to_dict()
                record["spans"] = format_spans(clause.spans)
                self._csv_row([record[field] for field in CSV_FIELDS])
            else:
                # One clause a line: a line break kept between two joined words, or a table row's
                # tab, is shown as a space (the JSON and CSV give the exact text).
                shown = " ".join(clause.text.split("\n")).replace("\t", " ")
                click.echo(f"{clause.clause_id}\t{clause.kind}\t{clause.path or '-'}\t{format_spans(clause.spans)}\t{shown}")
            self.count += 1

    def _csv_row(self, values) -> None:
        self.csv.writerow(values)
        click.echo(self.buffer.getvalue(), nl=False)
        self.buffer.seek(0)
        self.buffer.truncate()

    def close(self) -> None:
        if self.style == "json":
            click.echo("[]" if self.count == 0 else "]")


def _print_stats(stats, as_json: bool) -> None:
    from dataclasses import asdict

    if as_json:
        click.echo(json.dumps([asdict(plan) for plan in stats], ensure_ascii=False, indent=2))
        return
    width = max([20, *(len(plan.plan_id) for plan in stats)])
    header = (f"{'plan':<{width}} {'clauses':>7} {'lead':>4} {'head':>4} {'title':>5} {'sent.':>5} {'note':>4} {'table':>5}"
              f" {'chrome':>6} {'joined':>6} {'min':>4} {'median':>6} {'p95':>4} {'max':>4}  item-number gaps")
    click.echo(header)
    for plan in stats:
        kinds = plan.by_kind
        gaps = ", ".join(f"{a}→{b}" for a, b in plan.item_gaps) or "none"
        click.echo(
            f"{plan.plan_id:<{width}} {plan.clauses:>7} {kinds['lead']:>4} {kinds['heading']:>4} {kinds['item_title']:>5}"
            f" {kinds['sentence']:>5} {kinds['note']:>4} {kinds['table_row']:>5} {plan.chrome_lines:>6}"
            f" {plan.soft_breaks:>6} {plan.min_chars:>4} {plan.median_chars:>6g} {plan.p95_chars:>4} {plan.max_chars:>4}  {gaps}"
        )
    skipped = sum(plan.table_rows_skipped for plan in stats)
    notes = "lengths in characters; chrome: lines left out; joined: line breaks inside a paragraph"
    if skipped:
        notes += f"; {skipped} empty table row(s) skipped"
    click.echo(f"{'total':<{width}} {sum(plan.clauses for plan in stats):>7}   ({notes})")
