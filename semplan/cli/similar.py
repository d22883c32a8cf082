"""`semplan similar`: clauses that say the same thing, by free text, by clause, or plan against plan."""

from __future__ import annotations

import json
import sys

import click

from semplan._csv import SafeWriter
from semplan.cli import shown
from semplan.cli._options import Score, WholeNumber, index_option

HIT_CSV_FIELDS = ("rank", "score", "verdict", "plan", "clause_id", "kind", "section", "item", "path", "text", "spans",
                  "shared_terms")
ALIGN_CSV_FIELDS = ("clause_id", "path", "text", "plan", "match_clause_id", "match_path", "match_text", "score",
                    "verdict", "shared_terms")


@click.command(name="similar")
@click.argument("text", required=False)
@index_option
@click.option("--clause", "-c", "clause_id", metavar="PLAN#N", help="Find clauses like this stored clause.")
@click.option("--plan", "-p", "plan_id", metavar="PLAN",
              help="Align a plan: for each of its clauses, the best match in every other plan.")
@click.option("-k", "k", type=WholeNumber(min=1), default=10, show_default=True, help="Hits per query.")
@click.option("--only-plan", "only_plans", multiple=True, metavar="PLAN", help="Search only these plans. Repeatable.")
@click.option("--exclude-plan", "exclude_plans", multiple=True, metavar="PLAN", help="Leave these plans out. Repeatable.")
@click.option("--min-score", type=Score(), default=None, help="Drop hits with a lower cosine score.")
@click.option("--all-matches", is_flag=True, help="With --plan: also show best matches judged `different`.")
@click.option("--include-own-plan", is_flag=True, help="With --clause: also search the clause's own plan.")
@click.option("--lexical", is_flag=True,
              help="Also weigh shared wording: fuse a BM25 character-bigram ranking with the model's.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array: one object per hit (with --plan, per clause).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header row.")
@click.option("--context", "context_width", type=WholeNumber(min=0), default=30, show_default=True,
              help="Characters of source text shown around each clause.")
def command(text, directory, clause_id, plan_id, k, only_plans, exclude_plans, min_score, all_matches, include_own_plan,
            lexical, as_json, as_csv, context_width):
    """Find the clauses in an index that say the same thing as TEXT, a clause, or a whole plan.

    TEXT may be in any language; it is normalised like the plans and encoded with the
    model's query prompt. Scores are cosine similarities; each hit's verdict (same commitment,
    related, different) comes from thresholds calibrated for the model on labelled pairs, and the
    words it shares with the query are in bold (a `same` sharing none is marked a paraphrase). The order
    is by the score of TEXT expanded by its 3 best hits (--lexical also weighs BM25 over bigrams). --clause
    searches the other plans (add --include-own-plan for its own); --plan prints an
    alignment table: every clause of PLAN with its best match in each other plan, unless
    that match is judged `different` (--all-matches shows those too).

    \b
    Example:
      semplan similar "课后服务" --index out/index -k 5
      semplan similar "after-school tutoring crackdown" --index out/index --json
      semplan similar --clause hulunbuir-2021#40 --index out/index --exclude-plan city-2019
      semplan similar --plan daqing-2021 --index out/index --min-score 0.85 --csv > align.csv
    """
    from semplan.search import PlanFilter, Searcher
    from semplan.store import Corpus

    modes = [name for name, value in (("TEXT", text), ("--clause", clause_id), ("--plan", plan_id)) if value is not None]
    if len(modes) != 1:
        raise click.UsageError("give exactly one of TEXT, --clause PLAN#N or --plan PLAN")
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    if include_own_plan and clause_id is None:
        raise click.UsageError("--include-own-plan goes with --clause")
    style = "json" if as_json else "csv" if as_csv else "text"
    plans = PlanFilter(only=only_plans or None, exclude=exclude_plans, include_own_plan=include_own_plan)
    with Corpus.open(directory) as corpus:
        searcher = Searcher(corpus)
        try:
            if plan_id is not None:
                _print_alignment(searcher.align(plan_id, plans=plans, min_score=min_score, lexical=lexical,
                                               keep_different=all_matches), style)
            else:
                search, query = (searcher.by_text, text) if clause_id is None else (searcher.by_clause, clause_id)
                hits = search(query, k, plans=plans, min_score=min_score, lexical=lexical)
                _print_hits(corpus, hits, style, context_width)
        except BrokenPipeError:
            sys.stdout = None  # `semplan similar … | head`: the reader left; stop quietly


