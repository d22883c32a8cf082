"""Options shared by several commands."""

from __future__ import annotations

import click

index_option = click.option(
    "--index",
    "-i",
    "directory",
    required=True,
    type=click.Path(path_type=str),
    help="Index directory made by `semplan index`.",
)
