"""`semplan eval`: quality figures on labelled data (a table, or JSON with --json)."""

from __future__ import annotations

import json
from pathlib import Path

import click

import semplan.evaluation as evaluation
from semplan.models import DEFAULT_MODEL

BACKENDS = ("auto", "torch", "onnx", "onnx-int8", "use")
ROLE_PLURALS = {"clause": "clauses", "passage": "passages", "query": "queries"}


def _encoder(model: str, backend: str, no_cache: bool):
    from semplan.encode import Encoder

    return Encoder(model=model, backend=backend, cache_path=None if no_cache else "default")


def _model_options(function):
    function = click.option(
        "--no-cache", is_flag=True, help="Encode every text afresh (skip the embedding cache)."
    )(function)
    function = click.option(
        "--backend", type=click.Choice(BACKENDS), default="auto", show_default=True, help="Encoder backend."
    )(function)
    return click.option(
        "--model",
        "-m",
        default=DEFAULT_MODEL,
        show_default=True,
        help="Registry model name or model directory.",
    )(function)


def _json_option(function):
    return click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")(function)


def _echo_json(data: dict) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


@click.group(name="eval")
def command() -> None:
    """Measure matching and clustering quality on labelled data.

    \b
    Example:
      semplan eval sts tests/data/sts-sample.tsv
      semplan eval clustering tests/data/clustering-sample.tsv --model use-multilingual
      semplan eval retrieval tests/data/dev-gold.json --index out/index
    """


@command.command(name="sts")
@click.argument("file", type=click.Path(path_type=Path))
@_model_options
@click.option(
    "--role",
    type=click.Choice(["clause", "passage", "query"]),
    default="clause",
    show_default=True,
    help="Prompt role for both sentences (clause: as semplan encodes plan clauses).",
)
@_json_option
def sts_command(file: Path, model: str, backend: str, no_cache: bool, role: str, as_json: bool) -> None:
    """Spearman and Pearson correlation of cosine similarity with human scores.

    FILE has one pair a line, `sentence1<TAB>sentence2<TAB>score`, no header. Both sentences are
    encoded in the same role (a similarity pair is symmetric), as clauses by default.

    \b
    Example:
      semplan eval sts tests/data/sts-sample.tsv --model multilingual-e5-small --json
    """
    pairs = evaluation.read_sentence_pairs(file)
    with _encoder(model, backend, no_cache) as encoder:
        result = evaluation.evaluate_sts(pairs, encoder, role=role)
    if as_json:
        _echo_json({"file": str(file), **result.to_dict()})
        return
    click.echo(
        f"STS  {file}  ({result.n_pairs} pairs; {result.model} on {result.backend}, both as {ROLE_PLURALS[result.role]})"
    )
    rows = [
        ("pairs", "n", "spearman", "pearson"),
        ("all", str(result.n_pairs), f"{result.spearman:.3f}", f"{result.pearson:.3f}"),
    ]
    for languages, n_pairs, spearman, pearson in result.by_languages:
        rows.append((languages, str(n_pairs), f"{spearman:.3f}", f"{pearson:.3f}"))
    click.echo(_table(rows))


def _mean_sd(scores: evaluation.ClusteringScores, metric: str, fmt: str) -> str:
    value = format(getattr(scores, metric), fmt)
    return f"{value}±{format(scores.sd[metric], fmt)}" if scores.runs > 1 else value


@command.command(name="clustering")
@click.argument("file", type=click.Path(path_type=Path))
@_model_options
@click.option(
    "--min-cluster-size", type=click.IntRange(min=2), default=None, help="HDBSCAN's smallest cluster."
)
@click.option(
    "--seed",
    type=int,
    default=evaluation.DEFAULT_SEED,
    show_default=True,
    help="UMAP and k-means seed of the first run.",
)
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Runs with seeds SEED, SEED+1, ...; scores are means.",
)
@_json_option
def clustering_command(
    file: Path,
    model: str,
    backend: str,
    no_cache: bool,
    min_cluster_size: int | None,
    seed: int,
    runs: int,
    as_json: bool,
) -> None:
    """V-measure, NMI and ARI of semplan's clustering and of k-means (told the true number of classes).

    FILE has one text a line, `text<TAB>label`, no header. Outliers count as clusters of one;
    their share is reported. Figures are means over --runs seeded runs, ± their standard deviation.

    \b
    Example:
      semplan eval clustering tests/data/clustering-sample.tsv --json
    """
    texts = evaluation.read_labelled_texts(file)
    with _encoder(model, backend, no_cache) as encoder:
        result = evaluation.evaluate_clustering(
            texts, encoder, min_cluster_size=min_cluster_size, seed=seed, runs=runs
        )
    if as_json:
        _echo_json({"file": str(file), **result.to_dict()})
        return
    rows = [("method", "clusters", "V-measure", "NMI", "ARI", "outliers")]
    for scores in result.methods:
        rows.append(
            (
                scores.method,
                _mean_sd(scores, "n_clusters", ".1f"),
                _mean_sd(scores, "v_measure", ".3f"),
                _mean_sd(scores, "nmi", ".3f"),
                _mean_sd(scores, "ari", ".3f"),
                _mean_sd(scores, "outlier_share", ".1%"),
            )
        )
    runs_note = f", mean ± sd of {result.methods[0].runs} runs" if result.methods[0].runs > 1 else ""
    click.echo(
        f"clustering  {file}  ({result.n_texts} texts, {result.n_classes} classes; "
        f"{result.model} on {result.backend}{runs_note})"
    )
    click.echo(_table(rows))


