"""Options and value types shared by several commands."""

from __future__ import annotations

import math
from typing import Any

import click

index_option = click.option(
    "--index",
    "-i",
    "directory",
    required=True,
    type=click.Path(path_type=str),
    help="Index directory made by `semplan index`.",
)


class WholeNumber(click.IntRange):
    """click's IntRange, named so that `-k 1e18` reads "'1e18' is not a valid integer" (not "integer range")."""

    name = "integer"


class Score(click.FloatRange):
    """A cosine score in [-1, 1]. click's FloatRange lets `nan` through (every comparison with it is
    false), and a nan threshold keeps nothing: `--min-score nan` answered "no matching clauses"."""

    name = "number"

    def __init__(self) -> None:
        super().__init__(-1, 1)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number between -1 and 1", param, ctx)
        return number


# numpy's RandomState, which UMAP seeds, takes 0 … 2**32 - 1; anything else was a traceback.
SEED = WholeNumber(0, 2**32 - 1)
