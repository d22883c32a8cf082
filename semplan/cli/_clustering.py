"""The clustering options `semplan cluster` and `semplan report` share, and what they become."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from semplan.cli._options import SEED, Score, WholeNumber
from semplan.cluster.defaults import DEFAULT_SEED, DEFAULT_UMAP_DIMS, DEFAULT_UMAP_SAMPLE


def clustering_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The clustering parameters shared by `semplan cluster` and `semplan report`."""
    options = [
        click.option(
            "--min-cluster-size",
            type=WholeNumber(min=2),
            default=None,
            help="Fewest clauses in a priority [default: max(3, √clauses / 8 × (1 + 3 / clauses per plan))].",
        ),
        click.option(
            "--min-samples",
            type=WholeNumber(min=1),
            default=None,
            help="HDBSCAN density smoothing; higher → more outliers [default: min cluster size // 2].",
        ),
        click.option(
            "--umap-dims",
            type=WholeNumber(min=2),
            default=DEFAULT_UMAP_DIMS,
            show_default=True,
            help="Dimensions UMAP reduces the vectors to before clustering.",
        ),
        click.option(
            "--umap-sample",
            type=WholeNumber(min=100),
            default=DEFAULT_UMAP_SAMPLE,
            show_default=True,
            help="Above 1.5× this many clauses, fit UMAP on a seeded sample of this size and place the rest "
                 "beside their nearest sample clauses (`fitted: false` in the JSON).",
        ),
        click.option(
            "--seed",
            type=SEED,
            default=DEFAULT_SEED,
            show_default=True,
            help="Random seed: same seed, same priorities.",
        ),
        click.option(
            "--assign-outliers",
            is_flag=True,
            help="Put each outlier in its nearest priority when it is as close as that priority's loosest members.",
        ),
        click.option(
            "--assign-threshold",
            type=Score(),
            default=None,
            help="With --assign-outliers: a fixed cosine similarity to the priority centroid instead.",
        ),
        click.option(
            "--match-threshold",
            type=Score(),
            default=None,
            help="Count a cross-plan match at this cosine score instead of the calibrated per-clause rule.",
        ),
        click.option(
            "--label-words",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="File of words for priority labels: one a line, a stop word, or +TERM for a term to keep whole.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def clustering_arguments(options: dict[str, Any], *, map_2d: bool = True) -> dict[str, Any]:
    """The values of `clustering_options` → `find_priorities`' clusterer and options."""
    from semplan.cluster import AnalysisOptions, PriorityClusterer

    if options["assign_threshold"] is not None and not options["assign_outliers"]:
        raise click.UsageError("--assign-threshold goes with --assign-outliers")
    return {
        "clusterer": PriorityClusterer(
            min_cluster_size=options["min_cluster_size"],
            min_samples=options["min_samples"],
            umap_dims=options["umap_dims"],
            umap_sample=options.get("umap_sample", DEFAULT_UMAP_SAMPLE),  # callers that build the options by hand
            random_state=options["seed"],
        ),
        "options": AnalysisOptions(
            assign_outliers=options["assign_outliers"],
            assign_threshold=options["assign_threshold"],
            match_threshold=options["match_threshold"],
            map_2d=map_2d,
            label_words=options["label_words"],
        ),
    }
