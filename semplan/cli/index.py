"""`semplan index`: build or update an on-disk corpus index."""

from __future__ import annotations

import click

from semplan.errors import InputError, InvalidArgument


@click.command(name="index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--out", "-o", "directory", required=True, type=click.Path(path_type=str),
              help="Index directory: created if missing, updated if it is an index already.")
@click.option("--model", "-m", default=None,
              help="Model for a new index (default: multilingual-e5-small). An existing index must match.")
@click.option("--backend", "-b", default="auto", show_default=True,
              help="Encoder backend: auto, torch, onnx, onnx-int8, openvino-int8, use.")
@click.option("--keep-going", is_flag=True,
              help="Report unreadable files and index the rest (exit status is still 1).")
@click.option("--remove", "remove_plans", multiple=True, metavar="PLAN",
              help="Remove this plan from the index. Repeatable.")
@click.option("--ann-threshold", type=click.IntRange(min=1), default=None,
              help="New index only: above this many clauses use an approximate (IVF) FAISS index. [default: 200000]")
def command(paths, directory, model, backend, keep_going, remove_plans, ann_threshold):
    """Read, segment and encode plans into an index directory (SQLite + FAISS + manifest.json).

    PATH is a plan file (.txt, .docx, .html, .pdf) or a directory of them; the plan id is
    the file stem. Re-running is incremental: unchanged files are skipped, a changed file
    replaces its plan's clauses, and only clause texts not yet in the index are encoded.
    A run that is interrupted leaves the index as it was before.

    \b
    Example:
      semplan index semplan/data/sample_plans --out out/index
      semplan index new-plans/2024.docx --out out/index
      semplan index --remove city-2019 --out out/index
    """
    from semplan.ingest import update_index

    if not paths and not remove_plans:
        raise click.UsageError("give plan files or directories to index, or --remove PLAN")

    def warn(path: str, error: Exception) -> None:
        click.echo(f"Error: {error}", err=True)

    try:
        update = update_index(directory, paths, remove=remove_plans, model=model, backend=backend,
                              ann_threshold=ann_threshold, keep_going=keep_going, on_error=warn)
    except InvalidArgument as error:  # an option that does not fit this index: a usage error, exit 2
        raise click.UsageError(str(error)) from None
    if update.removed:
        click.echo(f"{directory}: removed {', '.join(update.removed)}", err=True)
    if update.added is not None:
        click.echo(f"{directory}: {update.added.summary()}", err=True)
        if update.added.failed:
            raise InputError(f"{len(update.added.failed)} input(s) could not be indexed: "
                             + ", ".join(path for path, _ in update.added.failed))
    click.echo(f"{directory}: {update.counts['plans']} plans, {update.counts['clauses']} clauses "
               f"({update.faiss_kind} FAISS index, model {update.model})", err=True)
