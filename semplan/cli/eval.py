"""`semplan eval`: quality figures on labelled data (a table, or JSON with --json)."""

from __future__ import annotations

from pathlib import Path

import click

import semplan.evaluation as evaluation
from semplan.cli._eval_options import _echo, _encoder, _json_option, _model_options
from semplan.cli.eval_verdicts import verdicts_command


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
@click.option("--role", type=click.Choice(["clause", "passage", "query"]), default="clause",
              show_default=True,
              help="Prompt role for both sentences (clause: as semplan encodes plan clauses).")
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
    _echo(result, as_json, file=str(file))


@command.command(name="clustering")
@click.argument("file", type=click.Path(path_type=Path))
@_model_options
@click.option("--min-cluster-size", type=click.IntRange(min=2), default=None,
              help="HDBSCAN's smallest cluster.")
@click.option("--seed", type=int, default=evaluation.DEFAULT_SEED, show_default=True,
              help="UMAP and k-means seed of the first run.")
@click.option("--runs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Runs with seeds SEED, SEED+1, ...; scores are means.")
@_json_option
def clustering_command(file: Path, model: str, backend: str, no_cache: bool, min_cluster_size: int | None,
                       seed: int, runs: int, as_json: bool) -> None:
    """V-measure, NMI and ARI of semplan's clustering and of k-means (told the true number of classes).

    FILE has one text a line, `text<TAB>label`, no header. Outliers count as clusters of one;
    their share is reported. Figures are means over --runs seeded runs, ± their standard deviation.

    \b
    Example:
      semplan eval clustering tests/data/clustering-sample.tsv --json
    """
    texts = evaluation.read_labelled_texts(file)
    with _encoder(model, backend, no_cache) as encoder:
        result = evaluation.evaluate_clustering(texts, encoder, min_cluster_size=min_cluster_size, seed=seed,
                                                runs=runs)
    _echo(result, as_json, file=str(file))


@command.command(name="retrieval")
@click.argument("gold", type=click.Path(path_type=Path))
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory.")
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Hits retrieved per query.")
@click.option("--queries-as", type=click.Choice(evaluation.QUERY_MODES), default="clause", show_default=True,
              help="Search gold queries with their stored clause, or encode their text as a query.")
@click.option("--no-themes", is_flag=True,
              help="Skip the priority-theme agreement (which clusters the index).")
@click.option("--lexical/--dense", default=None,
              help="Fuse BM25 over character bigrams into every search, or use vectors alone "
              "[default: whatever `semplan similar` does].")
@click.option("--seed", type=int, default=evaluation.DEFAULT_SEED, show_default=True, help="Clustering seed.")
@_json_option
def retrieval_command(gold: Path, index_dir: Path, k: int, queries_as: str, no_themes: bool,
                      lexical: bool | None, seed: int, as_json: bool) -> None:
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
        result = evaluation.evaluate_retrieval(corpus, gold_data, k=k, queries_as=queries_as,
                                               themes=not no_themes, seed=seed, lexical=lexical)
    _echo(result, as_json, gold=str(gold), index=str(index_dir))


# `semplan eval verdicts` lives in its own module (this one is near the CLI size limit).
command.add_command(verdicts_command)
