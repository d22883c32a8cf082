"""`semplan similar`: clauses that say the same thing, by free text, by clause, or plan against plan."""

from __future__ import annotations

import sys

import click

from semplan.cli._format import terminal_width, width_option
from semplan.cli._hits import print_alignment, print_batch, print_hits
from semplan.cli._options import Score, WholeNumber, index_option


@click.command(name="similar")
@click.argument("text", required=False)
@index_option
@click.option("--clause", "-c", "clause_id", metavar="PLAN#N", help="Find clauses like this stored clause.")
@click.option("--plan", "-p", "plan_id", metavar="PLAN",
              help="Align a plan: for each of its clauses, the best match in every other plan.")
@click.option("--queries", "-q", "queries_file", type=click.Path(path_type=str, dir_okay=False), metavar="FILE",
              help='Answer every query of FILE in one run: one a line, or JSON Lines of {"id": …, "text": …}.')
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
              help="Columns of source text shown around each clause (a CJK character takes two).")
@width_option
def command(text, directory, clause_id, plan_id, queries_file, k, only_plans, exclude_plans, min_score, all_matches,
            include_own_plan, lexical, as_json, as_csv, context_width, width):
    """Find the clauses in an index that say the same thing as TEXT, a clause, or a whole plan.

    TEXT may be in any language; it is normalised like the plans and encoded with the
    model's query prompt. Scores are cosine similarities; each hit's verdict (same commitment,
    related, different) comes from thresholds calibrated for the model on labelled pairs, and the
    words it shares with the query are in bold (a `same` sharing none is marked a paraphrase). The order
    is by the score of TEXT expanded by its 3 best hits (--lexical also weighs BM25 over bigrams). --clause
    searches the other plans (add --include-own-plan for its own); --plan prints an
    alignment table: every clause of PLAN with its best match in each other plan, unless
    that match is judged `different` (--all-matches shows those too). --queries answers a file
    of free-text queries in one run (one model load, one batch), keyed by query id.

    \b
    Example:
      semplan similar "课后服务" --index out/index -k 5
      semplan similar "after-school tutoring crackdown" --index out/index --json
      semplan similar --clause hulunbuir-2021#40 --index out/index --exclude-plan city-2019
      semplan similar --plan daqing-2021 --index out/index --min-score 0.85 --csv > align.csv
      semplan similar --queries questions.jsonl --index out/index -k 3 --json > answers.json
    """
    from semplan.search import Hit, PlanFilter, Searcher, read_queries
    from semplan.store import Corpus

    given = (("TEXT", text), ("--clause", clause_id), ("--plan", plan_id), ("--queries", queries_file))
    if len([name for name, value in given if value is not None]) != 1:
        raise click.UsageError("give exactly one of TEXT, --clause PLAN#N, --plan PLAN or --queries FILE")
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    if include_own_plan and clause_id is None:
        raise click.UsageError("--include-own-plan goes with --clause")
    style = "json" if as_json else "csv" if as_csv else "text"
    width = terminal_width(width)
    plans = PlanFilter(only=only_plans or None, exclude=exclude_plans, include_own_plan=include_own_plan)
    queries = read_queries(queries_file) if queries_file is not None else None
    options = {"plans": plans, "min_score": min_score, "lexical": lexical}
    with Corpus.open(directory) as corpus:
        searcher = Searcher(corpus)
        try:
            if plan_id is not None:
                print_alignment(searcher.align(plan_id, keep_different=all_matches, **options), style, width)
            elif queries is not None:
                answers = searcher.by_texts([query.text for query in queries], k, **options,
                                            query_ids=[query.query_id for query in queries])
                print_batch(corpus, queries, answers, style, context_width, width)
            elif clause_id is not None:
                hits = searcher.by_clause(clause_id, k, **options)
                query = Hit.of(corpus.clause(clause_id), 1.0)
                print_hits(corpus, hits, style, context_width, width, query=query)
            else:
                print_hits(corpus, searcher.by_text(text, k, **options), style, context_width, width)
        except BrokenPipeError:
            sys.stdout = None  # `semplan similar … | head`: the reader left; stop quietly