@command.command(name="retrieval")
@click.argument("gold", type=click.Path(path_type=Path))
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory.")
@click.option(
    "-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Hits retrieved per query."
)
@click.option(
    "--queries-as",
    type=click.Choice(evaluation.QUERY_MODES),
    default="clause",
    show_default=True,
    help="Search gold queries with their stored clause, or encode their text as a query.",
)
@click.option(
    "--no-themes", is_flag=True, help="Skip the priority-theme agreement (which clusters the index)."
)
@click.option(
    "--lexical/--dense",
    default=None,
    help="Fuse BM25 over character bigrams into every search, or use vectors alone "
    "[default: whatever `semplan similar` does].",
)
@click.option("--seed", type=int, default=evaluation.DEFAULT_SEED, show_default=True, help="Clustering seed.")
@_json_option
def retrieval_command(
    gold: Path,
    index_dir: Path,
    k: int,
    queries_as: str,
    no_themes: bool,
    lexical: bool | None,
    seed: int,
    as_json: bool,
) -> None:
    """Recall@5/@k and MRR of clause search, and agreement of priority tiers with gold themes.

    GOLD is a JSON file in the format of tests/data/dev-gold.json; the index must hold its plans
    (plan ids are file stems). A hit is a returned clause whose spans contain an expected snippet's
    offset; the query's own plan is excluded.

    \b
    Example:
      semplan index semplan/data/sample_plans --out out/index
      semplan eval retrieval tests/data/dev-gold.json --index out/index
    """
    from semplan.store import Corpus

    gold_data = evaluation.load_gold(gold)
    with Corpus.open(index_dir) as corpus:
        result = evaluation.evaluate_retrieval(
            corpus, gold_data, k=k, queries_as=queries_as, themes=not no_themes, seed=seed, lexical=lexical
        )
    if as_json:
        _echo_json({"gold": str(gold), "index": str(index_dir), **result.to_dict()})
        return
    how = {None: "search defaults", True: "dense + BM25", False: "dense only"}[result.lexical]
    click.echo(f"retrieval  {gold}  (index {index_dir}; {result.model}, {how}; top {result.k})")
    rows = [("set", "queries", "expected", *(f"recall@{cutoff}" for cutoff in result.ks), "MRR")]
    for scores in result.groups:
        rows.append(
            (
                scores.group,
                str(scores.n_queries),
                str(scores.n_expected),
                *(f"{scores.recall[cutoff]:.3f}" for cutoff in result.ks),
                f"{scores.mrr:.3f}",
            )
        )
    click.echo(_table(rows))
    if result.unique_queries:
        scores_text = ", ".join(
            f"{outcome.query_id} {outcome.top_score:.3f}"
            if outcome.top_score is not None
            else outcome.query_id
            for outcome in result.unique_queries
        )
        click.echo(f"unique queries (no gold match; best score in other plans): {scores_text}")
    if result.offset_shifts:
        click.echo(
            f"note: {result.offset_shifts} gold offsets did not match the indexed text and were relocated"
        )
    themes = result.themes
    if themes is not None:
        click.echo(
            f"themes: mean Jaccard {themes.mean_jaccard:.3f} over {themes.n_themes} "
            f"({themes.mean_jaccard_shared:.3f} over shared ones); "
            f"tier agreement {themes.tier_agreement}/{themes.n_themes}; "
            f"unique flagged {themes.n_unique_flagged}/{themes.n_unique}; "
            f"shared-theme clauses flagged unique {themes.n_shared_flagged_unique}; "
            f"{themes.n_priorities} priorities, {themes.outlier_share:.1%} outliers"
        )
