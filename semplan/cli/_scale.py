"""The options `semplan index` takes to run on Ray, and to read its plans from a manifest file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from semplan.cli._options import WholeNumber


def engine_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--engine, the --ray-* options and --manifest."""
    options = [
        click.option("--manifest", type=click.Path(path_type=str, dir_okay=False), default=None,
                     help="CSV listing the plans: a `path` column (relative to the CSV's folder), optionally `plan` "
                          "(its id) and metadata columns (title, issuer, region, body, level, year, doc_type)."),
        click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="local: this process. ray: read, segment and encode on a Ray cluster (pip install "
                          "'semplan[ray]'), then build the same index from its Parquet shards."),
        click.option("--ray-address", default=None, metavar="ADDR",
                     help="With --engine ray: an existing cluster (auto, HOST:6379, ray://HOST:10001) "
                          "[default: start a local one for this run]."),
        click.option("--ray-concurrency", type=WholeNumber(min=1), default=None, metavar="N",
                     help="With --engine ray: encoding actors, each loading the model once [default: one per CPU, "
                          "or per GPU]."),
        click.option("--ray-batch-size", type=WholeNumber(min=1), default=None, metavar="N",
                     help="With --engine ray: plans an actor encodes per call [default: 4]."),
        click.option("--ray-shards", type=click.Path(path_type=str, file_okay=False), default=None, metavar="DIR",
                     help="With --engine ray: write the Parquet shards here and keep them (a directory every node "
                          "can write to) [default: a scratch directory beside the index, removed after]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def engine_arguments(values: dict[str, Any], paths: tuple[str, ...], plan_ids: tuple[str, ...]) -> dict[str, Any]:
    """`update_index` keywords from `engine_options`' values (popped from `values`): the indexer,
    and with --manifest the paths, plan ids and the manifest's metadata."""
    manifest, engine = values.pop("manifest"), values.pop("engine")
    ray = {name: values.pop(f"ray_{name}") for name in ("address", "concurrency", "batch_size", "shards")}
    arguments: dict[str, Any] = {}
    if engine == "local" and any(value is not None for value in ray.values()):
        raise click.UsageError("the --ray-* options go with --engine ray")
    if engine == "ray":
        from semplan.scale import ray_indexer, ray_options

        arguments["indexer"] = ray_indexer(ray_options(
            address=ray["address"], concurrency=ray["concurrency"], plans_per_batch=ray["batch_size"],
            shards=ray["shards"],
        ))
    if manifest is not None:
        from semplan.metadata import read_manifest

        if paths or plan_ids:
            raise click.UsageError("give plan files as PATHs or in --manifest, not both")
        listed = read_manifest(manifest)
        arguments.update(paths=[str(path) for path in listed.paths], plan_ids=listed.plan_ids, manifest=listed.by_plan)
    return arguments
