"""The model and output options the `semplan eval` commands share."""

from __future__ import annotations

import json

import click

from semplan.backends import BACKEND_NAMES
from semplan.models import DEFAULT_MODEL


def _encoder(model: str, backend: str, no_cache: bool):
    from semplan.encode import Encoder

    return Encoder(model=model, backend=backend, cache_path=None if no_cache else "default")


def _model_options(function):
    function = click.option(
        "--no-cache", is_flag=True, help="Encode every text afresh (skip the embedding cache)."
    )(function)
    function = click.option(
        "--backend", type=click.Choice(BACKEND_NAMES), default="auto", show_default=True, help="Encoder backend."
    )(function)
    return click.option(
        "--model", "-m", default=DEFAULT_MODEL, show_default=True,
        help="Registry model name or model directory.",
    )(function)


def _json_option(function):
    return click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")(function)


def _echo(result, as_json: bool, **sources: str) -> None:
    """The figures as JSON, the input files first; else the result's text table, headed by them."""
    if as_json:
        click.echo(json.dumps({**sources, **result.to_dict()}, ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(result.lines(**sources)))