def _print_hits(corpus, hits, style: str, context_width: int) -> None:
    if style == "json":
        click.echo(json.dumps([hit.to_dict() for hit in hits], ensure_ascii=False, indent=2))
        return
    if style == "csv":
        writer = SafeWriter(sys.stdout)
        writer.writerow(HIT_CSV_FIELDS)
        for rank, hit in enumerate(hits, start=1):
            row = hit.to_dict()
            row.update(rank=rank, spans=json.dumps(row["spans"]), shared_terms=" ".join(row["shared_terms"]))
            writer.writerow([row[field] for field in HIT_CSV_FIELDS])
        return
    if not hits:
        click.echo("no matching clauses", err=True)
        return
    for rank, hit in enumerate(hits, start=1):
        click.echo(f"{rank:>3}. {hit.score:.3f} {_verdict(hit)}  {click.style(shown(hit.clause_id), bold=True)}  "
                   f"{shown(hit.path)}")
        click.echo(f"     {_in_context(corpus, hit, context_width)}")


def _in_context(corpus, hit, width: int) -> str:
    from semplan.search import context

    before, after = context(corpus.source_text(hit.plan_id), hit.spans, width)
    before = ("…" + shown(before.lstrip())) if before else ""
    after = (shown(after.rstrip()) + "…") if after else ""
    # « » mark the clause when there is no colour (a pipe, NO_COLOR); the plans never use them.
    return (f"{click.style(before, dim=True)}«{_marked(hit.text, hit.term_spans, 'cyan')}»"
            f"{click.style(after, dim=True)}")


def _verdict(hit) -> str:
    return f"{hit.verdict or '':<9}" + (" (paraphrase)" if hit.paraphrase else "")


def _marked(text: str, spans, colour: str) -> str:
    """`text` in `colour`, its shared terms in bold."""
    from semplan.shared_terms import highlight_with

    return highlight_with(text, spans, lambda piece: click.style(shown(piece), fg=colour, bold=True),
                          lambda piece: click.style(shown(piece), fg=colour) if piece else "")


def _print_alignment(rows, style: str) -> None:
    if style == "json":
        click.echo(json.dumps([row.to_dict() for row in rows], ensure_ascii=False, indent=2))
        return
    if style == "csv":
        writer = SafeWriter(sys.stdout)
        writer.writerow(ALIGN_CSV_FIELDS)
        for row in rows:
            for plan, hit in row.matches.items():
                writer.writerow([row.clause.clause_id, row.clause.path, row.clause.text, plan,
                                 hit.clause_id if hit else "", hit.path if hit else "", hit.text if hit else "",
                                 round(hit.score, 4) if hit else "", (hit.verdict or "") if hit else "",
                                 " ".join(hit.shared_terms) if hit else ""])
        return
    for row in rows:
        click.echo(f"{click.style(shown(row.clause.clause_id), bold=True)}  {shown(row.clause.path)}")
        click.echo(f"  {click.style(shown(row.clause.text), fg='cyan')}")
        for plan, hit in row.matches.items():
            if hit is None:
                click.echo(f"    {'—':>5}  {shown(plan)}  (no match, or only a `different` one)")
            else:
                click.echo(f"    {hit.score:.3f} {_verdict(hit)} {shown(hit.clause_id)}  {_marked(hit.text, hit.term_spans, 'white')}")
        click.echo()
