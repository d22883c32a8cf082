"""`semplan compare`: what plan B says that plan A does not, and what it dropped and reworded."""

from __future__ import annotations

import json
import sys

import click

from semplan.cli._format import Piece, cut, echo_lines, terminal_width, width_option, wrapped
from semplan.cli._options import index_option

CSV_FIELDS = ("status", "moved", "score", "shared", "section", "a_clause_id", "a_path", "a_text",
              "b_clause_id", "b_path", "b_text", "closest_clause_id", "figures", "diff")  # fmt: skip
MARKS = {"same": "=", "reworded": "~", "added": "+", "removed": "-"}
COLOURS = {"same": None, "reworded": "yellow", "added": "green", "removed": "red"}


@click.command(name="compare")
@click.argument("plan_a", metavar="A")
@click.argument("plan_b", metavar="B")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {a, b, summary, pairs}.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: one row per pair.")
@click.option("--html", "html_path", type=click.Path(path_type=str, dir_okay=False), default=None,
              help="Write a page showing A and B side by side, by section, coloured by status.")
@click.option("--all", "show_all", is_flag=True, help="Text output: also list the clauses that stayed the same.")
@width_option
def command(plan_a, plan_b, directory, as_json, as_csv, html_path, show_all, width):
    """Align plan A's clauses one to one with plan B's and say what changed.

    Each pair is `same`, `reworded` (the same commitment in other words or with other
    figures: a word diff, changed figures called out), `added` (only in B) or `removed`
    (only in A); an added or removed clause shows the closest clause on the other side
    and its cosine. `moved` marks a pair whose section changed. A is the earlier plan.

    \b
    Example:
      semplan compare hulunbuir-2021 hulunbuir-2022 --index out/index
      semplan compare gwr-2023 gwr-2024 --index out/series --json > changes.json
      semplan compare gwr-2023 gwr-2024 --index out/series --html out/gwr-2023-2024.html
    """
    from semplan.compare import compare_plans
    from semplan.store import Corpus

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    with Corpus.open(directory) as corpus:
        comparison = compare_plans(corpus, plan_a, plan_b)
    if html_path:
        from semplan.report.compare_page import write_compare_html

        click.echo(f"wrote {write_compare_html(comparison, html_path)}", err=True)
    try:
        if as_json:
            click.echo(json.dumps(comparison.to_dict(), ensure_ascii=False, indent=1))
        elif as_csv:
            _print_csv(comparison)
        elif not html_path or show_all:
            _print_text(comparison, show_all, terminal_width(width))
        else:
            click.echo(comparison.summary_line())
    except BrokenPipeError:
        sys.stdout = None  # `semplan compare … | head`: the reader left; stop quietly


def _print_csv(comparison) -> None:
    from semplan._csv import SafeWriter
    from semplan.compare import inline_diff

    writer = SafeWriter(sys.stdout)
    writer.writerow(CSV_FIELDS)
    for pair in comparison.pairs:
        writer.writerow([
            pair.status, int(pair.moved), round(pair.score, 4), "" if pair.shared is None else round(pair.shared, 4),
            pair.section, pair.a.clause_id if pair.a else "", pair.a.path if pair.a else "",
            pair.a.text if pair.a else "", pair.b.clause_id if pair.b else "", pair.b.path if pair.b else "",
            pair.b.text if pair.b else "", pair.closest.clause_id if pair.closest else "",
            "; ".join(str(change) for change in pair.figures), inline_diff(pair.diff),
        ])  # fmt: skip


def _print_text(comparison, show_all: bool, width: int) -> None:
    for side, plan in (("A", comparison.a), ("B", comparison.b)):
        click.echo(cut([f"{side}  ", Piece(plan.plan_id, {"bold": True}), f"  {plan.describe()}"], width))
    echo_lines(wrapped([comparison.summary_line()], width))
    counts_by_section = {row["section"]: row for row in comparison.sections()}
    for section, pairs in comparison.by_section():
        row = counts_by_section[section]
        counts = ", ".join(f"{row[status]} {status}" for status in MARKS if row[status])
        click.echo()
        echo_lines(wrapped([Piece(section or "(before the first section)", {"bold": True}), f"  [{counts}]"], width))
        for pair in pairs:
            if show_all or pair.status != "same" or pair.moved:
                _print_pair(pair, width)


def _print_pair(pair, width: int) -> None:
    from semplan.compare import inline_diff

    mark = Piece(f"{MARKS[pair.status]} {pair.status:<8}", {"fg": COLOURS[pair.status]} if COLOURS[pair.status] else {})
    moved = [Piece(" moved", {"fg": "magenta"})] if pair.moved else []
    if pair.status in ("same", "reworded"):
        ids = f"{pair.a.clause_id} → {pair.b.clause_id}"
        text = inline_diff(pair.diff) if pair.diff else pair.b.text
    else:
        ids = (pair.b or pair.a).clause_id
        text = (pair.b or pair.a).text
    click.echo(cut(["  ", mark, f" {ids}  {pair.score:.3f}", *moved], width))
    echo_lines(wrapped([text], width, indent=6))
    if pair.figures:
        echo_lines(wrapped([f"figures: {'; '.join(str(change) for change in pair.figures)}"], width, indent=6))
    if pair.closest is not None:
        closest = f"closest in {'A' if pair.status == 'added' else 'B'}: {pair.closest.clause_id} {pair.closest.text}"
        click.echo(cut([" " * 6, Piece(closest, {"dim": True})], width))
